#pragma once
// Steps every session takes whatever its tier: how long to wait for a client's first bytes,
// the relay's timeouts, and the PROXY header sent to a server.

#include <optional>
#include <string>
#include <string_view>

#include "common/net/asio.hpp"
#include "common/net/stream_end.hpp"

#include "common/net/tunnel.hpp"
#include "common/proxy_protocol/encode.hpp"
#include "config/model.hpp"

namespace tierlb::net {

// The wait for a PROXY header or a TLS handshake: `timeout client-hs`, else `timeout client`,
// else 10 s (REFERENCE.md asks at least 3 s; never wait for ever).
Clock::duration handshake_timeout(const config::Proxy& frontend);

// HAProxy refreshes both sides' timeouts on any transfer, so a tunnel ends after
// `timeout tunnel` without traffic, else after the shorter of client and server; once one
// side has ended its stream, after the other side's `timeout server-fin` / `client-fin`.
TunnelTimeouts tunnel_timeouts(const config::Proxy& frontend, const config::Proxy& backend);

// The header a server line asks for ("" for none), carrying the client's addresses: a v1
// line, or a v2 header with the TLS facts of EXTRAS (send-proxy-v2-ssl).
std::string proxy_header_for(const config::Server& server, const SocketAddress& client,
                             const SocketAddress& local,
                             const proxy_protocol::V2Extras& extras = {});

// Writes TEXT on a fresh connection: one send() in practice (a new socket's buffer is empty),
// waiting (up to TIMEOUT) only if the kernel takes less. False when the connection failed.
Task<bool> send_all(PlainEnd& end, std::string_view text, Clock::duration timeout);

}  // namespace tierlb::net
