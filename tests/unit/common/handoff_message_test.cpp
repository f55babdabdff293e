// Hand-off control messages: every type survives encode/decode, and every malformed datagram
// (short, long, another version, an unknown type, a bad address family) is refused with a
// reason rather than misread.

#include "common/handoff/message.hpp"

#include <catch2/catch.hpp>

using namespace tierlb;
using namespace tierlb::handoff;

namespace {

SocketAddress address(const char* text) {
    auto a = parse_address(text, AddressUse::connect);
    REQUIRE(a.has_value());
    return *a;
}

std::vector<Message> samples() {
    return {
        HandOff{1, 7, 1'790'000'000'123ULL, address("192.0.2.10:51000"), address("127.0.0.1:443")},
        HandOff{0xfedcba9876543210ULL, 0, 0, address("[2001:db8::5]:1"), address("[::1]:65535")},
        HandOff{3, 1, 2, std::nullopt, std::nullopt},
        Check{42},
        Accepted{43},
        Closed{44,
               3,
               1'790'000'000'123ULL,
               address("192.0.2.10:51000"),
               1'000'000'000'000ULL,
               17,
               3'600'000,
               {'C', 'D'},
               51},
        Closed{46, 0, 0, std::nullopt, 0, 0, 0, {'-', '-'}, 0},
        CheckOk{45},
        Leaving{0},
    };
}

}  // namespace

TEST_CASE("handoff messages: each type round-trips", "[handoff]") {
    for (const Message& m : samples()) {
        const auto bytes = encode(m);
        CHECK(bytes.size() <= max_message);
        const auto back = decode(bytes);
        REQUIRE(back.has_value());
        CHECK(*back == m);
    }
}

TEST_CASE("handoff messages: the addresses keep family, bytes and port", "[handoff]") {
    const HandOff m{9, 2, 5, address("[2001:db8::5]:8443"), address("10.1.2.3:80")};
    const auto back = decode(encode(m));
    REQUIRE(back.has_value());
    const auto& h = std::get<HandOff>(*back);
    CHECK(h.client->to_string() == "[2001:db8::5]:8443");
    CHECK(h.local->to_string() == "10.1.2.3:80");
}

TEST_CASE("handoff messages: malformed datagrams are refused", "[handoff]") {
    for (const Message& m : samples()) {
        const auto bytes = encode(m);
        // Every truncation, and one byte too many.
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            CHECK_FALSE(decode(std::span(bytes.data(), n)).has_value());
        }
        auto longer = bytes;
        longer.push_back(0);
        CHECK_FALSE(decode(longer).has_value());
        // Another version.
        auto other = bytes;
        other[0] = protocol_version + 1;
        const auto refused = decode(other);
        REQUIRE_FALSE(refused.has_value());
        CHECK(refused.error().find("protocol version") != std::string::npos);
    }
    auto bytes = encode(Check{1});
    bytes[1] = 99;
    REQUIRE_FALSE(decode(bytes).has_value());
    CHECK(decode(bytes).error() == "unknown message type 99");
    // An address family that is neither 4 nor 6 (nor 0, none).
    auto hand_off = encode(HandOff{1, 1, 1, address("192.0.2.1:1"), std::nullopt});
    hand_off[4 + 8 + 4 + 8] = 5;  // the client address's family byte
    CHECK_FALSE(decode(hand_off).has_value());
}

TEST_CASE("handoff messages: a length field that lies is refused", "[handoff]") {
    auto bytes = encode(Accepted{5});
    bytes[2] = 7;  // says 7 body bytes, has 8
    CHECK_FALSE(decode(bytes).has_value());
}
