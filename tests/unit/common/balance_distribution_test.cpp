// Long-run behaviour of roundrobin, source and first, and the client hash of `balance source`.

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "common/balance/balancer.hpp"
#include "common/balance/source_hash.hpp"

using tierlb::AddressUse;
using tierlb::parse_address;
using tierlb::balance::Algorithm;
using tierlb::balance::Balancer;
using tierlb::balance::PickStatus;
using tierlb::balance::ServerParams;
using tierlb::balance::source_hash;

namespace {

std::unique_ptr<Balancer> make(Algorithm algorithm, const std::vector<unsigned>& weights) {
    std::vector<ServerParams> servers;
    for (const unsigned w : weights) {
        servers.push_back(ServerParams{.weight = w});
    }
    return Balancer::create(algorithm, std::move(servers));
}

// Takes and releases at once, as short connections would: the choice, not the load, matters.
std::size_t pick_and_close(Balancer& b, std::optional<std::uint32_t> hash = std::nullopt) {
    const auto pick = b.take(hash);
    REQUIRE(pick.status == PickStatus::chosen);
    b.release(pick.server);
    return pick.server;
}

std::uint32_t hash_of(const std::string& address) {
    const auto parsed = parse_address(address, AddressUse::connect);
    REQUIRE(parsed.has_value());
    const auto hash = source_hash(*parsed);
    REQUIRE(hash.has_value());
    return *hash;
}

}  // namespace

TEST_CASE("roundrobin is smooth: every prefix stays within one pick of the weights", "[balance]") {
    const std::vector<unsigned> weights =
        GENERATE(std::vector<unsigned>{3, 1}, std::vector<unsigned>{5, 3, 1},
                 std::vector<unsigned>{1, 1, 1, 1, 8}, std::vector<unsigned>{256, 1, 17, 40});
    CAPTURE(weights);
    auto b = make(Algorithm::roundrobin, weights);
    unsigned total = 0;
    for (const unsigned w : weights) {
        total += w;
    }
    // Long enough for the virtual clock to be rebased a few times (every 256 x total picks).
    const unsigned rounds = 200000 / total;
    std::vector<unsigned> picks(weights.size(), 0);
    for (unsigned n = 1; n <= rounds * total; ++n) {
        ++picks[pick_and_close(*b)];
        for (std::size_t s = 0; s < weights.size(); ++s) {
            const double ideal = static_cast<double>(n) * weights[s] / total;
            if (std::abs(picks[s] - ideal) >= 1.0 + 1e-9) {
                FAIL("server " << s << " is " << picks[s] - ideal << " picks off after " << n);
            }
        }
    }
    for (std::size_t s = 0; s < weights.size(); ++s) {
        CHECK(picks[s] == rounds * weights[s]);
    }
}

TEST_CASE("roundrobin stays exact over a long run (its virtual clock is rebased)", "[balance]") {
    // Weights 3 and 1 move the clock by 2^30 per pick: a rebase every 1024 picks, across
    // which the pattern a b a a must go on unchanged.
    auto b = make(Algorithm::roundrobin, {3, 1});
    for (unsigned n = 0; n < 200000; ++n) {
        CAPTURE(n);
        REQUIRE(pick_and_close(*b) == (n % 4 == 1 ? 1u : 0u));
    }
}

TEST_CASE("roundrobin alternates one heavy server with many light ones", "[balance]") {
    // Plain stride scheduling would give the weight-100 server 50 picks in a row here. The
    // run is long enough for several rebases of the virtual clock (one every 51200 picks),
    // after which the pattern must not change.
    std::vector<unsigned> weights(101, 1);
    weights[0] = 100;
    auto b = make(Algorithm::roundrobin, weights);
    for (unsigned n = 0; n < 200000; ++n) {
        const std::size_t expected = n % 2 == 0 ? 0 : 1 + (n / 2) % 100;
        CAPTURE(n);
        REQUIRE(pick_and_close(*b) == expected);
    }
}

TEST_CASE("roundrobin applies a weight change at once", "[balance]") {
    auto b = make(Algorithm::roundrobin, {1, 1});
    for (int i = 0; i < 101; ++i) {
        pick_and_close(*b);
    }
    b->set_weight(0, 3);
    unsigned to_first = 0;
    for (int i = 0; i < 400; ++i) {
        to_first += pick_and_close(*b) == 0 ? 1 : 0;
    }
    CHECK(to_first >= 299);
    CHECK(to_first <= 301);
}

TEST_CASE("roundrobin: a raised weight shortens the wait already under way", "[balance]") {
    // 101 servers of weight 1; server 0 has just been picked, so its next turn is a whole
    // round away, behind the hundred others.
    auto b = make(Algorithm::roundrobin, std::vector<unsigned>(101, 1));
    REQUIRE(pick_and_close(*b) == 0);
    b->set_weight(0, 100);
    unsigned to_first = 0;
    for (int i = 0; i < 20; ++i) {
        to_first += pick_and_close(*b) == 0 ? 1 : 0;
    }
    // Its share is now one pick in two, after a wait rescaled to about three picks; keeping
    // the old wait would leave it out of these 20 picks altogether.
    CHECK(to_first >= 8);
}

