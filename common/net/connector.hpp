#pragma once
// Connects a session to a server of its backend, HAProxy's way: the balancer chooses (or the
// connection waits in the queue), the connect is bounded by `timeout connect`, and a failure
// is retried up to `retries` times. With `option redispatch` every retry goes at once to
// another server when one can take it (REFERENCE.md: the client sees no failure while any
// server is up); without it, the same server is retried after min(timeout connect, 1 s).

#include <optional>
#include <string>

#include "common/net/asio.hpp"
#include "common/net/session_record.hpp"
#include "common/net/stream_end.hpp"

namespace tierlb::net {

// Connects SERVER (an unattached end) for RECORD, which is counted on the server chosen; the
// first choice avoids AVOID when another server can take the connection. A hand-off server
// is chosen and counted, not connected: SERVER stays unattached.
// False once RECORD has been failed and logged ("SC" refused, "sC" timeout, "sQ"/"PQ" queue,
// "RC" no descriptor for the connection: it waits for one as long as it would wait in the
// queue, while RECORD's listener pauses accepting).
Task<bool> connect_to_backend(SessionRecord& record, std::optional<std::uint32_t> source_hash,
                              PlainEnd& server, std::size_t avoid = balance::no_server);

struct ConnectOutcome {
    bool connected = false;
    bool timed_out = false;
    // No socket: this process is out of descriptors or memory. Not the server's fault, and
    // another server would fail the same way.
    bool out_of_resources = false;
    std::string error;
};

// One connect attempt on END (attached to a new socket, detached again on failure). A unix
// socket answers at once; a TCP connect in progress is waited for, bounded by TIMEOUT. Used
// by connect_to_backend and by health checks.
Task<ConnectOutcome> connect_once(const SocketAddress& address,
                                  std::optional<Clock::duration> timeout, PlainEnd& end);

}  // namespace tierlb::net
