#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/proxy_protocol/encode.hpp"
#include "common/proxy_protocol/parse.hpp"

using tierlb::AddressUse;
using tierlb::SocketAddress;
using tierlb::proxy_protocol::describe;
using tierlb::proxy_protocol::encode_v1;
using tierlb::proxy_protocol::encode_v2;
using tierlb::proxy_protocol::Error;
using tierlb::proxy_protocol::Header;
using tierlb::proxy_protocol::parse;
using tierlb::proxy_protocol::ParseLimits;
using tierlb::proxy_protocol::ParseResult;
using tierlb::proxy_protocol::ParseStatus;
using tierlb::proxy_protocol::SslInfo;
using tierlb::proxy_protocol::Tlv;
using tierlb::proxy_protocol::V2Extras;

namespace Catch {
template <>
struct StringMaker<Error> {
    static std::string convert(Error e) { return describe(e); }
};
template <>
struct StringMaker<ParseStatus> {
    static std::string convert(ParseStatus s) {
        return s == ParseStatus::complete  ? "complete"
               : s == ParseStatus::invalid ? "invalid"
                                           : "need_more";
    }
};
}  // namespace Catch

namespace {

using ByteVector = std::vector<std::uint8_t>;

SocketAddress addr(const char* text) {
    return *tierlb::parse_address(text, AddressUse::bind);
}

ByteVector bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

ParseResult parse_bytes(const ByteVector& b, const ParseLimits& limits = {}) {
    return parse(std::span<const std::uint8_t>(b), limits);
}

std::string text_of(const std::optional<SocketAddress>& a) {
    return a ? a->to_string() : "-";
}

ByteVector concat(std::initializer_list<ByteVector> parts) {
    ByteVector out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

const ByteVector signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                              0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// A v2 header: the signature, ver_cmd, fam, then the big-endian length of `body` and `body`.
ByteVector v2(std::uint8_t ver_cmd, std::uint8_t family, const ByteVector& body) {
    return concat({signature,
                   {ver_cmd, family, static_cast<std::uint8_t>(body.size() >> 8),
                    static_cast<std::uint8_t>(body.size() & 0xFF)},
                   body});
}

ByteVector tlv(std::uint8_t type, const ByteVector& value) {
    return concat({{type, static_cast<std::uint8_t>(value.size() >> 8),
                    static_cast<std::uint8_t>(value.size() & 0xFF)},
                   value});
}

// 192.0.2.1:1234 -> 198.51.100.7:443.
const ByteVector inet_block = {0xC0, 0x00, 0x02, 0x01, 0xC6, 0x33,
                               0x64, 0x07, 0x04, 0xD2, 0x01, 0xBB};
// [2001:db8::1]:1234 -> [::1]:443.
const ByteVector inet6_block = concat({{0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                                       {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                                       {0x04, 0xD2, 0x01, 0xBB}});

ByteVector unix_path(std::string_view path) {
    ByteVector p(108, 0);
    std::copy(path.begin(), path.end(), p.begin());
    return p;
}

// Every strict prefix is need_more or invalid(error), never anything else, and the whole is
// invalid(error): the reason does not depend on how the bytes arrive.
void check_rejected_consistently(const ByteVector& input, Error error) {
    const ParseResult whole = parse_bytes(input);
    CHECK(whole.status == ParseStatus::invalid);
    CHECK(whole.error == error);
    for (std::size_t cut = 0; cut < input.size(); ++cut) {
        const ParseResult part = parse_bytes(ByteVector(input.begin(), input.begin() + cut));
        CAPTURE(cut);
        if (part.status != ParseStatus::need_more) {
            CHECK(part.status == ParseStatus::invalid);
            CHECK(part.error == error);
        }
    }
}

}  // namespace

TEST_CASE("v1: valid lines") {
    struct Case {
        std::string text;
        std::string source;
        std::string destination;
    };
    const std::string v6max = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    auto c = GENERATE_COPY(values<Case>({
        {"PROXY TCP4 192.0.2.1 198.51.100.7 1234 443\r\n", "192.0.2.1:1234", "198.51.100.7:443"},
        {"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", "255.255.255.255:65535",
         "255.255.255.255:65535"},
        {"PROXY TCP4 0.0.0.0 10.0.0.0 0 0\r\n", "0.0.0.0:0", "10.0.0.0:0"},
        {"PROXY TCP6 2001:db8::1 ::1 1234 443\r\n", "[2001:db8::1]:1234", "[::1]:443"},
        {"PROXY TCP6 ::ffff:192.0.2.1 2001:DB8::2 5 443\r\n", "[::ffff:192.0.2.1]:5",
         "[2001:db8::2]:443"},
        {"PROXY TCP6 0:0:0:0:0:0:0:1 :: 1 2\r\n", "[::1]:1", "[::]:2"},
        {"PROXY TCP6 " + v6max + " " + v6max + " 65535 65535\r\n", "[" + v6max + "]:65535",
         "[" + v6max + "]:65535"},
        {"PROXY UNKNOWN\r\n", "-", "-"},
        {"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", "-", "-"},
        {"PROXY UNKNOWN anything \x01\x7f goes\r\n", "-", "-"},
        // The longest line: 107 bytes, CRLF included.
        {"PROXY UNKNOWN " + v6max + " " + v6max + " 65535 65535\r\n", "-", "-"},
    }));
    CAPTURE(c.text);
    const ByteVector input = concat({bytes(c.text), bytes("payload")});
    const ParseResult r = parse_bytes(input);
    REQUIRE(r.status == ParseStatus::complete);
    CHECK(r.error == Error::none);
    CHECK(r.consumed == c.text.size());
    CHECK(r.header.version == 1);
    CHECK(r.header.local == (c.source == "-"));
    CHECK(text_of(r.header.source) == c.source);
    CHECK(text_of(r.header.destination) == c.destination);
}

TEST_CASE("v1: each way a line can be wrong has its error") {
    struct Case {
        std::string text;
        Error error;
    };
    auto c = GENERATE(values<Case>({
        {"GET / HTTP/1.1\r\n", Error::bad_signature},
        {"PROXY\r\n", Error::bad_signature},
        {"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n", Error::bad_signature},
        {"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", Error::v1_bad_protocol},
        {"PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n", Error::v1_bad_protocol},
        {"PROXY UNKNOWNX\r\n", Error::v1_bad_protocol},
        {"PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n", Error::v1_bad_protocol},
        {"PROXY \r\n", Error::v1_bad_format},
        {"PROXY  TCP4 1.2.3.4 1.2.3.4 1 2\r\n", Error::v1_bad_format},
        {"PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n", Error::v1_bad_format},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1  2\r\n", Error::v1_bad_format},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n", Error::v1_bad_format},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", Error::v1_bad_format},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", Error::v1_bad_format},
        {"PROXY TCP4\r\n", Error::v1_bad_format},
        {"PROXY TCP4 1.2.3.4\t1.2.3.4 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP4 1.2.3.04 1.2.3.4 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP4 256.0.0.1 1.2.3.4 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP4 1.2.3.4.5 1.2.3.4 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP4 1..3.4 1.2.3.4 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP4 localhost 1.2.3.4 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP4 1.2.3.4 1.2.3.4. 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP6 1::2::3 ::1 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP6 ::1%eth0 ::1 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP6 ::ffff:01.2.3.4 ::1 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP6 [::1] ::1 1 2\r\n", Error::v1_bad_address},
        {"PROXY TCP4 ::1 1.2.3.4 1 2\r\n", Error::v1_wrong_family},
        {"PROXY TCP4 1.2.3.4 ::ffff:1.2.3.4 1 2\r\n", Error::v1_wrong_family},
        {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", Error::v1_wrong_family},
        {"PROXY TCP6 ::1 1.2.3.4 1 2\r\n", Error::v1_wrong_family},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", Error::v1_bad_port},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n", Error::v1_bad_port},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1 00\r\n", Error::v1_bad_port},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n", Error::v1_bad_port},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 +1 2\r\n", Error::v1_bad_port},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1 100000\r\n", Error::v1_bad_port},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1 0x10\r\n", Error::v1_bad_port},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2a\r\n", Error::v1_bad_port},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n", Error::v1_missing_crlf},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX", Error::v1_missing_crlf},
        {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\r\n", Error::v1_missing_crlf},
        {"PROXY UNKNOWN\n", Error::v1_missing_crlf},
        {"PROXY UNKNOWN a\rb\r\n", Error::v1_missing_crlf},
        {"PROXY UNKNOWN a\nb\r\n", Error::v1_missing_crlf},
        {"PROXY UNKNOWN " + std::string(93, 'x'), Error::v1_too_long},           // 107, no CRLF
        {"PROXY UNKNOWN " + std::string(92, 'x') + "\r\n", Error::v1_too_long},  // 108
        {"PROXY UNKNOWN " + std::string(500, 'x') + "\r\n", Error::v1_too_long},
    }));
    CAPTURE(c.text);
    check_rejected_consistently(bytes(c.text), c.error);
}

