#include "common/address.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>
#include <cstddef>
#include <cstring>

namespace tierlb {

namespace {

constexpr std::size_t max_sun_name = sizeof(sockaddr_un::sun_path) - 1;  // 107 on Linux

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

// Fills a SocketAddress; the only code allowed to touch its storage.
class AddressBuilder {
public:
    static SocketAddress unix_socket(AddressFamily family, std::string_view name) {
        SocketAddress a;
        a.family_ = family;
        auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
        un->sun_family = AF_UNIX;
        const std::size_t path_offset = offsetof(sockaddr_un, sun_path);
        if (family == AddressFamily::unix_path) {
            std::memcpy(un->sun_path, name.data(), name.size());
            a.length_ = static_cast<socklen_t>(path_offset + name.size() + 1);
        } else {
            // Abstract: a leading zero byte, then the name; the rest stays zero-filled.
            std::memcpy(un->sun_path + 1, name.data(), name.size());
            a.length_ = family == AddressFamily::abns
                            ? static_cast<socklen_t>(sizeof(sockaddr_un))
                            : static_cast<socklen_t>(path_offset + 1 + name.size());
        }
        return a;
    }

    static SocketAddress inet(const sockaddr* addr, socklen_t length, std::uint16_t port) {
        SocketAddress a;
        std::memcpy(&a.storage_, addr, length);
        a.length_ = length;
        if (addr->sa_family == AF_INET6) {
            a.family_ = AddressFamily::ipv6;
            reinterpret_cast<sockaddr_in6*>(&a.storage_)->sin6_port = htons(port);
        } else {
            a.family_ = AddressFamily::ipv4;
            reinterpret_cast<sockaddr_in*>(&a.storage_)->sin_port = htons(port);
        }
        return a;
    }

    static SocketAddress native(const sockaddr* addr, socklen_t length) {
        SocketAddress a;
        length = std::min<socklen_t>(length, sizeof(a.storage_));
        std::memcpy(&a.storage_, addr, length);
        a.length_ = length;
        if (addr->sa_family == AF_INET6) {
            a.family_ = AddressFamily::ipv6;
        } else if (addr->sa_family == AF_INET) {
            a.family_ = AddressFamily::ipv4;
        } else {
            const auto* un = reinterpret_cast<const sockaddr_un*>(addr);
            const bool abstract = length > offsetof(sockaddr_un, sun_path) && un->sun_path[0] == 0;
            if (!abstract) {
                a.family_ = AddressFamily::unix_path;
            } else if (length == sizeof(sockaddr_un)) {
                a.family_ = AddressFamily::abns;
            } else {
                a.family_ = AddressFamily::abnsz;
            }
        }
        return a;
    }
};

SocketAddress SocketAddress::from_native(const sockaddr* addr, socklen_t length) {
    return AddressBuilder::native(addr, length);
}

std::uint16_t SocketAddress::port() const {
    if (family_ == AddressFamily::ipv4) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    }
    if (family_ == AddressFamily::ipv6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    }
    return 0;
}

std::string SocketAddress::host() const {
    char text[INET6_ADDRSTRLEN] = {};
    if (family_ == AddressFamily::ipv4) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
                  sizeof(text));
    } else if (family_ == AddressFamily::ipv6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
                  sizeof(text));
    }
    return text;
}

std::string SocketAddress::unix_name() const {
    if (is_inet()) {
        return {};
    }
    const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
    const std::size_t path_offset = offsetof(sockaddr_un, sun_path);
    if (length_ <= path_offset) {
        return {};  // an unnamed socket (socketpair, or a client that did not bind)
    }
    if (family_ == AddressFamily::unix_path) {
        return std::string(un->sun_path, strnlen(un->sun_path, length_ - path_offset));
    }
    // Abstract names may hold any byte; the zero padding of the abns form is not part of it.
    std::string_view name(un->sun_path + 1, length_ - path_offset - 1);
    if (family_ == AddressFamily::abns) {
        name = name.substr(0, strnlen(name.data(), name.size()));
    }
    return std::string(name);
}

std::string SocketAddress::to_string() const {
    switch (family_) {
        case AddressFamily::ipv4:
            return host() + ":" + std::to_string(port());
        case AddressFamily::ipv6:
            return "[" + host() + "]:" + std::to_string(port());
        case AddressFamily::abns:
            return "abns@" + unix_name();
        case AddressFamily::abnsz:
            return "abnsz@" + unix_name();
        case AddressFamily::unix_path:
            return "unix@" + unix_name();
    }
    return {};
}

bool operator==(const SocketAddress& a, const SocketAddress& b) {
    return a.family_ == b.family_ && a.length_ == b.length_ &&
           std::memcmp(&a.storage_, &b.storage_, a.length_) == 0;
}

