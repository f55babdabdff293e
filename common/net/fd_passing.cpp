#include "common/net/fd_passing.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tierlb::net {

int send_datagram(int socket, std::span<const std::uint8_t> datagram, int fd) {
    iovec io{const_cast<std::uint8_t*>(datagram.data()), datagram.size()};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
        message.msg_control = control;
        message.msg_controllen = sizeof(control);
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(header), &fd, sizeof(int));
    }
    while (true) {
        const ssize_t n = ::sendmsg(socket, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            return 0;
        }
        if (errno != EINTR) {
            return errno;
        }
    }
}

ReceivedDatagram receive_datagram(int socket, std::span<std::uint8_t> buffer) {
    iovec io{buffer.data(), buffer.size()};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    // Room for one descriptor; a peer that sends more gets MSG_CTRUNC, and what did fit is
    // closed below.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    ReceivedDatagram r;
    ssize_t n;
    do {
        n = ::recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        r.status = errno == EAGAIN || errno == EWOULDBLOCK ? ReceivedDatagram::Status::would_block
                                                           : ReceivedDatagram::Status::failed;
        r.error = errno;
        return r;
    }
    if (n == 0 && message.msg_controllen == 0) {
        r.status = ReceivedDatagram::Status::ended;
        return r;
    }
    r.status = ReceivedDatagram::Status::message;
    r.size = static_cast<std::size_t>(n);
    for (cmsghdr* h = CMSG_FIRSTHDR(&message); h != nullptr; h = CMSG_NXTHDR(&message, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        const std::size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
            if (r.fd < 0) {
                r.fd = fd;
            } else {
                ::close(fd);  // more than one: a peer that does not follow the protocol
                r.truncated = true;
            }
        }
    }
    if ((message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
        r.truncated = true;
    }
    if (r.truncated && r.fd >= 0) {
        ::close(r.fd);
        r.fd = -1;
    }
    return r;
}

}  // namespace tierlb::net
