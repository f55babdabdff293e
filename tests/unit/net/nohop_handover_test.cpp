// The master's handover of accept-balance groups to a process, through the environment.

#include <catch2/catch.hpp>
#include <string>

#include "common/net/nohop_handover.hpp"

using tierlb::net::decode_nohop;
using tierlb::net::encode_nohop;
using tierlb::net::NohopHandover;
using tierlb::net::NohopHandovers;

TEST_CASE("nohop handover: what is encoded decodes the same", "[nohop]") {
    NohopHandovers handovers;
    handovers["web/1"] = NohopHandover{7, 8, 2, true};
    handovers["api/3"] = NohopHandover{11, 12, 0, false};
    const std::string text = encode_nohop(handovers);
    CHECK(text == "api/3=11,12,0,0;web/1=7,8,2,1");
    const NohopHandovers back = decode_nohop(text);
    REQUIRE(back.size() == 2);
    CHECK(back.at("web/1").sockets_fd == 7);
    CHECK(back.at("web/1").table_fd == 8);
    CHECK(back.at("web/1").slot == 2);
    CHECK(back.at("web/1").migrates);
    CHECK_FALSE(back.at("api/3").migrates);
    CHECK(decode_nohop("").empty());
}

TEST_CASE("nohop handover: entries that do not parse are left out", "[nohop]") {
    const auto bad =
        GENERATE(as<std::string>{}, "web/1", "web/1=", "web/1=7,8,2", "web/1=7,8,2,1,5",
                 "web/1=7,x,2,1", "web/1=-7,8,2,1", "web/1=7,8,2,2", "web/1=7,,2,1");
    INFO(bad);
    const NohopHandovers decoded = decode_nohop(bad + ";ok/1=3,4,1,0");
    CHECK(decoded.size() == 1);
    CHECK(decoded.count("ok/1") == 1);
}