TEST_CASE("v2: valid headers") {
    struct Case {
        const char* name;
        ByteVector input;
        bool local;
        std::string source;
        std::string destination;
    };
    auto c = GENERATE_COPY(values<Case>({
        {"INET", v2(0x21, 0x11, inet_block), false, "192.0.2.1:1234", "198.51.100.7:443"},
        {"INET DGRAM", v2(0x21, 0x12, inet_block), false, "192.0.2.1:1234", "198.51.100.7:443"},
        {"INET6", v2(0x21, 0x21, inet6_block), false, "[2001:db8::1]:1234", "[::1]:443"},
        {"INET6 DGRAM", v2(0x21, 0x22, inet6_block), false, "[2001:db8::1]:1234", "[::1]:443"},
        {"UNIX path and abstract",
         v2(0x21, 0x31, concat({unix_path("/run/a.sock"), unix_path(std::string("\0front", 6))})),
         false, "unix@/run/a.sock", "abns@front"},
        {"UNIX DGRAM, empty source path",
         v2(0x21, 0x32, concat({unix_path(""), unix_path("/run/b.sock")})), false, "-",
         "unix@/run/b.sock"},
        {"UNIX path filling all 108 bytes",
         v2(0x21, 0x31, concat({unix_path(std::string(108, 'p')), unix_path("/x")})), false,
         "unix@" + std::string(108, 'p'), "unix@/x"},
        {"LOCAL", v2(0x20, 0x00, {}), true, "-", "-"},
        {"LOCAL ignores INET addresses", v2(0x20, 0x11, inet_block), true, "-", "-"},
        {"LOCAL skips its block whatever it holds", v2(0x20, 0xFF, {0x01, 0x00, 0x09}), true, "-",
         "-"},
        {"PROXY with UNSPEC", v2(0x21, 0x00, {}), true, "-", "-"},
        {"INET with a NOOP and an empty TLV",
         v2(0x21, 0x11, concat({inet_block, tlv(0x04, {1, 2, 3}), tlv(0x01, {})})), false,
         "192.0.2.1:1234", "198.51.100.7:443"},
    }));
    CAPTURE(c.name);
    const ByteVector input = concat({c.input, bytes("GET / HTTP/1.1\r\n")});
    const ParseResult r = parse_bytes(input);
    REQUIRE(r.status == ParseStatus::complete);
    CHECK(r.consumed == c.input.size());
    CHECK(r.header.version == 2);
    CHECK(r.header.local == c.local);
    CHECK(text_of(r.header.source) == c.source);
    CHECK(text_of(r.header.destination) == c.destination);
    CHECK(r.header.other_tlvs.empty());
    CHECK(r.header.alpn.empty());
}

