// leastconn properties: the HAProxy key, bursts, convergence after random closes, weights in
// steady state. balance_model_test.cpp checks large backends under random churn.

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

#include "common/balance/balancer.hpp"
#include "common/balance/leastconn.hpp"

using tierlb::balance::Algorithm;
using tierlb::balance::Balancer;
using tierlb::balance::leastconn_key;
using tierlb::balance::PickStatus;
using tierlb::balance::ServerParams;

namespace {

std::unique_ptr<Balancer> leastconn(std::vector<unsigned> weights) {
    std::vector<ServerParams> servers;
    for (const unsigned w : weights) {
        servers.push_back(ServerParams{.weight = w});
    }
    return Balancer::create(Algorithm::leastconn, std::move(servers));
}

std::size_t take_chosen(Balancer& b) {
    const auto pick = b.take();
    REQUIRE(pick.status == PickStatus::chosen);
    return pick.server;
}

std::pair<unsigned, unsigned> min_max_load(const Balancer& b) {
    unsigned lo = b.load(0);
    unsigned hi = b.load(0);
    for (std::size_t s = 1; s < b.size(); ++s) {
        lo = std::min(lo, b.load(s));
        hi = std::max(hi, b.load(s));
    }
    return {lo, hi};
}

}  // namespace

TEST_CASE("leastconn key is HAProxy's (load+1)*4096/(weight*16), 0 when idle", "[balance]") {
    struct Row {
        unsigned load;
        unsigned weight;
        std::uint32_t key;
    };
    const Row row = GENERATE(values<Row>({
        {0, 1, 0},
        {0, 256, 0},
        {1, 1, 512},
        {1, 2, 256},
        {2, 2, 384},
        {1, 3, 170},  // 2 * 4096 / 48, truncated
        {3, 256, 4},
        {1, 256, 2},
        {100000, 1, 25600256},
    }));
    CAPTURE(row.load, row.weight);
    CHECK(leastconn_key(row.load, row.weight) == row.key);
}

TEST_CASE("leastconn spreads a burst evenly: 90 takes over 3 servers are 30/30/30", "[balance]") {
    auto b = leastconn({1, 1, 1});
    for (int round = 0; round < 30; ++round) {
        // Every round of three covers each server once.
        std::vector<std::size_t> chosen{take_chosen(*b), take_chosen(*b), take_chosen(*b)};
        std::sort(chosen.begin(), chosen.end());
        CHECK(chosen == std::vector<std::size_t>{0, 1, 2});
    }
    CHECK(b->load(0) == 30);
    CHECK(b->load(1) == 30);
    CHECK(b->load(2) == 30);
}

TEST_CASE("leastconn refills the emptiest servers after random closes", "[balance]") {
    const unsigned servers = GENERATE(3u, 8u);
    CAPTURE(servers);
    auto b = leastconn(std::vector<unsigned>(servers, 1));
    std::vector<std::size_t> connections;
    for (unsigned i = 0; i < 30 * servers; ++i) {
        connections.push_back(take_chosen(*b));
    }
    std::mt19937 random(20240601);
    std::shuffle(connections.begin(), connections.end(), random);
    for (int i = 0; i < 40; ++i) {
        b->release(connections.back());
        connections.pop_back();
    }
    auto [lo, hi] = min_max_load(*b);
    REQUIRE(hi - lo > 1);  // the seed does unbalance the servers
    int takes = 0;
    while (hi - lo > 1) {
        const unsigned before_min = lo;
        const std::size_t s = take_chosen(*b);
        CHECK(b->load(s) - 1 == before_min);
        std::tie(lo, hi) = min_max_load(*b);
        REQUIRE(++takes < 1000);
    }
    // Refilling took exactly the missing connections up to the old maximum (less at most one
    // per server): no take went to a server above the minimum.
    CHECK(takes <= 40);
}

TEST_CASE("leastconn gives a weight-2 server twice the connections of a weight-1 one",
          "[balance]") {
    auto b = leastconn({2, 1});
    for (int i = 0; i < 300; ++i) {
        take_chosen(*b);
    }
    // Equal keys: (l0 + 1) / 2 == (l1 + 1) / 1, so l0 = 2 * l1 + 1 at balance.
    CHECK(b->load(0) >= 199);
    CHECK(b->load(0) <= 201);
    CHECK(b->load(0) + b->load(1) == 300);

    // Steady state under churn: each close is replaced by a new connection.
    std::vector<std::size_t> open;
    for (std::size_t s = 0; s < 2; ++s) {
        open.insert(open.end(), b->load(s), s);
    }
    std::mt19937 random(7);
    unsigned picks[2] = {0, 0};
    for (int i = 0; i < 6000; ++i) {
        const std::size_t victim = std::uniform_int_distribution<std::size_t>(0, 299)(random);
        b->release(open[victim]);
        open[victim] = take_chosen(*b);
        ++picks[open[victim]];
    }
    const double share = static_cast<double>(picks[0]) / (picks[0] + picks[1]);
    CHECK(share == Approx(2.0 / 3.0).margin(0.03));
    CHECK(b->load(0) >= 197);
    CHECK(b->load(0) <= 203);
}
