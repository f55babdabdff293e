#pragma once
// What the tunnel tests share: socket pairs, a record that keeps the outcome, and ways to run
// the io_context until the tunnel reports.

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "common/net/tunnel.hpp"

namespace tunnel_fixture {

using namespace tierlb::net;

struct Outcome {
    int finished = 0;
    TunnelResult result;
    std::uint64_t counted_to_server = 0;
    std::uint64_t counted_to_client = 0;
};

// Stands for the session record: counts bytes and keeps the result.
struct FakeRecord {
    std::shared_ptr<Outcome> outcome;
    void on_bytes(Direction d, std::size_t n) {
        (d == Direction::to_server ? outcome->counted_to_server : outcome->counted_to_client) += n;
    }
    void finish(const TunnelResult& r) {
        ++outcome->finished;
        outcome->result = r;
    }
};

struct Pair {
    int outside;  // the test's end
    int inside;   // the proxy's end
};

inline Pair socket_pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    return {fds[0], fds[1]};
}

// Runs IO until the tunnel reports, at most a few seconds.
inline void run_until_finished(asio::io_context& io, const Outcome& o) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (o.finished == 0 && std::chrono::steady_clock::now() < deadline) {
        io.run_for(std::chrono::milliseconds(20));
        io.restart();
    }
    // A finished tunnel deletes itself on a later turn (after its cancelled waits complete):
    // run what is ready until nothing is, or the test ends with it undeleted (a leak to LSan).
    while (io.poll() != 0) {
        io.restart();
    }
    io.restart();
}

inline void blocking(int fd) {
    int one = 0;
    ::ioctl(fd, FIONBIO, &one);
}

inline std::string read_all(int fd) {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace tunnel_fixture
