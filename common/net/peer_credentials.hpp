#pragma once
// Who is at the other end of a unix socket (SO_PEERCRED), and whether this process trusts it.
//
// Trust matters where a connection carries more than bytes: a PROXY header (whose addresses
// the logs, the balancer and the servers believe) on an `accept-proxy` unix or abns@ bind,
// and the sockets a dispatcher hands over on an `accept-handoff` bind. Abstract names have no
// file permissions: any process in the network namespace may connect to them, so the peer's
// credentials are the only thing that tells the dispatcher from anyone else.

#include <sys/types.h>

#include <optional>
#include <string>

namespace tierlb::net {

// The credentials the kernel recorded when the peer connected (its connect(2), not its
// current ones: a dispatcher that connected as root and dropped root since still shows 0).
struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

// Who may: this process's user, root (which could take this process over anyway), and the
// bind's `user`/`uid` and `group`/`gid`.
struct AllowedPeers {
    uid_t uid = 0;
    std::optional<uid_t> bind_uid;
    std::optional<gid_t> bind_gid;

    bool allows(uid_t peer_uid, gid_t peer_gid) const {
        return peer_uid == 0 || peer_uid == uid || (bind_uid && peer_uid == *bind_uid) ||
               (bind_gid && peer_gid == *bind_gid);
    }
};

// SO_PEERCRED of FD, a connected unix socket; none (errno set) when the kernel will not say.
std::optional<PeerCredentials> peer_credentials(int fd);

// "pid 4242 runs as uid 65534 gid 65534", for logs.
std::string describe(const PeerCredentials& peer);

// Why the peer of FD may not use a bind guarded by ALLOWED ("pid 4242 runs as uid 65534 gid
// 65534", or "cannot read its credentials: ..."), or none when it may.
std::optional<std::string> untrusted_peer(int fd, const AllowedPeers& allowed);

}  // namespace tierlb::net
