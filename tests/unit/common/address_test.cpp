#include "common/address.hpp"

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>

using tierlb::AddressFamily;
using tierlb::AddressUse;
using tierlb::parse_address;

namespace {
const sockaddr_un& as_un(const tierlb::SocketAddress& a) {
    return *reinterpret_cast<const sockaddr_un*>(a.native());
}
constexpr std::size_t path_offset = offsetof(sockaddr_un, sun_path);
}  // namespace

TEST_CASE("TCP addresses become sockaddr_in/in6 with the port in network order") {
    struct Case {
        const char* text;
        AddressUse use;
        AddressFamily family;
        const char* host;
        std::uint16_t port;
        const char* canonical;
    };
    auto c = GENERATE(values<Case>({
        {"127.0.0.1:8080", AddressUse::connect, AddressFamily::ipv4, "127.0.0.1", 8080,
         "127.0.0.1:8080"},
        {":1234", AddressUse::bind, AddressFamily::ipv4, "0.0.0.0", 1234, "0.0.0.0:1234"},
        {"*:443", AddressUse::bind, AddressFamily::ipv4, "0.0.0.0", 443, "0.0.0.0:443"},
        {"127.0.0.1:0", AddressUse::bind, AddressFamily::ipv4, "127.0.0.1", 0, "127.0.0.1:0"},
        {"[::1]:8443", AddressUse::connect, AddressFamily::ipv6, "::1", 8443, "[::1]:8443"},
        {"[::]:80", AddressUse::bind, AddressFamily::ipv6, "::", 80, "[::]:80"},
        {"::1:80", AddressUse::connect, AddressFamily::ipv6, "::1", 80, "[::1]:80"},
        {"ipv4@10.1.2.3:65535", AddressUse::connect, AddressFamily::ipv4, "10.1.2.3", 65535,
         "10.1.2.3:65535"},
        {"ipv6@:443", AddressUse::bind, AddressFamily::ipv6, "::", 443, "[::]:443"},
        {"ipv6@[fe80::1]:1", AddressUse::connect, AddressFamily::ipv6, "fe80::1", 1, "[fe80::1]:1"},
        {"localhost:80", AddressUse::connect, AddressFamily::ipv4, "127.0.0.1", 80, "127.0.0.1:80"},
    }));
    CAPTURE(c.text);
    auto a = parse_address(c.text, c.use);
    REQUIRE(a.has_value());
    CHECK(a->family() == c.family);
    CHECK(a->host() == c.host);
    CHECK(a->port() == c.port);
    CHECK(a->to_string() == c.canonical);
    if (c.family == AddressFamily::ipv4) {
        CHECK(a->length() == sizeof(sockaddr_in));
        CHECK(a->native()->sa_family == AF_INET);
        CHECK(reinterpret_cast<const sockaddr_in*>(a->native())->sin_port == htons(c.port));
    } else {
        CHECK(a->length() == sizeof(sockaddr_in6));
        CHECK(a->native()->sa_family == AF_INET6);
        CHECK(reinterpret_cast<const sockaddr_in6*>(a->native())->sin6_port == htons(c.port));
    }
    // The canonical form parses back to the same bytes.
    auto again = parse_address(a->to_string(), c.use);
    REQUIRE(again.has_value());
    CHECK(*again == *a);
}

TEST_CASE("abns@ is HAProxy's padded form: sizeof(sockaddr_un), zero-filled") {
    auto a = parse_address("abns@p2", AddressUse::bind);
    REQUIRE(a.has_value());
    CHECK(a->family() == AddressFamily::abns);
    CHECK(a->length() == sizeof(sockaddr_un));
    CHECK(a->length() == 110);
    const auto& un = as_un(*a);
    CHECK(un.sun_family == AF_UNIX);
    CHECK(un.sun_path[0] == 0);
    CHECK(std::memcmp(un.sun_path + 1, "p2", 2) == 0);
    for (std::size_t i = 3; i < sizeof(un.sun_path); ++i) {
        CHECK(un.sun_path[i] == 0);
    }
    CHECK(a->unix_name() == "p2");
    CHECK(a->to_string() == "abns@p2");
    CHECK(a->is_unix());
    CHECK(a->domain() == AF_UNIX);
}