TEST_CASE("v2: TLVs are read into the header") {
    SECTION("ALPN, AUTHORITY, UNIQUE_ID of 128 bytes, NETNS, unknown types in order") {
        const ByteVector input =
            v2(0x21, 0x11,
               concat({inet_block, tlv(0xE0, ByteVector(200, 'c')), tlv(0x01, bytes("h2")),
                       tlv(0x02, bytes("example.com")), tlv(0xF7, bytes("x")),
                       tlv(0x05, ByteVector(128, 'u')), tlv(0x04, {}), tlv(0x30, bytes("blue")),
                       tlv(0x06, {}), tlv(0x21, bytes("top-level 0x21 is not SSL"))}));
        const ParseResult r = parse_bytes(input);
        REQUIRE(r.status == ParseStatus::complete);
        CHECK(r.header.alpn == "h2");
        CHECK(r.header.authority == "example.com");
        CHECK(r.header.unique_id == std::string(128, 'u'));
        CHECK(r.header.netns == "blue");
        CHECK_FALSE(r.header.ssl.has_value());
        CHECK_FALSE(r.header.crc32c);
        const std::vector<Tlv> expected = {{0xE0, std::string(200, 'c')},
                                           {0xF7, "x"},
                                           {0x06, ""},
                                           {0x21, "top-level 0x21 is not SSL"}};
        CHECK(r.header.other_tlvs == expected);
    }
    SECTION("SSL with its sub-TLVs; unknown sub-TLVs ignored") {
        const ByteVector ssl = concat({{0x05, 0x00, 0x00, 0x00, 0x13},
                                       tlv(0x21, bytes("TLSv1.3")),
                                       tlv(0x22, bytes("client")),
                                       tlv(0x23, bytes("AES")),
                                       tlv(0x26, bytes("future")),
                                       tlv(0x24, bytes("SHA256")),
                                       tlv(0x25, bytes("RSA2048"))});
        const ParseResult r = parse_bytes(v2(0x21, 0x21, concat({inet6_block, tlv(0x20, ssl)})));
        REQUIRE(r.status == ParseStatus::complete);
        REQUIRE(r.header.ssl.has_value());
        CHECK(*r.header.ssl == SslInfo{.client_flags = 0x05,
                                       .verify = 0x13,
                                       .version = "TLSv1.3",
                                       .common_name = "client",
                                       .cipher = "AES",
                                       .signature_algorithm = "SHA256",
                                       .key_algorithm = "RSA2048"});
    }
    SECTION("a minimal SSL TLV: flags and verify only") {
        const ByteVector ssl = {0x00, 0x00, 0x00, 0x00, 0x00};
        const ParseResult r = parse_bytes(v2(0x21, 0x11, concat({inet_block, tlv(0x20, ssl)})));
        REQUIRE(r.status == ParseStatus::complete);
        CHECK(r.header.ssl == SslInfo{});
    }
    SECTION("PROXY with UNSPEC still carries TLVs") {
        const ParseResult r = parse_bytes(v2(0x21, 0x00, tlv(0x02, bytes("a.example"))));
        REQUIRE(r.status == ParseStatus::complete);
        CHECK(r.header.local);
        CHECK(r.header.authority == "a.example");
    }
}

