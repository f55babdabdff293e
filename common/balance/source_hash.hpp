#pragma once
// The client hash of `balance source`, as HAProxy 2.6's get_server_sh with the default
// map-based hash type (no avalanche): the client's IP address, not its port, read as
// big-endian 32-bit words XORed together. An IPv4 address is its own 32-bit value; an
// IPv6 one folds its four words, so an IPv4-mapped ::ffff:a.b.c.d does not hash like a.b.c.d
// (as in HAProxy). A unix-socket client has no IP: no hash, and the balancer falls back to
// round robin, as HAProxy's assign_server does.
//
// With a PROXY header, pass the header's source address, not the socket's.

#include <cstdint>
#include <optional>

#include "common/address.hpp"

namespace tierlb::balance {

std::optional<std::uint32_t> source_hash(const SocketAddress& client);

}  // namespace tierlb::balance
