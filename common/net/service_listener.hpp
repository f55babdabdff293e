#pragma once
// The listening side of the process's small services, the stats socket and the stats page:
// accepts on a socket the process already listens on and runs one coroutine per client, with
// at most max_clients at once (the others wait in the listen backlog). Out of the data path:
// a client costs at most its own connection, and the accept loop survives every error (out of
// descriptors: pause, log once, resume).
//
// Also the bounded reads and writes such a client is served with: every wait is limited, so a
// silent or slow client is dropped after its timeout.
//
// Runs on one executor; start() and stop() may be called from any thread, the destructor
// stops. Owns the listening descriptor from construction (closed by stop()). Must be
// destroyed before its io_context.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/net/asio.hpp"
#include "common/net/counters.hpp"

namespace tierlb::net {

// Clients served now and since start (HAProxy counts its CLI clients in show info).
struct ClientCounts {
    std::atomic<unsigned> active{0};
    Counter total{0};
};

class ServiceListener {
public:
    // Serves one client until it is done; the socket is closed afterwards. COUNTS are the
    // listener's own and live as long as the coroutine.
    using Serve = std::function<Task<void>(Socket& socket, const ClientCounts& counts)>;

    // WHAT names the service in logs ("stats socket"). Throws std::system_error when
    // LISTENING_FD is not a socket it can accept on (the descriptor is closed then).
    ServiceListener(Executor executor, int listening_fd, std::string what, unsigned max_clients,
                    Serve serve);
    ~ServiceListener();
    ServiceListener(const ServiceListener&) = delete;
    ServiceListener& operator=(const ServiceListener&) = delete;

    void start();
    // Stops accepting and closes every client; their coroutines end on their own right after.
    void stop();

    const ClientCounts& counts() const;

private:
    struct State;
    std::shared_ptr<State> state_;
};

// Some bytes into BUFFER; nullopt at end of input, on error and after TIMEOUT without data.
Task<std::optional<std::size_t>> read_some(Socket& socket, asio::mutable_buffer buffer,
                                           Clock::duration timeout);

// All of DATA, failing when the client takes no byte for TIMEOUT: a large answer to a slow
// but live reader goes through.
Task<bool> write_all(Socket& socket, std::string_view data, Clock::duration timeout);

// Sends FIN after the answer, then reads what the client still sends for a moment (at most a
// second and 64 KB): closing with unread input would reset the connection and could lose the
// end of the answer.
Task<void> close_gracefully(Socket& socket, Clock::duration timeout);

}  // namespace tierlb::net
