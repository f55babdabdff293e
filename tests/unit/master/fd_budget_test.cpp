// The automatic maxconn: the descriptors a process needs anyway set aside, two per connection
// for the rest, whatever the limit (no fixed value under 200 descriptors any more).

#include "master/fd_budget.hpp"

#include <catch2/catch.hpp>
#include <sstream>

#include "config/load.hpp"

using tierlb::master::automatic_maxconn;
using tierlb::master::fd_reserve;
using tierlb::master::FdReserve;

namespace {

tierlb::config::ConfigurationPtr load(const std::string& text) {
    tierlb::config::Diagnostics diagnostics;
    auto config = tierlb::config::load_text(
        text, "test.cfg", diagnostics,
        [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
    std::ostringstream messages;
    diagnostics.print(messages);
    INFO(messages.str());
    REQUIRE(config != nullptr);
    return config;
}

const std::string two_tier =
    "global\n"
    "    stats socket /tmp/tierlb-fd-budget-p1.sock process 1\n"
    "    log 127.0.0.1:514 local0\n"
    "defaults\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n"
    "listen dispatcher\n"
    "    bind 127.0.0.1:0 process 1\n"
    "    server w2 abns@fd-budget-p2 send-proxy check\n"
    "    server w3 abns@fd-budget-p3 send-proxy check\n"
    "    server w4 abns@fd-budget-p4 send-proxy\n"
    "listen worker\n"
    "    bind abns@fd-budget-p2 process 2 accept-proxy\n"
    "    bind abns@fd-budget-p3 process 3 accept-proxy\n"
    "    bind abns@fd-budget-p4 process 4 accept-proxy\n"
    "    server app 127.0.0.1:8080\n";

}  // namespace

TEST_CASE("fd budget: listeners, checks, logs, stats and threads of each process",
          "[master][fd]") {
    const auto config = load(two_tier);
    const FdReserve dispatcher = fd_reserve(*config, 1);
    CHECK(dispatcher.listeners == 1);
    CHECK(dispatcher.checks == 2);
    CHECK(dispatcher.logs == 1);
    CHECK(dispatcher.stats == 2);
    CHECK(dispatcher.threads == 4);
    const FdReserve worker = fd_reserve(*config, 3);
    CHECK(worker.listeners == 1);
    CHECK(worker.checks == 0);
    CHECK(worker.stats == 0);
    CHECK(fd_reserve(*config, 0).listeners == 4);  // the master holds every one
}

TEST_CASE("fd budget: maxconn follows the limit, even a low one", "[master][fd]") {
    const auto config = load(two_tier);
    const FdReserve r = fd_reserve(*config, 1);
    const std::uint64_t reserved = r.total();
    SECTION("two descriptors per connection beyond the reserve") {
        for (std::uint64_t files : {std::uint64_t{64}, std::uint64_t{150}, std::uint64_t{200},
                                    std::uint64_t{201}, std::uint64_t{1024},
                                    std::uint64_t{1048576}}) {
            INFO(files << " descriptors");
            const std::uint32_t maxconn = automatic_maxconn(files, r);
            CHECK(maxconn == (files - reserved) / 2);
            CHECK(2 * std::uint64_t{maxconn} + reserved <= files);
        }
    }
    SECTION("it grows with the limit, with no step at 200") {
        CHECK(automatic_maxconn(199, r) <= automatic_maxconn(200, r));
        CHECK(automatic_maxconn(200, r) <= automatic_maxconn(201, r));
        CHECK(automatic_maxconn(201, r) - automatic_maxconn(199, r) == 1);
    }
    SECTION("fewer descriptors than the reserve: one connection at a time") {
        CHECK(automatic_maxconn(reserved, r) == 1);
        CHECK(automatic_maxconn(10, r) == 1);
    }
    SECTION("more threads, more set aside") {
        auto threaded = load("global\n    nbthread 4\n" + two_tier.substr(7));
        CHECK(fd_reserve(*threaded, 1).threads == 16);
    }
}
