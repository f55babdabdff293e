#include "common/net/peer_credentials.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "common/net/socket_ops.hpp"

namespace tierlb::net {

std::optional<PeerCredentials> peer_credentials(int fd) {
    ucred peer{};
    socklen_t length = sizeof(peer);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
        return std::nullopt;
    }
    return PeerCredentials{peer.pid, peer.uid, peer.gid};
}

std::string describe(const PeerCredentials& peer) {
    return "pid " + std::to_string(peer.pid) + " runs as uid " + std::to_string(peer.uid) +
           " gid " + std::to_string(peer.gid);
}

std::optional<std::string> untrusted_peer(int fd, const AllowedPeers& allowed) {
    const auto peer = peer_credentials(fd);
    if (!peer) {
        return "cannot read its credentials: " + errno_text(errno);
    }
    if (allowed.allows(peer->uid, peer->gid)) {
        return std::nullopt;
    }
    return describe(*peer);
}

}  // namespace tierlb::net
