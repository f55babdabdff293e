// Who may send a PROXY header to a unix bind or hand it sockets: this process's user, root,
// and the bind's user and group; and the credentials the kernel gives for a connected peer.

#include "common/net/peer_credentials.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

using namespace tierlb::net;

TEST_CASE("allowed peers: root, this user, the bind's user and group", "[net][trust]") {
    struct Case {
        const char* what;
        std::optional<uid_t> bind_uid;
        std::optional<gid_t> bind_gid;
        uid_t peer_uid;
        gid_t peer_gid;
        bool allowed;
    };
    auto c = GENERATE(values<Case>({
        {"root", {}, {}, 0, 0, true},
        {"this process's user", {}, {}, 1000, 1000, true},
        {"another user", {}, {}, 65534, 65534, false},
        {"another user in this user's group", {}, {}, 65534, 1000, false},
        {"the bind's user", 65534, {}, 65534, 65534, true},
        {"the bind's group", {}, 1001, 1002, 1001, true},
        {"neither the bind's user nor its group", 1003, 1004, 65534, 65534, false},
    }));
    CAPTURE(c.what);
    AllowedPeers allowed;
    allowed.uid = 1000;
    allowed.bind_uid = c.bind_uid;
    allowed.bind_gid = c.bind_gid;
    CHECK(allowed.allows(c.peer_uid, c.peer_gid) == c.allowed);
}

TEST_CASE("peer credentials: the kernel's word for a connected unix peer", "[net][trust]") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    const auto peer = peer_credentials(fds[0]);
    REQUIRE(peer);
    CHECK(peer->pid == ::getpid());
    CHECK(peer->uid == ::geteuid());
    CHECK(describe(*peer) == "pid " + std::to_string(::getpid()) + " runs as uid " +
                                 std::to_string(::geteuid()) + " gid " +
                                 std::to_string(::getegid()));
    AllowedPeers self;
    self.uid = ::geteuid();
    CHECK_FALSE(untrusted_peer(fds[0], self));
    ::close(fds[0]);
    ::close(fds[1]);

    const int pipe_end = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const auto refused = untrusted_peer(pipe_end, self);  // not a socket: no credentials
    REQUIRE(refused);
    CHECK(refused->find("cannot read its credentials") == 0);
    ::close(pipe_end);
}
