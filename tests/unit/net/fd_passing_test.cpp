// Datagrams with a descriptor attached, on a SOCK_SEQPACKET pair: the descriptor arrives with
// its message and works; a message cut short, or a peer that attaches two descriptors, is
// reported as truncated and leaves no descriptor open behind.

#include "common/net/fd_passing.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>
#include <catch2/catch.hpp>
#include <cstring>
#include <string>

using namespace tierlb::net;

namespace {

struct SeqPair {
    int a = -1, b = -1;
    SeqPair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        a = fds[0];
        b = fds[1];
    }
    ~SeqPair() {
        ::close(a);
        ::close(b);
    }
};

int open_descriptors() {
    int count = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d) != nullptr) {
            ++count;
        }
        ::closedir(d);
    }
    return count;
}

std::span<const std::uint8_t> bytes_of(const char* text) {
    return {reinterpret_cast<const std::uint8_t*>(text), std::strlen(text)};
}

}  // namespace

TEST_CASE("fd passing: the descriptor arrives with its message and works", "[net][handoff]") {
    SeqPair control;
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    REQUIRE(send_datagram(control.a, bytes_of("take this"), pipe_fds[1]) == 0);
    ::close(pipe_fds[1]);  // the receiver's copy keeps the pipe open
    std::uint8_t buffer[64];
    const ReceivedDatagram r = receive_datagram(control.b, buffer);
    REQUIRE(r.status == ReceivedDatagram::Status::message);
    CHECK(std::string(reinterpret_cast<char*>(buffer), r.size) == "take this");
    CHECK_FALSE(r.truncated);
    REQUIRE(r.fd >= 0);
    CHECK((::fcntl(r.fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(::write(r.fd, "x", 1) == 1);
    char c = 0;
    CHECK(::read(pipe_fds[0], &c, 1) == 1);
    CHECK(c == 'x');
    ::close(r.fd);
    ::close(pipe_fds[0]);
    // Nothing more: would block; then the peer's end.
    CHECK(receive_datagram(control.b, buffer).status == ReceivedDatagram::Status::would_block);
}

TEST_CASE("fd passing: a message without a descriptor, and the end", "[net][handoff]") {
    auto* control = new SeqPair;
    REQUIRE(send_datagram(control->a, bytes_of("plain")) == 0);
    std::uint8_t buffer[64];
    const ReceivedDatagram r = receive_datagram(control->b, buffer);
    CHECK(r.status == ReceivedDatagram::Status::message);
    CHECK(r.fd == -1);
    ::shutdown(control->a, SHUT_WR);
    CHECK(receive_datagram(control->b, buffer).status == ReceivedDatagram::Status::ended);
    delete control;
}

TEST_CASE("fd passing: a message cut short leaves no descriptor open", "[net][handoff]") {
    SeqPair control;
    const int before = open_descriptors();
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    REQUIRE(send_datagram(control.a, bytes_of("a message longer than the buffer"), pipe_fds[0]) ==
            0);
    std::uint8_t small[8];
    const ReceivedDatagram r = receive_datagram(control.b, small);
    CHECK(r.status == ReceivedDatagram::Status::message);
    CHECK(r.truncated);
    CHECK(r.fd == -1);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    CHECK(open_descriptors() == before);
}

TEST_CASE("fd passing: two descriptors in one message are refused, both closed", "[net][handoff]") {
    SeqPair control;
    const int before = open_descriptors();
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    // A peer that does not follow the protocol: two descriptors at once.
    char data[] = "two";
    iovec io{data, 3};
    alignas(cmsghdr) char space[CMSG_SPACE(2 * sizeof(int))] = {};
    msghdr m{};
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = space;
    m.msg_controllen = sizeof(space);
    cmsghdr* h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(2 * sizeof(int));
    std::memcpy(CMSG_DATA(h), pipe_fds, 2 * sizeof(int));
    REQUIRE(::sendmsg(control.a, &m, 0) == 3);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    std::uint8_t buffer[64];
    const ReceivedDatagram r = receive_datagram(control.b, buffer);
    CHECK(r.status == ReceivedDatagram::Status::message);
    CHECK(r.truncated);
    CHECK(r.fd == -1);
    CHECK(open_descriptors() == before);
}
