#pragma once
// The worker's data path for one connection on an `ssl` bind: the common session flow
// (common/net/session_flow.hpp) with a TLS handshake after the PROXY header, bounded by
// `timeout client-hs` (else `timeout client`). A failed handshake is closed, counted and
// logged with OpenSSL's reason; the rest of the process is not concerned.

#include "common/net/session_flow.hpp"
#include "worker/tls_context.hpp"

namespace tierlb::worker {

net::Task<void> run_tls_session(net::ProcessState& process, net::Accepted accepted,
                                const BindTls& tls);

}  // namespace tierlb::worker
