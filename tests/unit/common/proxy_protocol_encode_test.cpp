#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/proxy_protocol/crc32c.hpp"
#include "common/proxy_protocol/encode.hpp"

using tierlb::AddressUse;
using tierlb::SocketAddress;
using tierlb::proxy_protocol::crc32c;
using tierlb::proxy_protocol::crc32c_extend;
using tierlb::proxy_protocol::encode_v1;
using tierlb::proxy_protocol::encode_v2;
using tierlb::proxy_protocol::SslInfo;
using tierlb::proxy_protocol::Tlv;
using tierlb::proxy_protocol::V2Extras;

namespace {

using ByteVector = std::vector<std::uint8_t>;

SocketAddress addr(const char* text) {
    return *tierlb::parse_address(text, AddressUse::bind);
}

std::span<const std::uint8_t> span_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Hex text, so that a mismatch shows which byte differs.
std::string hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const std::uint8_t b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0xF];
        out += ' ';
    }
    return out;
}
std::string hex(std::string_view s) {
    return hex(span_of(s));
}

ByteVector concat(std::initializer_list<ByteVector> parts) {
    ByteVector out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

ByteVector ascii(std::string_view s) {
    return {s.begin(), s.end()};
}

// Written out from the spec rather than taken from the library, so a wrong constant shows.
const ByteVector signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                              0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// 192.0.2.1:1234 -> 198.51.100.7:443 as an INET address block.
const ByteVector inet_block = {0xC0, 0x00, 0x02, 0x01, 0xC6, 0x33,
                               0x64, 0x07, 0x04, 0xD2, 0x01, 0xBB};

}  // namespace

TEST_CASE("CRC32C matches the standard check values") {
    struct Case {
        ByteVector data;
        std::uint32_t crc;
    };
    ByteVector ascending(32);
    ByteVector descending(32);
    for (std::uint8_t i = 0; i < 32; ++i) {
        ascending[i] = i;
        descending[i] = static_cast<std::uint8_t>(31 - i);
    }
    // "123456789" is the catalogue check value; the 32-byte vectors are RFC 3720's.
    auto c = GENERATE_COPY(values<Case>({
        {ascii("123456789"), 0xE3069283},
        {ByteVector{}, 0x00000000},
        {ByteVector(32, 0x00), 0x8A9136AA},
        {ByteVector(32, 0xFF), 0x62A8AB43},
        {ascending, 0x46DD794E},
        {descending, 0x113FDB5C},
    }));
    CHECK(crc32c(c.data) == c.crc);
    // Any split continues to the same value.
    for (std::size_t cut = 0; cut <= c.data.size(); ++cut) {
        const std::span<const std::uint8_t> all(c.data);
        CHECK(crc32c_extend(crc32c(all.first(cut)), all.subspan(cut)) == c.crc);
    }
}

TEST_CASE("v1: TCP4, TCP6 and UNKNOWN lines, byte for byte") {
    struct Case {
        const char* source;
        const char* destination;
        std::string_view line;
    };
    auto c = GENERATE(values<Case>({
        {"127.0.0.1:56324", "127.0.0.1:443", "PROXY TCP4 127.0.0.1 127.0.0.1 56324 443\r\n"},
        {"0.0.0.0:0", "10.0.0.1:1", "PROXY TCP4 0.0.0.0 10.0.0.1 0 1\r\n"},
        {"[2001:db8::1]:1234", "[::1]:80", "PROXY TCP6 2001:db8::1 ::1 1234 80\r\n"},
        {"192.0.2.1:5", "[2001:db8::2]:443", "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 5 443\r\n"},
        {"[::1]:5", "192.0.2.1:443", "PROXY TCP6 ::1 ::ffff:192.0.2.1 5 443\r\n"},
        {"abns@client", "127.0.0.1:80", "PROXY UNKNOWN\r\n"},
        {"127.0.0.1:80", "unix@/run/x.sock", "PROXY UNKNOWN\r\n"},
        {"abnsz@a", "abns@b", "PROXY UNKNOWN\r\n"},
    }));
    CAPTURE(c.source, c.destination);
    const SocketAddress source = addr(c.source);
    const SocketAddress destination = addr(c.destination);
    CHECK(encode_v1(&source, &destination) == c.line);
}