TEST_CASE("roundrobin skips a full server and catches up without a burst", "[balance]") {
    std::vector<ServerParams> servers(3);
    servers[0].maxconn = 2;
    auto b = Balancer::create(Algorithm::roundrobin, servers);
    std::vector<std::size_t> open;
    for (int i = 0; i < 9; ++i) {
        open.push_back(b->take().server);
    }
    CHECK(b->load(0) == 2);
    CHECK(b->load(1) + b->load(2) == 7);
    b->release(0);
    // Server 0 has a free slot again: it gets one of the next two picks, not a run of them.
    const std::size_t a = b->take().server;
    const std::size_t c = b->take().server;
    CHECK((a == 0) != (c == 0));
}

TEST_CASE("source keeps each client on its server while nothing changes", "[balance]") {
    auto b = make(Algorithm::source, {1, 2, 1, 3});
    std::mt19937 random(99);
    std::vector<std::uint32_t> clients(2000);
    for (auto& c : clients) {
        c = random();
    }
    std::vector<std::size_t> first_choice;
    for (const auto c : clients) {
        first_choice.push_back(pick_and_close(*b, c));
    }
    // Other traffic and loads do not move anyone.
    for (int i = 0; i < 50; ++i) {
        b->take(random());
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
        CHECK(pick_and_close(*b, clients[i]) == first_choice[i]);
    }
    // A server going down remaps; coming back restores the same map.
    b->set_up(1, false);
    for (const auto c : clients) {
        CHECK(pick_and_close(*b, c) != 1);
    }
    b->set_up(1, true);
    for (std::size_t i = 0; i < clients.size(); ++i) {
        CHECK(pick_and_close(*b, clients[i]) == first_choice[i]);
    }
}

TEST_CASE("source spreads clients by weight", "[balance]") {
    auto b = make(Algorithm::source, {1, 2, 1});
    std::mt19937 random(4242);
    std::vector<unsigned> picks(3, 0);
    const int clients = 40000;
    for (int i = 0; i < clients; ++i) {
        // Random IPv4 clients, hashed as HAProxy does.
        in_addr ip{htonl(static_cast<std::uint32_t>(random()))};
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &ip, text, sizeof(text));
        ++picks[pick_and_close(*b, hash_of(std::string(text) + ":1000"))];
    }
    CHECK(picks[0] / double(clients) == Approx(0.25).margin(0.01));
    CHECK(picks[1] / double(clients) == Approx(0.50).margin(0.01));
    CHECK(picks[2] / double(clients) == Approx(0.25).margin(0.01));
}

TEST_CASE("source hash is HAProxy's: the IP as big-endian words XORed, no port", "[balance]") {
    struct Row {
        const char* address;
        std::uint32_t hash;
    };
    const Row row = GENERATE(values<Row>({
        {"10.0.0.1:1234", 0x0a000001},
        {"10.0.0.1:80", 0x0a000001},
        {"192.0.2.200:1", 0xc00002c8},
        {"[::1]:80", 0x00000001},
        {"[2001:db8::1]:443", 0x20010db9},
        {"[2001:db8:1:2:3:4:5:6]:1", 0x20010db8 ^ 0x00010002 ^ 0x00030004 ^ 0x00050006},
        // IPv4-mapped: the four words fold, so not the IPv4 value (HAProxy does the same).
        {"[::ffff:10.0.0.1]:1", 0x0000ffff ^ 0x0a000001},
    }));
    CAPTURE(row.address);
    CHECK(hash_of(row.address) == row.hash);
}

TEST_CASE("a unix-socket client has no source hash", "[balance]") {
    const auto text = GENERATE(as<std::string>{}, "abns@client", "unix@/run/client.sock");
    const auto parsed = parse_address(text, AddressUse::bind);
    REQUIRE(parsed.has_value());
    CHECK_FALSE(source_hash(*parsed).has_value());
}

TEST_CASE("first keeps later servers idle until the earlier ones are full", "[balance]") {
    std::vector<ServerParams> servers(4);
    for (auto& s : servers) {
        s.maxconn = 10;
    }
    auto b = Balancer::create(Algorithm::first, servers);
    for (int i = 0; i < 25; ++i) {
        REQUIRE(b->take().status == PickStatus::chosen);
    }
    CHECK(b->load(0) == 10);
    CHECK(b->load(1) == 10);
    CHECK(b->load(2) == 5);
    CHECK(b->load(3) == 0);
    b->release(1);
    CHECK(b->take().server == 1);
    CHECK(b->take().server == 2);
}