TEST_CASE("v2: each way a header can be wrong has its error") {
    struct Case {
        const char* name;
        ByteVector input;
        Error error;
    };
    ByteVector bad_sig = v2(0x21, 0x11, inet_block);
    bad_sig[7] = 0x52;
    const ByteVector ssl_ok = {0x01, 0, 0, 0, 0};
    auto c = GENERATE_COPY(values<Case>({
        {"signature", bad_sig, Error::bad_signature},
        {"first byte", concat({{0x0E}, inet_block}), Error::bad_signature},
        {"version 1", v2(0x11, 0x11, inet_block), Error::v2_bad_version},
        {"version 3", v2(0x31, 0x11, inet_block), Error::v2_bad_version},
        {"version 0", v2(0x01, 0x11, inet_block), Error::v2_bad_version},
        {"command 2", v2(0x22, 0x11, inet_block), Error::v2_bad_command},
        {"command F", v2(0x2F, 0x11, inet_block), Error::v2_bad_command},
        {"family 0x01", v2(0x21, 0x01, inet_block), Error::v2_bad_family},
        {"family 0x10", v2(0x21, 0x10, inet_block), Error::v2_bad_family},
        {"family 0x13", v2(0x21, 0x13, inet_block), Error::v2_bad_family},
        {"family 0x30", v2(0x21, 0x30, inet_block), Error::v2_bad_family},
        {"family 0x41", v2(0x21, 0x41, inet_block), Error::v2_bad_family},
        {"INET in 11 bytes", v2(0x21, 0x11, ByteVector(11, 0)), Error::v2_address_too_short},
        {"INET6 in 35 bytes", v2(0x21, 0x21, ByteVector(35, 0)), Error::v2_address_too_short},
        {"UNIX in 215 bytes", v2(0x21, 0x31, ByteVector(215, 0)), Error::v2_address_too_short},
        {"INET6 block sent as INET", v2(0x21, 0x21, inet_block), Error::v2_address_too_short},
        {"1 byte after the block", v2(0x21, 0x11, concat({inet_block, {0x01}})),
         Error::v2_tlv_truncated},
        {"2 bytes after a TLV", v2(0x21, 0x11, concat({inet_block, tlv(0x01, {}), {0x01, 0x00}})),
         Error::v2_tlv_truncated},
        {"TLV overrun", v2(0x21, 0x11, concat({inet_block, {0x02, 0x00, 0x05, 'a', 'b'}})),
         Error::v2_tlv_overrun},
        {"TLV length 0xFFFF", v2(0x21, 0x11, concat({inet_block, {0xE0, 0xFF, 0xFF}})),
         Error::v2_tlv_overrun},
        {"two ALPNs", v2(0x21, 0x11, concat({inet_block, tlv(0x01, {'a'}), tlv(0x01, {'b'})})),
         Error::v2_duplicate_tlv},
        {"two NETNS", v2(0x21, 0x11, concat({inet_block, tlv(0x30, {}), tlv(0x30, {})})),
         Error::v2_duplicate_tlv},
        {"two SSL", v2(0x21, 0x11, concat({inet_block, tlv(0x20, ssl_ok), tlv(0x20, ssl_ok)})),
         Error::v2_duplicate_tlv},
        {"CRC32C of 3 bytes", v2(0x21, 0x11, concat({inet_block, tlv(0x03, {0, 0, 0})})),
         Error::v2_bad_crc32c_length},
        {"CRC32C zero", v2(0x21, 0x11, concat({inet_block, tlv(0x03, {0, 0, 0, 0})})),
         Error::v2_bad_crc32c},
        {"UNIQUE_ID of 129 bytes", v2(0x21, 0x11, concat({inet_block, tlv(0x05, ByteVector(129))})),
         Error::v2_unique_id_too_long},
        {"SSL of 4 bytes", v2(0x21, 0x11, concat({inet_block, tlv(0x20, {1, 0, 0, 0})})),
         Error::v2_bad_ssl_tlv},
        {"SSL sub-TLV overrun",
         v2(0x21, 0x11, concat({inet_block, tlv(0x20, concat({ssl_ok, {0x21, 0x00, 0x09, 'T'}}))})),
         Error::v2_bad_ssl_tlv},
        {"SSL ends mid-sub-TLV",
         v2(0x21, 0x11, concat({inet_block, tlv(0x20, concat({ssl_ok, {0x22, 0x00}}))})),
         Error::v2_bad_ssl_tlv},
        {"SSL VERSION twice",
         v2(0x21, 0x11,
            concat({inet_block, tlv(0x20, concat({ssl_ok, tlv(0x21, {'a'}), tlv(0x21, {'b'})}))})),
         Error::v2_bad_ssl_tlv},
        {"longer than 4096", v2(0x21, 0x11, ByteVector(4096 - 16 + 1, 0)), Error::header_too_long},
        {"LOCAL longer than 4096", v2(0x20, 0x00, ByteVector(4096, 0)), Error::header_too_long},
    }));
    CAPTURE(c.name);
    check_rejected_consistently(c.input, c.error);
}

