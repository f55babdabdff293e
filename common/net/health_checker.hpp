#pragma once
// Health checks of one backend's servers in one process, HAProxy's way (REFERENCE.md):
//   - an L4 check connects to the server, bounded by `timeout check` (with `timeout connect`)
//     or by `inter`, and sends the PROXY header of the server line (v1: "PROXY UNKNOWN", v2: a
//     LOCAL header) or with check-send-proxy; L4OK, L4TOUT, L4CON (with the system's reason);
//   - check-ssl then does a TLS handshake: L6OK, L6TOUT, L6RSP. This is what catches a hung
//     worker: the kernel completes a unix-socket connect into the backlog of a stopped process;
//   - a hand-off server is asked over its control connection instead (ServerProbe);
//   - the rise/fall state machine (common/health) decides UP and DOWN; intervals are inter,
//     fastinter, downinter; the first checks are spread over the first interval;
//   - a server in maintenance is not checked;
//   - the master may say that a server's process died: DOWN at once (mark_process_down), then
//     back UP through `rise` good checks (or at once for a server without checks).
// Every change is logged as HAProxy logs it, on stderr and to the backend's log targets.

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/health/check_state.hpp"
#include "common/log/log_sink.hpp"
#include "common/log/throttle.hpp"
#include "common/net/asio.hpp"
#include "common/net/backend.hpp"
#include "common/net/poller.hpp"

namespace tierlb::net {

// A server checked otherwise than by connecting to it: a hand-off worker answers a request
// on its control connection (dispatcher/handoff_channel.hpp).
class ServerProbe {
public:
    virtual ~ServerProbe() = default;
    // One check, bounded by LIMIT: L7OK, L7TOUT, or L4CON without a connection.
    virtual Task<health::CheckOutcome> probe(Clock::duration limit) = 0;
};

class HealthChecker {
public:
    HealthChecker(Executor executor, BackendRuntime& backend, log::LogSinks logs);
    ~HealthChecker();
    HealthChecker(const HealthChecker&) = delete;
    HealthChecker& operator=(const HealthChecker&) = delete;

    // Starts the checks of every server with `check`; returns an error (a CA file that does
    // not load) before starting anything.
    std::optional<std::string> start();
    void stop();

    // The check state of SERVER, for `show stat` (same thread as the checks).
    std::optional<health::CheckState> state(std::size_t server) const;

    // SERVER is checked through PROBE from now on (before start()).
    void set_probe(std::size_t server, ServerProbe* probe) { servers_[server].probe = probe; }

    // The process serving SERVER is gone (REASON says how) / is back and ready.
    void mark_process_down(std::size_t server, const std::string& reason);
    void mark_process_up(std::size_t server);

    BackendRuntime& backend() { return backend_; }

private:
    struct SslCtxFree {
        void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
    };
    struct Server {
        std::optional<health::CheckState> state;   // only with `check`
        std::unique_ptr<SSL_CTX, SslCtxFree> tls;  // check-ssl's client context
        std::unique_ptr<Timer> timer;
        ServerProbe* probe = nullptr;
        bool in_maintenance = false;
    };

    Task<void> run(std::size_t server, Clock::duration first_delay);
    Task<health::CheckOutcome> check_once(std::size_t server);
    Task<health::CheckOutcome> tls_step(std::size_t server, int fd, PollWatch& watch,
                                        Clock::time_point deadline, Clock::time_point started);
    void apply(std::size_t server, const health::CheckEvent& event);
    void log_local_error(std::size_t server, const health::CheckOutcome& outcome);
    void log_lines(std::size_t server, const health::CheckEvent& event);
    bool follow_admin_state(std::size_t server);

    Executor executor_;
    BackendRuntime& backend_;
    log::LogSinks logs_;
    log::Throttle local_errors_{std::chrono::seconds(10)};
    std::vector<Server> servers_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tierlb::net
