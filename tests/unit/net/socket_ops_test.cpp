#include <catch2/catch.hpp>

#include "common/address.hpp"
#include "common/net/socket_ops.hpp"

using tierlb::AddressUse;
using tierlb::parse_address;
using tierlb::net::is_specific;

namespace {

bool specific(const char* text) {
    auto address = parse_address(text, AddressUse::bind);
    REQUIRE(address);
    return is_specific(*address);
}

}  // namespace

TEST_CASE("socket ops: an address every accepted connection has as its local one", "[net]") {
    CHECK(specific("127.0.0.1:443"));
    CHECK(specific("[::1]:443"));
    CHECK(specific("10.1.2.3:8443"));
    CHECK_FALSE(specific(":443"));           // any IPv4 address
    CHECK_FALSE(specific("0.0.0.0:443"));
    CHECK_FALSE(specific("[::]:443"));        // any IPv6 address
    CHECK_FALSE(specific("127.0.0.1:0"));     // the port the kernel picks
    CHECK_FALSE(specific("abns@p2"));         // not TCP
    CHECK_FALSE(specific("unix@/tmp/x.sock"));
}