TEST_CASE("abnsz@ is the short form socat and curl use") {
    auto a = parse_address("abnsz@worker-7", AddressUse::connect);
    REQUIRE(a.has_value());
    CHECK(a->family() == AddressFamily::abnsz);
    CHECK(a->length() == path_offset + 1 + std::strlen("worker-7"));
    CHECK(as_un(*a).sun_path[0] == 0);
    CHECK(std::memcmp(as_un(*a).sun_path + 1, "worker-7", 8) == 0);
    CHECK(a->unix_name() == "worker-7");
    CHECK(a->to_string() == "abnsz@worker-7");
    // Same name, different length: the kernel sees two different addresses.
    CHECK_FALSE(*a == *parse_address("abns@worker-7", AddressUse::connect));
}

TEST_CASE("unix@PATH and /PATH are file-system sockets") {
    auto text = GENERATE(as<std::string>{}, "unix@/run/tierlb.sock", "/run/tierlb.sock");
    auto a = parse_address(text, AddressUse::bind);
    REQUIRE(a.has_value());
    CHECK(a->family() == AddressFamily::unix_path);
    CHECK(std::string(as_un(*a).sun_path) == "/run/tierlb.sock");
    CHECK(a->length() == path_offset + std::strlen("/run/tierlb.sock") + 1);
    CHECK(a->to_string() == "unix@/run/tierlb.sock");
}

TEST_CASE("the longest abstract name fits, one more byte does not") {
    const std::string longest(107, 'x');
    auto ok = parse_address("abns@" + longest, AddressUse::bind);
    REQUIRE(ok.has_value());
    CHECK(ok->unix_name() == longest);
    auto too_long = parse_address("abns@" + longest + "x", AddressUse::bind);
    REQUIRE_FALSE(too_long.has_value());
    CHECK_THAT(too_long.error(), Catch::Contains("longer than 107 bytes"));
}

TEST_CASE("from_native recognises what the kernel returns") {
    auto abns = *parse_address("abns@x", AddressUse::bind);
    auto back = tierlb::SocketAddress::from_native(abns.native(), abns.length());
    CHECK(back == abns);
    auto abnsz = *parse_address("abnsz@x", AddressUse::bind);
    CHECK(tierlb::SocketAddress::from_native(abnsz.native(), abnsz.length()) == abnsz);
    auto tcp = *parse_address("[::1]:9", AddressUse::connect);
    CHECK(tierlb::SocketAddress::from_native(tcp.native(), tcp.length()).to_string() == "[::1]:9");
    // An unnamed unix peer (just the family) has an empty name.
    sockaddr_un unnamed{};
    unnamed.sun_family = AF_UNIX;
    auto u = tierlb::SocketAddress::from_native(reinterpret_cast<sockaddr*>(&unnamed),
                                                sizeof(sa_family_t));
    CHECK(u.is_unix());
    CHECK(u.unix_name().empty());
}

TEST_CASE("bad addresses are rejected with a reason") {
    struct Case {
        const char* text;
        AddressUse use;
        const char* reason;
    };
    auto c = GENERATE(values<Case>({
        {"", AddressUse::bind, "empty address"},
        {"127.0.0.1", AddressUse::connect, "missing port"},
        {"127.0.0.1:", AddressUse::connect, "missing port"},
        {"127.0.0.1:65536", AddressUse::connect, "invalid port"},
        {"127.0.0.1:-1", AddressUse::connect, "port ranges"},
        {"127.0.0.1:80x", AddressUse::connect, "invalid port"},
        {":8000-8010", AddressUse::bind, "port ranges are not supported"},
        {"127.0.0.1:0", AddressUse::connect, "port 0"},
        {":8080", AddressUse::connect, "missing host"},
        {"[::1:80", AddressUse::connect, "missing ']'"},
        {"[::1]", AddressUse::connect, "missing port"},
        {"ipv4@::1:80", AddressUse::connect, "cannot resolve"},
        {"abns@", AddressUse::bind, "missing socket name"},
        {"unix@", AddressUse::bind, "missing socket name"},
        {"fd@3", AddressUse::bind, "unsupported address family 'fd@'"},
        {"udp@1.2.3.4:5", AddressUse::bind, "unsupported address family 'udp@'"},
        {"no-such-host.invalid:80", AddressUse::connect, "cannot resolve host"},
    }));
    CAPTURE(c.text);
    auto a = parse_address(c.text, c.use);
    REQUIRE_FALSE(a.has_value());
    CHECK_THAT(a.error(), Catch::Contains(c.reason));
}