TEST_CASE("decisions come as soon as the bytes show them") {
    struct Case {
        const char* name;
        ByteVector input;
        std::size_t decided_at;  // the shortest prefix that is invalid
        Error error;
    };
    auto c = GENERATE_COPY(values<Case>({
        {"HTTP", bytes("GET / HTTP/1.1\r\n"), 1, Error::bad_signature},
        {"TLS ClientHello", {0x16, 0x03, 0x01, 0x02, 0x00}, 1, Error::bad_signature},
        {"PROXY misspelt", bytes("PROXI TCP4"), 5, Error::bad_signature},
        {"v2 signature broken", bytes("\r\n\r\nX"), 5, Error::bad_signature},
        {"protocol", bytes("PROXY TCP5 1.2.3.4"), 10, Error::v1_bad_protocol},
        // "01" could still start an IPv6 address (a wrong family, not a bad address): wait.
        {"leading zero", bytes("PROXY TCP4 1.2.3.4 1.01"), 23, Error::v1_bad_address},
        {"octet over 255", bytes("PROXY TCP4 1.2.3.256"), 20, Error::v1_bad_address},
        {"port over 65535", bytes("PROXY TCP4 1.2.3.4 1.2.3.4 70000"), 32, Error::v1_bad_port},
        {"double space", bytes("PROXY TCP4  1.2.3.4"), 12, Error::v1_bad_format},
        {"no CRLF", bytes("PROXY UNKNOWN " + std::string(200, 'x')), 107, Error::v1_too_long},
        {"v2 version", v2(0x11, 0x11, inet_block), 13, Error::v2_bad_version},
        {"v2 command", v2(0x23, 0x11, inet_block), 13, Error::v2_bad_command},
        {"v2 family", v2(0x21, 0x14, inet_block), 14, Error::v2_bad_family},
        {"v2 short block", v2(0x21, 0x11, ByteVector(8, 0)), 16, Error::v2_address_too_short},
        {"v2 too long", v2(0x21, 0x11, ByteVector(5000, 0)), 16, Error::header_too_long},
    }));
    CAPTURE(c.name);
    const auto prefix = [&](std::size_t n) {
        return parse_bytes(ByteVector(c.input.begin(), c.input.begin() + n));
    };
    CHECK(prefix(c.decided_at - 1).status == ParseStatus::need_more);
    const ParseResult r = prefix(c.decided_at);
    CHECK(r.status == ParseStatus::invalid);
    CHECK(r.error == c.error);
}

