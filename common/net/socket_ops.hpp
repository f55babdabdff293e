#pragma once
// Thin wrappers over the socket system calls the runtime makes itself (listening sockets are
// opened before any io_context exists, possibly by the master).

#include <sys/types.h>

#include <optional>
#include <string>

#include "common/address.hpp"
#include "common/expected.hpp"

namespace tierlb::net {

struct ListenOptions {
    int backlog = 1024;
    bool reuse_port = false;  // several processes share one TCP address (process N-M)
    int type = SOCK_STREAM;   // or SOCK_SEQPACKET (unix only: hand-off control connections)
    // A unix path held by a live socket is taken over rather than refused (a reloaded
    // process's stats socket): bound beside it, then renamed over it.
    bool take_over = false;
    std::optional<mode_t> mode;
    std::optional<uid_t> owner;
    std::optional<gid_t> group;
};

// socket + bind + listen, non-blocking and close-on-exec. The error names the cause, e.g.
// "abns@p2 is already held by another process" or "127.0.0.1:80: Permission denied".
// A stale unix socket file (nobody listening) is replaced; a live one is an error.
Expected<int> open_listener(const SocketAddress& address, const ListenOptions& options);

// The address a socket is bound to / connected to.
SocketAddress local_address(int fd);
SocketAddress peer_address(int fd);

// A TCP address that is the local address of every connection accepted on it: one host
// address and a port, not 0.0.0.0 or :: (any) nor port 0.
bool is_specific(const SocketAddress& address);

void set_nodelay(int fd);

// HAProxy's "defer-accept": a TCP listener's connections come out of accept() only once the
// client has sent something (or, if it stays silent, after about a second: the kernel's
// SYN-ACK retransmission, as HAProxy sets it). Off undoes it on a listener kept across a
// reload. Returns errno, 0 on success.
int set_defer_accept(int fd, bool on);

void set_keepalive(int fd);

// "Connection refused" for ECONNREFUSED: strerror that is safe across threads.
std::string errno_text(int error);

}  // namespace tierlb::net
