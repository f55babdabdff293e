#pragma once
// The worker's side of hand-off mode (INTERFACE.md section 6): the control connections that
// dispatchers open to an `accept-handoff` bind (SOCK_SEQPACKET).
//
// Each control connection is checked first: its peer must run as this process's user, as the
// bind's `user`/`group`, or as root (SO_PEERCRED, net::AllowedPeers); anything else is refused
// and logged, so a foreign process that can reach the abstract name cannot hand this worker
// anything. Then each client socket it brings (with its hand_off message) becomes a session
// exactly as if accepted here, TLS included, with the socket's own addresses; the dispatcher
// is told it was taken, and told again when the session ends. Checks are answered at once,
// from the event loop: a hung worker answers none.

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/net/asio.hpp"
#include "common/net/peer_credentials.hpp"
#include "common/net/runtime.hpp"
#include "common/net/session_flow.hpp"

namespace tierlb::worker {

// Starts a session for a socket a dispatcher handed over (on the thread of its choice).
using StartSession = std::function<void(net::Accepted)>;

class ControlConnection;

// The control connections of one process, so that a soft stop can close them: the
// dispatchers then stop handing it sockets (and, after a reload, reconnect to the new worker
// that took over the listening socket).
class ControlConnections {
public:
    void add(const std::shared_ptr<ControlConnection>& connection);
    void close_all();

private:
    std::mutex mutex_;  // listeners on several threads add, the main thread closes
    std::vector<std::weak_ptr<ControlConnection>> open_;
};

// Takes FD, a control connection just accepted on LISTENER's bind; it lives as long as the
// dispatcher keeps it open and its sessions run.
void open_control_connection(net::Executor executor, int fd, net::ProcessState& process,
                             net::ListenerRuntime& listener, const net::AllowedPeers& allowed,
                             ControlConnections& registry, StartSession start_session);

}  // namespace tierlb::worker
