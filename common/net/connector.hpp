#pragma once
// Connects a session to a server of its backend, HAProxy's way: the balancer chooses (or the
// connection waits in the queue), the connect is bounded by `timeout connect`, and a failure
// is retried up to `retries` times. With `option redispatch` every retry goes at once to
// another server when one can take it (REFERENCE.md: the client sees no failure while any
// server is up); without it, the same server is retried after min(timeout connect, 1 s).

#include <optional>

#include "common/net/asio.hpp"
#include "common/net/session_record.hpp"

namespace tierlb::net {

// The connected socket, with RECORD counted on its server; or nullopt once RECORD has been
// failed and logged ("SC" refused, "sC" timeout, "sQ"/"PQ" queue).
Task<std::optional<Socket>> connect_to_backend(SessionRecord& record,
                                               std::optional<std::uint32_t> source_hash);

struct ConnectOutcome {
    std::optional<Socket> socket;
    bool timed_out = false;
    std::string error;
};

// One connect attempt, used by connect_to_backend and by health checks.
Task<ConnectOutcome> connect_once(const SocketAddress& address,
                                  std::optional<Clock::duration> timeout);

}  // namespace tierlb::net
