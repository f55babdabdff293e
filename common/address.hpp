#pragma once
// Socket addresses as written in a configuration (INTERFACE.md section 3), turned into the
// exact sockaddr and length to pass to bind(2) and connect(2).
//
//   IP:PORT, :PORT, *:PORT, [IPv6]:PORT, ipv4@..., ipv6@...   TCP over IPv4 or IPv6
//   abns@NAME    abstract unix socket, HAProxy's form: sun_path[0] = 0, NAME from sun_path[1],
//                the rest zero-filled, length sizeof(sockaddr_un). Talks to HAProxy.
//   abnsz@NAME   abstract unix socket with the short length offsetof(sun_path) + 1 + strlen,
//                the form socat and curl use. Does not match an abns@ peer of the same NAME:
//                the kernel compares the whole length.
//   unix@PATH, /PATH   unix socket on the file system
//
// Pure code apart from host name resolution (getaddrinfo), which only happens for a host that
// is not an IP literal.

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace tierlb {

enum class AddressFamily { ipv4, ipv6, abns, abnsz, unix_path };

class SocketAddress {
public:
    SocketAddress() = default;

    // Wraps what accept(2), getsockname(2) or getpeername(2) returned. An abstract unix
    // address of full length is taken as abns, a shorter one as abnsz.
    static SocketAddress from_native(const sockaddr* addr, socklen_t length);

    AddressFamily family() const { return family_; }
    const sockaddr* native() const { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t length() const { return length_; }
    int domain() const { return is_inet() ? native()->sa_family : AF_UNIX; }

    bool is_inet() const {
        return family_ == AddressFamily::ipv4 || family_ == AddressFamily::ipv6;
    }
    bool is_unix() const { return !is_inet(); }

    // TCP only: the port in host order, and the address without port ("127.0.0.1", "::1").
    std::uint16_t port() const;
    std::string host() const;

    // The name of an abns/abnsz address, or the path of a unix one.
    std::string unix_name() const;

    // The canonical form, parseable again: "127.0.0.1:80", "[::1]:80", "abns@p2",
    // "abnsz@p2", "unix@/run/x.sock".
    std::string to_string() const;

    // Same family, same bytes over the same length: what the kernel would treat as one address.
    friend bool operator==(const SocketAddress& a, const SocketAddress& b);

private:
    friend class AddressBuilder;
    AddressFamily family_ = AddressFamily::ipv4;
    sockaddr_storage storage_{};
    socklen_t length_ = 0;
};

// What the address is for: a listener may leave the host out (":80" means every IPv4
// address) and may use port 0 (the kernel picks one); a server needs both.
enum class AddressUse { bind, connect };

// Parses one address. The error says what is wrong with it, e.g.
// "abns name is longer than 107 bytes" or "missing port in '127.0.0.1'".
Expected<SocketAddress> parse_address(std::string_view text, AddressUse use);

}  // namespace tierlb