TEST_CASE("every strict prefix of a valid header needs more; payload is not consumed") {
    V2Extras extras;
    extras.alpn = "h2";
    extras.authority = "example.com";
    extras.crc32c = true;
    extras.ssl = SslInfo{.client_flags = 1,
                         .verify = 0,
                         .version = "TLSv1.3",
                         .common_name = "",
                         .cipher = "TLS_AES_128_GCM_SHA256",
                         .signature_algorithm = "",
                         .key_algorithm = ""};
    const SocketAddress v4 = addr("192.0.2.1:1234");
    const SocketAddress v6 = addr("[2001:db8::1]:443");
    const std::vector<ByteVector> headers = {
        bytes("PROXY TCP4 192.0.2.1 198.51.100.7 1234 443\r\n"),
        bytes("PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 1 65535\r\n"),
        bytes("PROXY UNKNOWN\r\n"),
        bytes("PROXY UNKNOWN whatever\r\n"),
        v2(0x20, 0x00, {}),
        v2(0x21, 0x11, inet_block),
        v2(0x21, 0x31, concat({unix_path("/a"), unix_path("/b")})),
        bytes(encode_v2(&v4, &v6, extras)),
    };
    const ByteVector payload = bytes("\x16\x03\x01 client hello");
    for (const ByteVector& header : headers) {
        CAPTURE(std::string(header.begin(), header.end()));
        for (std::size_t cut = 0; cut < header.size(); ++cut) {
            CAPTURE(cut);
            const ParseResult r = parse_bytes(ByteVector(header.begin(), header.begin() + cut));
            CHECK(r.status == ParseStatus::need_more);
            CHECK(r.consumed == 0);
        }
        CHECK(parse_bytes(header).consumed == header.size());
        const ParseResult r = parse_bytes(concat({header, payload}));
        CHECK(r.status == ParseStatus::complete);
        CHECK(r.consumed == header.size());
    }
}

TEST_CASE("CRC32C: the sender's checksum is verified over the whole header") {
    const SocketAddress src = addr("192.0.2.1:1234");
    const SocketAddress dst = addr("198.51.100.7:443");
    V2Extras extras;
    extras.crc32c = true;
    extras.alpn = "h2";
    const ByteVector good = bytes(encode_v2(&src, &dst, extras));
    const ParseResult ok = parse_bytes(good);
    REQUIRE(ok.status == ParseStatus::complete);
    CHECK(ok.header.crc32c);
    CHECK(ok.header.alpn == "h2");
    // Changing a port, an address or a TLV value breaks it; so does changing the checksum.
    const std::size_t changed = GENERATE(16, 20, 26, 31, 32, 33, 34, 39);
    CAPTURE(changed);
    ByteVector bad = good;
    bad[changed] ^= 0x01;
    check_rejected_consistently(bad, Error::v2_bad_crc32c);
}

