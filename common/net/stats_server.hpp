#pragma once
// The stats socket server: accepts on a socket the process already listens on (unix, abns or
// TCP; opened with open_listener) and runs one coroutine per client, HAProxy's way: read a
// command, answer, and close once the request is consumed, or keep going in interactive mode
// (`prompt`) until `quit`, end of input or `stats timeout` without a command.
//
// Whatever a client does costs it at most its own connection: a command longer than
// max_command closes it, every read and every write is bounded by the timeout, answers of any
// size are written asynchronously, and at most max_clients are served at once (HAProxy's
// `stats maxconn` default); the others wait in the listen backlog (service_listener.hpp).
//
// Runs on one executor; start() and stop() may be called from any thread, the destructor
// stops. The server owns the listening descriptor from construction (closed by stop()). It
// must be destroyed before its io_context; RUNTIME must outlive the io_context's last run.

#include <chrono>
#include <cstdint>
#include <memory>

#include "common/net/asio.hpp"
#include "common/net/runtime.hpp"
#include "common/net/service_listener.hpp"
#include "common/net/stats_csv.hpp"
#include "config/model.hpp"

namespace tierlb::net {

class StatsServer {
public:
    static constexpr std::size_t max_command = 16 * 1024;
    static constexpr unsigned max_clients = 10;

    // Throws std::system_error when LISTENING_FD is not a socket the runtime can accept on.
    StatsServer(Executor executor, int listening_fd, config::StatsLevel level,
                std::chrono::milliseconds timeout, ProcessRuntime& runtime);
    ~StatsServer();
    StatsServer(const StatsServer&) = delete;
    StatsServer& operator=(const StatsServer&) = delete;

    // Health-check columns for show stat and show servers state; call before start().
    void set_checks(CheckLookup checks);

    void start();
    // Stops accepting and closes every client; coroutines end on their own right after.
    void stop();

    // Clients served now and since start, for show info.
    unsigned connections() const;
    std::uint64_t total_connections() const;

private:
    struct Shared;
    static Task<void> serve(std::shared_ptr<const Shared> shared, Socket& socket,
                            const ClientCounts& counts);

    std::shared_ptr<Shared> shared_;
    std::unique_ptr<ServiceListener> listener_;
};

}  // namespace tierlb::net
