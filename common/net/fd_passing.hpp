#pragma once
// One datagram on a SOCK_SEQPACKET unix socket, with at most one file descriptor attached
// (SCM_RIGHTS): hand-off mode's control connection. A datagram arrives whole with its
// descriptor, or is reported truncated (it, or the descriptor, did not fit), in which case the
// descriptor that did arrive is closed: the caller treats the connection as broken.

#include <cstddef>
#include <cstdint>
#include <span>

namespace tierlb::net {

// 0, or errno: EAGAIN (the peer's queue is full), ETOOMANYREFS (too many descriptors in
// flight from this process), EPIPE/ECONNRESET (the peer is gone), ...
int send_datagram(int socket, std::span<const std::uint8_t> datagram, int fd = -1);

struct ReceivedDatagram {
    enum class Status { message, would_block, ended, failed };
    Status status = Status::failed;
    std::size_t size = 0;
    int fd = -1;             // close-on-exec; the caller owns it
    bool truncated = false;  // message or descriptor cut short (MSG_TRUNC, MSG_CTRUNC)
    int error = 0;           // with failed
};

ReceivedDatagram receive_datagram(int socket, std::span<std::uint8_t> buffer);

}  // namespace tierlb::net
