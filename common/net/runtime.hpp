#pragma once
// What a process runs, built once from the configuration: its frontends (with their
// listeners) and backends (with their servers), and the process-wide state they share. The
// stats code reads it; sessions update it.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/log/log_sink.hpp"
#include "common/log/throttle.hpp"
#include "common/net/backend.hpp"
#include "common/net/counters.hpp"
#include "common/net/limits.hpp"
#include "common/net/listener.hpp"
#include "common/net/nohop_member.hpp"
#include "common/net/peer_credentials.hpp"
#include "config/model.hpp"

namespace tierlb::net {

struct ProcessState {
    int number = 1;  // the configuration's process number
    config::ConfigurationPtr config;
    Gate connections;  // global maxconn ("CurrConns")
    Counter total_connections{0};
    Counter max_connections{0};
    PausedListeners paused;
    std::atomic<bool> stopping{false};  // soft stop under way
    Counter tls_current{0};             // connections with a TLS session established now
    Counter tls_total{0};
    // show info's ConnRate, SessRate, SslRate and SslFrontendKeyRate (full handshakes).
    EventRate connection_rate;
    EventRate session_rate;
    EventRate tls_rate;
    EventRate tls_key_rate;
    Clock::time_point started = Clock::now();
    std::chrono::system_clock::time_point started_wall = std::chrono::system_clock::now();
    log::LogSinks global_logs;
};

struct FrontendCounters {
    TrafficCounters traffic;
    Counter request_errors{0};  // ereq: bad PROXY headers
    Counter denied{0};          // dreq: requests denied (no content rules here: 0)
    // dcon: connections refused at accept for their peer's credentials (SO_PEERCRED), HAProxy's
    // "denied by tcp-request connection rules": a PROXY header's or a hand-off's sender.
    Counter denied_connections{0};
    Counter tls_handshakes{0};  // completed, resumed ones included
    Counter tls_resumed{0};
    Counter tls_failed_handshakes{0};  // ssl_failed_handshake
};

struct FrontendRuntime {
    const config::Proxy* config = nullptr;
    FrontendCounters stats;
    Gate connections;                   // the section's maxconn
    std::atomic<bool> stopped{false};   // soft stop: no longer accepting (status STOP)
    BackendRuntime* backend = nullptr;  // where its connections go (null: none)
    log::LogSinks logs;
};

struct ListenerRuntime {
    const config::Bind* config = nullptr;
    std::uint32_t index = 0;  // in ProcessRuntime::listeners: names it in hand-off messages
    FrontendRuntime* frontend = nullptr;
    FrontendCounters stats;
    Gate connections;     // the bind's maxconn
    std::string name;     // "dispatcher/:1234" for logs, or the bind's "name"
    SocketAddress bound;  // the address really bound (port 0 resolved)
    // accept-proxy on a unix socket: who may send a PROXY header (anyone else could forge
    // the client addresses). Unset on TCP binds, whose peers are the clients themselves.
    std::optional<AllowedPeers> trusted_peers;
    // Those refusals, logged one line per 10 s with the count of the others: a local process
    // may connect in a loop.
    log::Throttle refusals{std::chrono::seconds(10)};
    std::unique_ptr<Listener> listener;
    // accept-balance leastconn: the eBPF group's slot of this process, or why the listener
    // runs on plain SO_REUSEPORT instead (show info).
    std::unique_ptr<NohopMember> nohop;
    std::string nohop_fallback;
};

// The gates a connection accepted on LISTENER entered.
inline AcceptGates gates_of(ProcessState& process, ListenerRuntime& listener) {
    return {&process.connections, &listener.frontend->connections, &listener.connections,
            &process.paused, listener.nohop.get()};
}

// Everything one process serves; the order is the configuration's.
struct ProcessRuntime {
    ProcessState state;
    std::vector<std::unique_ptr<FrontendRuntime>> frontends;
    std::vector<std::unique_ptr<BackendRuntime>> backends;
    std::vector<std::unique_ptr<ListenerRuntime>> listeners;

    BackendRuntime* find_backend(std::string_view name) const;
};

}  // namespace tierlb::net
