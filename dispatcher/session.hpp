#pragma once
// The front tier's data path for one client connection: accept-proxy (when the bind asks for
// it), the choice of a worker by the backend's balancer, the connect with retries and
// redispatch, the PROXY header towards the worker (send-proxy / send-proxy-v2), then the
// relay. The same path serves any plain TCP frontend, in either tier.

#include "common/address.hpp"
#include "common/net/asio.hpp"
#include "common/net/listener.hpp"
#include "common/net/runtime.hpp"

namespace tierlb::dispatcher {

struct Accepted {
    int fd = -1;         // non-blocking, owned by the session from here on
    SocketAddress peer;  // from accept()
    net::ConnectionSlot slot;
    net::ListenerRuntime* listener = nullptr;
    net::Clock::time_point at;
};

net::Task<void> run_session(net::ProcessState& process, Accepted accepted);

}  // namespace tierlb::dispatcher