TEST_CASE("HAProxy's regression cases") {
    SECTION("an AUTHORITY TLV reaches the application") {
        const ParseResult r =
            parse_bytes(v2(0x21, 0x11, concat({inet_block, tlv(0x02, bytes("haproxy.org"))})));
        REQUIRE(r.status == ParseStatus::complete);
        CHECK(r.header.authority == "haproxy.org");
    }
    SECTION("bytes after the declared length are payload") {
        const ByteVector header = v2(0x21, 0x11, inet_block);
        const ByteVector input = concat({header, tlv(0x02, bytes("not header"))});
        const ParseResult r = parse_bytes(input);
        REQUIRE(r.status == ParseStatus::complete);
        CHECK(r.consumed == header.size());
        CHECK(r.header.authority.empty());
    }
    SECTION("a TLV length overrunning the header is rejected") {
        ByteVector input = v2(0x21, 0x11, concat({inet_block, tlv(0x02, bytes("haproxy.org"))}));
        input[30] = 0x0C;  // the TLV now claims one byte more than the header holds
        const ParseResult r = parse_bytes(concat({input, bytes("x")}));
        CHECK(r.status == ParseStatus::invalid);
        CHECK(r.error == Error::v2_tlv_overrun);
    }
    SECTION("a header ending mid-TLV is rejected") {
        ByteVector input = v2(0x21, 0x11, concat({inet_block, tlv(0x02, bytes("haproxy.org"))}));
        input[15] -= 12;  // the length now stops after the TLV's type byte
        const ParseResult r = parse_bytes(input);
        CHECK(r.status == ParseStatus::invalid);
        CHECK(r.error == Error::v2_tlv_truncated);
    }
    SECTION("custom TLVs 0xE0-0xEF of 128 bytes and more are kept") {
        const std::size_t size = GENERATE(0, 1, 127, 128, 129, 256, 1000);
        ByteVector block = inet_block;
        std::vector<Tlv> expected;
        for (std::uint8_t type = 0xE0; type <= 0xEF; ++type) {
            const ByteVector value(size, type);
            block = concat({block, tlv(type, value)});
            expected.push_back({type, std::string(value.begin(), value.end())});
        }
        ParseLimits limits;
        limits.max_v2_length = 65536 + 16;
        const ParseResult r = parse_bytes(v2(0x21, 0x11, block), limits);
        REQUIRE(r.status == ParseStatus::complete);
        CHECK(r.header.other_tlvs == expected);
    }
    SECTION("v1 then v2 through two proxies keeps the client address") {
        const ParseResult first =
            parse_bytes(bytes("PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n"));
        REQUIRE(first.status == ParseStatus::complete);
        const std::string second_hop = encode_v2(&*first.header.source, &*first.header.destination);
        const ParseResult second = parse_bytes(bytes(second_hop));
        REQUIRE(second.status == ParseStatus::complete);
        CHECK(text_of(second.header.source) == "[2001:db8::7]:40000");
        CHECK(text_of(second.header.destination) == "[2001:db8::1]:443");
        const ParseResult third =
            parse_bytes(bytes(encode_v1(&*second.header.source, &*second.header.destination)));
        CHECK(third.header == first.header);
    }
}

TEST_CASE("the v2 length limit applies to the whole header") {
    ParseLimits limits;
    limits.max_v2_length = 16 + 12 + 8;
    const ByteVector at_limit = v2(0x21, 0x11, concat({inet_block, tlv(0xE1, bytes("12345"))}));
    REQUIRE(at_limit.size() == limits.max_v2_length);
    CHECK(parse_bytes(at_limit, limits).status == ParseStatus::complete);
    const ByteVector over = v2(0x21, 0x11, concat({inet_block, tlv(0xE1, bytes("123456"))}));
    const ParseResult r = parse_bytes(ByteVector(over.begin(), over.begin() + 16), limits);
    CHECK(r.status == ParseStatus::invalid);
    CHECK(r.error == Error::header_too_long);
}

