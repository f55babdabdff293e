#pragma once
// Which process holds a unix socket address, for the message of a bind that failed with
// EADDRINUSE: an abstract name squatted before start-up is a start-up error (exit 2), and the
// operator needs to know whom to look at.
//
// /proc/net/unix lists the inode of each socket with its address (an abstract name as "@"
// then the name, every NUL shown as "@"); /proc/PID/fd/* links to "socket:[INODE]" name the
// processes holding it. Best effort: without root another user's descriptors are unreadable,
// and the holder may be gone by the time we look.

#include <optional>
#include <string>

#include "common/address.hpp"

namespace tierlb::net {

// "pid 4242 (python3)" for the first process found holding a socket bound to ADDRESS (a unix
// or abstract one), none when it cannot be told.
std::optional<std::string> holder_of(const SocketAddress& address);

}  // namespace tierlb::net
