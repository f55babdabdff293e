#pragma once
// The front tier's data path for one client connection: the common session flow
// (common/net/session_flow.hpp) on a plain socket: accept-proxy when the bind asks for it,
// the choice of a worker, the connect with retries and redispatch, the PROXY header towards
// the worker (send-proxy / send-proxy-v2), then the relay. Any plain TCP frontend, in either
// tier, runs this.

#include "common/net/asio.hpp"
#include "common/net/session_flow.hpp"

namespace tierlb::dispatcher {

net::Task<void> run_session(net::ProcessState& process, net::Accepted accepted);

}  // namespace tierlb::dispatcher