namespace {

// "80" -> 80. Rejects signs, blanks, ranges and values above 65535.
Expected<std::uint16_t> parse_port(std::string_view text, std::string_view whole, AddressUse use) {
    if (text.empty()) {
        return unexpected("missing port in '" + std::string(whole) + "'");
    }
    if (text.find('-') != std::string_view::npos) {
        return unexpected("port ranges are not supported in '" + std::string(whole) + "'");
    }
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value > 65535) {
        return unexpected("invalid port '" + std::string(text) + "' in '" + std::string(whole) +
                          "' (expected 0 to 65535)");
    }
    if (value == 0 && use == AddressUse::connect) {
        return unexpected("port 0 is not a valid server port in '" + std::string(whole) + "'");
    }
    return static_cast<std::uint16_t>(value);
}

// Resolves HOST for FAMILY (AF_INET, AF_INET6 or AF_UNSPEC): an IP literal directly, a name
// through getaddrinfo, first answer wins (as HAProxy does at start-up).
Expected<SocketAddress> resolve(std::string_view host, int family, std::uint16_t port,
                                std::string_view whole) {
    const std::string host_z(host);
    sockaddr_in in4{};
    in4.sin_family = AF_INET;
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    if (family != AF_INET6 && inet_pton(AF_INET, host_z.c_str(), &in4.sin_addr) == 1) {
        return AddressBuilder::inet(reinterpret_cast<sockaddr*>(&in4), sizeof(in4), port);
    }
    if (family != AF_INET && inet_pton(AF_INET6, host_z.c_str(), &in6.sin6_addr) == 1) {
        return AddressBuilder::inet(reinterpret_cast<sockaddr*>(&in6), sizeof(in6), port);
    }
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = getaddrinfo(host_z.c_str(), nullptr, &hints, &found);
    if (rc != 0 || found == nullptr) {
        return unexpected("cannot resolve host '" + host_z + "' in '" + std::string(whole) +
                          "': " + gai_strerror(rc));
    }
    SocketAddress a = AddressBuilder::inet(found->ai_addr, found->ai_addrlen, port);
    freeaddrinfo(found);
    return a;
}

Expected<SocketAddress> parse_unix(AddressFamily family, std::string_view name,
                                   std::string_view whole) {
    if (name.empty()) {
        return unexpected("missing socket name in '" + std::string(whole) + "'");
    }
    if (name.size() > max_sun_name) {
        return unexpected("socket name is longer than " + std::to_string(max_sun_name) +
                          " bytes in '" + std::string(whole) + "'");
    }
    return AddressBuilder::unix_socket(family, name);
}

Expected<SocketAddress> parse_inet(std::string_view rest, int family, AddressUse use,
                                   std::string_view whole) {
    std::string_view host;
    std::string_view port_text;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) {
            return unexpected("missing ']' in '" + std::string(whole) + "'");
        }
        host = rest.substr(1, close - 1);
        const auto after = rest.substr(close + 1);
        if (after.empty() || after.front() != ':') {
            return unexpected("missing port in '" + std::string(whole) + "'");
        }
        port_text = after.substr(1);
        if (family == AF_UNSPEC) {
            family = AF_INET6;
        }
    } else {
        // The last colon separates the port, so "::1:80" reads as host ::1, port 80.
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) {
            return unexpected("missing port in '" + std::string(whole) + "'");
        }
        host = rest.substr(0, colon);
        port_text = rest.substr(colon + 1);
    }
    auto port = parse_port(port_text, whole, use);
    if (!port) {
        return unexpected(port.error());
    }
    if (host.empty() || host == "*") {
        if (use == AddressUse::connect) {
            return unexpected("missing host in server address '" + std::string(whole) + "'");
        }
        host = family == AF_INET6 ? "::" : "0.0.0.0";
    }
    return resolve(host, family, *port, whole);
}

}  // namespace

Expected<SocketAddress> parse_address(std::string_view text, AddressUse use) {
    if (text.empty()) {
        return unexpected("empty address");
    }
    if (starts_with(text, "abns@")) {
        return parse_unix(AddressFamily::abns, text.substr(5), text);
    }
    if (starts_with(text, "abnsz@")) {
        return parse_unix(AddressFamily::abnsz, text.substr(6), text);
    }
    if (starts_with(text, "unix@")) {
        return parse_unix(AddressFamily::unix_path, text.substr(5), text);
    }
    if (text.front() == '/') {
        return parse_unix(AddressFamily::unix_path, text, text);
    }
    if (starts_with(text, "ipv4@")) {
        return parse_inet(text.substr(5), AF_INET, use, text);
    }
    if (starts_with(text, "ipv6@")) {
        return parse_inet(text.substr(5), AF_INET6, use, text);
    }
    const auto at = text.find('@');
    if (at != std::string_view::npos) {
        return unexpected("unsupported address family '" + std::string(text.substr(0, at + 1)) +
                          "' in '" + std::string(text) +
                          "' (expected ipv4@, ipv6@, abns@, abnsz@ or unix@)");
    }
    return parse_inet(text, AF_UNSPEC, use, text);
}

}  // namespace tierlb