TEST_CASE("v1: the longest lines are 56 bytes for TCP4 and 104 for TCP6") {
    const SocketAddress v4 = addr("255.255.255.255:65535");
    const std::string tcp4 = encode_v1(&v4, &v4);
    CHECK(tcp4 == "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
    CHECK(tcp4.size() == 56);
    // inet_ntop keeps a lone zero group uncompressed, so this is as long as text can get.
    const SocketAddress v6 = addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    const std::string tcp6 = encode_v1(&v6, &v6);
    CHECK(tcp6 ==
          "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");
    CHECK(tcp6.size() == 104);
}

TEST_CASE("v1: a missing address gives UNKNOWN") {
    const SocketAddress a = addr("127.0.0.1:1");
    CHECK(encode_v1(nullptr, &a) == "PROXY UNKNOWN\r\n");
    CHECK(encode_v1(&a, nullptr) == "PROXY UNKNOWN\r\n");
    CHECK(encode_v1(nullptr, nullptr) == "PROXY UNKNOWN\r\n");
}

TEST_CASE("v2: INET, INET6 and mapped addresses, byte for byte") {
    const SocketAddress v4_src = addr("192.0.2.1:1234");
    const SocketAddress v4_dst = addr("198.51.100.7:443");
    const SocketAddress v6_src = addr("[2001:db8::1]:1234");
    const SocketAddress v6_dst = addr("[::1]:443");

    SECTION("INET: version 2 PROXY, INET STREAM, 12 address bytes") {
        const ByteVector expected = concat({signature, {0x21, 0x11, 0x00, 0x0C}, inet_block});
        CHECK(hex(encode_v2(&v4_src, &v4_dst)) == hex(expected));
    }
    SECTION("INET6: 36 address bytes") {
        const ByteVector expected = concat({
            signature,
            {0x21, 0x21, 0x00, 0x24},
            {0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01},
            {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01},
            {0x04, 0xD2, 0x01, 0xBB},
        });
        CHECK(hex(encode_v2(&v6_src, &v6_dst)) == hex(expected));
    }
    SECTION("IPv4 with IPv6: INET6 with the IPv4 end mapped") {
        const ByteVector expected = concat({
            signature,
            {0x21, 0x21, 0x00, 0x24},
            {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xC0, 0x00, 0x02, 0x01},
            {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01},
            {0x04, 0xD2, 0x01, 0xBB},
        });
        CHECK(hex(encode_v2(&v4_src, &v6_dst)) == hex(expected));
    }
}

TEST_CASE("v2: LOCAL with UNSPEC and length 0 for checks, unix peers and missing addresses") {
    const ByteVector local = concat({signature, {0x20, 0x00, 0x00, 0x00}});
    const SocketAddress tcp = addr("192.0.2.1:1234");
    const SocketAddress abns = addr("abns@front");
    const SocketAddress path = addr("unix@/run/a.sock");
    V2Extras with_tlvs;
    with_tlvs.alpn = "h2";
    with_tlvs.crc32c = true;

    V2Extras local_only;
    local_only.local = true;
    // The health-check header: no addresses at all.
    CHECK(hex(encode_v2(nullptr, nullptr)) == hex(local));
    CHECK(hex(encode_v2(nullptr, nullptr, local_only)) == hex(local));
    CHECK(hex(encode_v2(&tcp, &tcp, local_only)) == hex(local));
    CHECK(hex(encode_v2(nullptr, &tcp)) == hex(local));
    CHECK(hex(encode_v2(&tcp, nullptr)) == hex(local));
    // HAProxy never sends the UNIX family: a unix end makes the header LOCAL.
    CHECK(hex(encode_v2(&abns, &path)) == hex(local));
    CHECK(hex(encode_v2(&tcp, &abns)) == hex(local));
    // Receivers discard a LOCAL block, so TLVs are not sent with it.
    CHECK(hex(encode_v2(&abns, &abns, with_tlvs)) == hex(local));
}

TEST_CASE("v2: TLVs in HAProxy's order, each type, length big-endian") {
    const SocketAddress src = addr("192.0.2.1:1234");
    const SocketAddress dst = addr("198.51.100.7:443");
    V2Extras extras;
    ByteVector tlvs;

    SECTION("ALPN then AUTHORITY") {
        extras.authority = "example.com";
        extras.alpn = "h2";
        tlvs = concat({{0x01, 0x00, 0x02}, ascii("h2"), {0x02, 0x00, 0x0B}, ascii("example.com")});
    }
    SECTION("UNIQUE_ID of 128 bytes is sent, 129 is left out") {
        extras.unique_id = std::string(128, 'u');
        tlvs = concat({{0x05, 0x00, 0x80}, ByteVector(128, 'u')});
        SECTION("129") {
            extras.unique_id = std::string(129, 'u');
            tlvs.clear();
        }
    }
    SECTION("custom TLVs first and NETNS last") {
        extras.netns = "blue";
        extras.other_tlvs = {{0xE0, std::string(300, 'c')}, {0xF1, ""}};
        tlvs = concat({{0xE0, 0x01, 0x2C},
                       ByteVector(300, 'c'),
                       {0xF1, 0x00, 0x00},
                       {0x30, 0x00, 0x04},
                       ascii("blue")});
    }
    SECTION("SSL with sub-TLVs VERSION, CN, KEY_ALG, SIG_ALG, CIPHER") {
        extras.ssl = SslInfo{.client_flags = 0x07,
                             .verify = 0x01020304,
                             .version = "TLSv1.3",
                             .common_name = "cn",
                             .cipher = "AES",
                             .signature_algorithm = "SHA256",
                             .key_algorithm = "EC256"};
        tlvs = concat({{0x20, 0x00, 0x2B, 0x07, 0x01, 0x02, 0x03, 0x04},
                       {0x21, 0x00, 0x07},
                       ascii("TLSv1.3"),
                       {0x22, 0x00, 0x02},
                       ascii("cn"),
                       {0x25, 0x00, 0x05},
                       ascii("EC256"),
                       {0x24, 0x00, 0x06},
                       ascii("SHA256"),
                       {0x23, 0x00, 0x03},
                       ascii("AES")});
    }
    SECTION("SSL for a plain-TCP client: flags and verify only") {
        extras.ssl = SslInfo{};
        tlvs = {0x20, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00};
    }
    const std::size_t length = inet_block.size() + tlvs.size();
    const ByteVector expected = concat({signature,
                                        {0x21, 0x11, static_cast<std::uint8_t>(length >> 8),
                                         static_cast<std::uint8_t>(length & 0xFF)},
                                        inet_block,
                                        tlvs});
    CHECK(hex(encode_v2(&src, &dst, extras)) == hex(expected));
}

TEST_CASE("v2: CRC32C over the final header, before ALPN as HAProxy sends it") {
    const SocketAddress src = addr("192.0.2.1:1234");
    const SocketAddress dst = addr("198.51.100.7:443");
    // The checksums were computed apart, with a bit-at-a-time CRC-32C.
    V2Extras extras;
    extras.crc32c = true;
    SECTION("alone") {
        const ByteVector expected = concat({signature,
                                            {0x21, 0x11, 0x00, 0x13},
                                            inet_block,
                                            {0x03, 0x00, 0x04},
                                            {0xCB, 0x8F, 0xB0, 0x75}});
        CHECK(hex(encode_v2(&src, &dst, extras)) == hex(expected));
    }
    SECTION("with ALPN after it") {
        const ByteVector expected = concat({signature,
                                            {0x21, 0x11, 0x00, 0x18},
                                            inet_block,
                                            {0x03, 0x00, 0x04},
                                            {0x85, 0x84, 0x9B, 0x5E},
                                            {0x01, 0x00, 0x02},
                                            ascii("h2")});
        extras.alpn = "h2";
        CHECK(hex(encode_v2(&src, &dst, extras)) == hex(expected));
    }
}

TEST_CASE("v2: TLVs that cannot fit the 16-bit lengths are left out") {
    const SocketAddress src = addr("192.0.2.1:1234");
    V2Extras extras;
    extras.authority = std::string(65535, 'a');  // the largest value, fits
    extras.alpn = std::string(65536, 'b');       // one byte too many
    const std::string header = encode_v2(&src, &src, extras);
    // ALPN dropped; AUTHORITY does not fit either once the address block is counted.
    CHECK(header.size() == 16 + 12);
    extras.authority = std::string(65535 - 12 - 3, 'a');
    const std::string full = encode_v2(&src, &src, extras);
    CHECK(full.size() == 16 + 65535);
    CHECK(static_cast<std::uint8_t>(full[14]) == 0xFF);
    CHECK(static_cast<std::uint8_t>(full[15]) == 0xFF);
}