TEST_CASE("encode then parse gives back the addresses, for every combination") {
    const char* const all[] = {"192.0.2.1:1234",        "0.0.0.0:0",  "255.255.255.255:65535",
                               "[2001:db8::1]:443",     "[::]:1",     "[::ffff:10.0.0.1]:8080",
                               "[fe80::1:2:3:4]:65535", "abns@front", "abnsz@w1",
                               "unix@/run/s.sock"};
    const char* source_text = GENERATE_REF(from_range(std::begin(all), std::end(all)));
    const char* destination_text = GENERATE_REF(from_range(std::begin(all), std::end(all)));
    const SocketAddress source = addr(source_text);
    const SocketAddress destination = addr(destination_text);
    CAPTURE(source_text, destination_text);

    // What the receiver should see: the same, IPv4 mapped when the other end is IPv6, nothing
    // when either end is a unix socket.
    const bool inet = source.is_inet() && destination.is_inet();
    const bool mixed = inet && source.family() != destination.family();
    const auto expect = [&](const SocketAddress& a) -> std::string {
        if (!inet) {
            return "-";
        }
        if (mixed && a.family() == tierlb::AddressFamily::ipv4) {
            return "[::ffff:" + a.host() + "]:" + std::to_string(a.port());
        }
        return a.to_string();
    };
    for (const std::string& encoded :
         {encode_v1(&source, &destination), encode_v2(&source, &destination)}) {
        const ParseResult r = parse_bytes(bytes(encoded));
        REQUIRE(r.status == ParseStatus::complete);
        CHECK(r.consumed == encoded.size());
        CHECK(r.header.local == !inet);
        CHECK(text_of(r.header.source) == expect(source));
        CHECK(text_of(r.header.destination) == expect(destination));
        if (inet) {
            CHECK(*r.header.source == *tierlb::parse_address(expect(source), AddressUse::bind));
        }
    }
}

TEST_CASE("encode then parse gives back every TLV") {
    const SocketAddress source = addr("[2001:db8::9]:5555");
    const SocketAddress destination = addr("192.0.2.80:443");
    V2Extras extras;
    extras.alpn = "http/1.1";
    extras.authority = "www.example.com";
    extras.unique_id = std::string(128, 'i');
    extras.netns = "ns1";
    extras.crc32c = true;
    extras.ssl = SslInfo{.client_flags = 0x07,
                         .verify = 0xFFFFFFFF,
                         .version = "TLSv1.2",
                         .common_name = "Client CN",
                         .cipher = "ECDHE-RSA-AES128-GCM-SHA256",
                         .signature_algorithm = "RSA-SHA256",
                         .key_algorithm = "RSA2048"};
    extras.other_tlvs = {{0xE0, std::string(300, '\0')}, {0xF0, "exp"}, {0x99, ""}};
    const ParseResult r = parse_bytes(bytes(encode_v2(&source, &destination, extras)));
    REQUIRE(r.status == ParseStatus::complete);
    Header expected;
    expected.version = 2;
    expected.source = source;
    expected.destination = addr("[::ffff:192.0.2.80]:443");
    expected.alpn = extras.alpn;
    expected.authority = extras.authority;
    expected.unique_id = extras.unique_id;
    expected.netns = extras.netns;
    expected.crc32c = true;
    expected.ssl = extras.ssl;
    expected.other_tlvs = extras.other_tlvs;
    CHECK(r.header == expected);
}

TEST_CASE("every error has its own description") {
    std::vector<std::string> seen;
    for (int e = static_cast<int>(Error::none); e <= static_cast<int>(Error::header_too_long);
         ++e) {
        const std::string text = describe(static_cast<Error>(e));
        CAPTURE(e, text);
        CHECK(std::find(seen.begin(), seen.end(), text) == seen.end());
        CHECK((e == 0 || text.find("PROXY") != std::string::npos));
        seen.push_back(text);
    }
    CHECK(std::string(describe(Error::v2_bad_crc32c)) == "bad PROXY v2 CRC32C");
}
