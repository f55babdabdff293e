#include "common/net/socket_ops.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/net/socket_holder.hpp"

namespace tierlb::net {

std::string errno_text(int error) {
    char buffer[128];
    // GNU strerror_r returns a pointer that may or may not be BUFFER.
    return ::strerror_r(error, buffer, sizeof(buffer));
}

namespace {

// A unix socket file left by a process that died: nobody accepts on it, so it may go.
bool is_stale_unix_socket(const SocketAddress& address) {
    struct stat st {};
    if (::stat(address.unix_name().c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
        return false;
    }
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        return false;
    }
    const bool refused =
        ::connect(probe, address.native(), address.length()) != 0 && errno == ECONNREFUSED;
    ::close(probe);
    return refused;
}

// The holder is named when it can be found: a name squatted before start-up is someone to
// look at.
std::string bind_error(const SocketAddress& address, int error) {
    const bool abstract =
        address.family() == AddressFamily::abns || address.family() == AddressFamily::abnsz;
    const auto holder = error == EADDRINUSE ? holder_of(address) : std::nullopt;
    if (error == EADDRINUSE && abstract) {
        return address.to_string() + " is already held by another process" +
               (holder ? " (" + *holder + "; abstract names are not shared)"
                       : " (abstract names are not shared)");
    }
    if (error == EADDRINUSE && address.family() == AddressFamily::unix_path) {
        return address.to_string() + " is in use by a running process" +
               (holder ? " (" + *holder + ")" : "");
    }
    return address.to_string() + ": " + errno_text(error);
}

}  // namespace

Expected<int> open_listener(const SocketAddress& address, const ListenOptions& options) {
    const int fd = ::socket(address.domain(), options.type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return unexpected(address.to_string() + ": cannot create a socket: " + errno_text(errno));
    }
    auto fail = [fd](std::string message) -> Expected<int> {
        ::close(fd);
        return unexpected(std::move(message));
    };
    const int one = 1;
    if (address.is_inet()) {
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (options.reuse_port) {
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        }
    } else if (address.family() == AddressFamily::unix_path && !options.take_over &&
               is_stale_unix_socket(address)) {
        ::unlink(address.unix_name().c_str());
    }
    // Taking over a path: bind a temporary name beside it, then rename it over the path, so
    // that the path always answers (HAProxy does the same on reload).
    const bool renamed = options.take_over && address.family() == AddressFamily::unix_path;
    const std::string path =
        address.family() == AddressFamily::unix_path ? address.unix_name() : "";
    const std::string temporary = path + "." + std::to_string(::getpid()) + ".tmp";
    if (renamed) {
        auto at = parse_address("unix@" + temporary, AddressUse::bind);
        if (!at) {
            return fail(address.to_string() + ": " + at.error());
        }
        ::unlink(temporary.c_str());
        if (::bind(fd, at->native(), at->length()) != 0) {
            return fail(at->to_string() + ": " + errno_text(errno));
        }
    } else if (::bind(fd, address.native(), address.length()) != 0) {
        return fail(bind_error(address, errno));
    }
    if (address.family() == AddressFamily::unix_path) {
        const std::string& bound = renamed ? temporary : path;
        if (options.mode && ::chmod(bound.c_str(), *options.mode) != 0) {
            return fail(address.to_string() + ": chmod: " + errno_text(errno));
        }
        if ((options.owner || options.group) &&
            ::chown(bound.c_str(), options.owner.value_or(static_cast<uid_t>(-1)),
                    options.group.value_or(static_cast<gid_t>(-1))) != 0) {
            return fail(address.to_string() + ": chown: " + errno_text(errno));
        }
    }
    if (::listen(fd, options.backlog) != 0) {
        return fail(address.to_string() + ": listen: " + errno_text(errno));
    }
    if (renamed && ::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error = errno;
        ::unlink(temporary.c_str());
        return fail(address.to_string() + ": rename: " + errno_text(error));
    }
    return fd;
}

SocketAddress local_address(int fd) {
    sockaddr_storage ss{};
    socklen_t length = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &length);
    return SocketAddress::from_native(reinterpret_cast<sockaddr*>(&ss), length);
}

bool is_specific(const SocketAddress& address) {
    if (!address.is_inet() || address.port() == 0) {
        return false;
    }
    const sockaddr* native = address.native();
    if (native->sa_family == AF_INET) {
        return reinterpret_cast<const sockaddr_in*>(native)->sin_addr.s_addr != INADDR_ANY;
    }
    return !IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(native)->sin6_addr);
}

SocketAddress peer_address(int fd) {
    sockaddr_storage ss{};
    socklen_t length = sizeof(ss);
    ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &length);
    return SocketAddress::from_native(reinterpret_cast<sockaddr*>(&ss), length);
}

void set_nodelay(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int set_defer_accept(int fd, bool on) {
    const int seconds = on ? 1 : 0;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof(seconds)) != 0) {
        return errno;
    }
    return 0;
}

void set_keepalive(int fd) {
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

}  // namespace tierlb::net
