// Every algorithm on a large backend under random churn (takes, closes, up/down, admin states,
// weights), each take checked against a brute-force oracle written from the rules alone:
//   - no active server in service: the first backup in service, saturated if it is full,
//     none if there is no backup in service;
//   - leastconn: an accepting active server with the lowest key;
//   - first: the accepting active server with the lowest index;
//   - roundrobin: an accepting active server;
//   - source: the server of the hash's slot, saturated if it is full; and the map holds
//     each active server in service ceil(weight / GCD of the configured weights) times.
// At the end, every server's load equals the connections the test holds on it, and, once they
// are closed, roundrobin's schedule is still smooth.

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "common/balance/balancer.hpp"
#include "common/balance/leastconn.hpp"
#include "common/balance/source.hpp"

using tierlb::balance::AdminState;
using tierlb::balance::Algorithm;
using tierlb::balance::Balancer;
using tierlb::balance::leastconn_key;
using tierlb::balance::no_server;
using tierlb::balance::Pick;
using tierlb::balance::PickStatus;
using tierlb::balance::ServerParams;
using tierlb::balance::Source;

namespace {

class Churn {
  public:
    Churn(Algorithm algorithm, std::size_t servers, std::uint32_t seed) : random_(seed) {
        std::vector<ServerParams> params;
        for (std::size_t i = 0; i < servers; ++i) {
            ServerParams p;
            // Configured weights sharing a factor of 4, so the source map's GCD reduction and
            // its rounding up of the weights set later are both exercised.
            p.weight = 4 * (1 + random_() % 64);
            p.maxconn = i % 5 == 0 ? 1 + random_() % 4 : 0;
            p.backup = i + 5 >= servers;  // the last five
            params.push_back(p);
        }
        divisor_ = std::accumulate(params.begin(), params.end(), 0u,
                                   [](unsigned g, const auto& p) { return std::gcd(g, p.weight); });
        b_ = Balancer::create(algorithm, params);
    }

    void step() {
        const unsigned dice = random_() % 100;
        const std::size_t s = random_() % b_->size();
        if (dice < 55) {
            take();
        } else if (dice < 90) {
            release();
        } else if (dice < 94) {
            b_->set_up(s, !b_->params(s).up);
        } else if (dice < 97) {
            b_->set_admin(s, static_cast<AdminState>(random_() % 3));
        } else {
            b_->set_weight(s, random_() % 257);
        }
    }

    void check_loads() const {
        std::vector<unsigned> expected(b_->size(), 0);
        for (const std::size_t s : open_) {
            ++expected[s];
        }
        for (std::size_t s = 0; s < b_->size(); ++s) {
            CHECK(b_->load(s) == expected[s]);
        }
    }

    // Closes every connection, then, for roundrobin, checks that the schedule left by the
    // churn is still smooth. A server may start up to one interval off (just picked, or its
    // wait rescaled by a weight change), and WF2Q+ then keeps it within one pick of its share:
    // every prefix stays within two picks of the weights (one on a fresh start).
    void settle_and_check_smooth() {
        while (!open_.empty()) {
            release();
        }
        if (b_->algorithm() != Algorithm::roundrobin || b_->active_usable_count() == 0) {
            return;
        }
        std::uint64_t total = 0;
        for (std::size_t s = 0; s < b_->size(); ++s) {
            total += active_usable(s) ? b_->params(s).weight : 0;
        }
        std::vector<unsigned> picks(b_->size(), 0);
        for (std::uint64_t n = 1; n <= std::min<std::uint64_t>(3 * total, 20000); ++n) {
            const Pick pick = b_->take();
            REQUIRE(pick.status == PickStatus::chosen);
            b_->release(pick.server);
            ++picks[pick.server];
            for (std::size_t s = 0; s < b_->size(); ++s) {
                const double ideal =
                    active_usable(s) ? double(n) * b_->params(s).weight / double(total) : 0.0;
                if (std::abs(picks[s] - ideal) >= 2.0) {
                    FAIL("server " << s << " is " << picks[s] - ideal << " picks off after " << n);
                }
            }
        }
    }

  private:
    bool active_usable(std::size_t s) const { return !b_->params(s).backup && b_->usable(s); }

    void take() {
        const std::uint32_t hash = random_();
        // The oracle works on the state before the take, which counts the chosen server.
        const bool any_active = b_->active_usable_count() > 0;
        const std::size_t backup = first_backup();
        snapshot_keys();
        const std::size_t want = any_active ? expected_active(mapped_server(hash)) : no_server;
        const Pick pick = b_->take(hash);
        if (pick.status == PickStatus::chosen) {
            open_.push_back(pick.server);
        }
        if (!any_active) {
            check_backup_pick(pick, backup);
            return;
        }
        if (want == no_server) {
            REQUIRE(pick.status == PickStatus::saturated);
            return;
        }
        REQUIRE(pick.status == PickStatus::chosen);
        REQUIRE_FALSE(b_->params(pick.server).backup);
        REQUIRE(b_->in_service(pick.server));
        if (b_->algorithm() == Algorithm::leastconn) {
            REQUIRE(keys_[pick.server] == keys_[want]);
        } else if (b_->algorithm() != Algorithm::roundrobin) {
            REQUIRE(pick.server == want);
        }
    }

    void check_backup_pick(const Pick& pick, std::size_t backup) const {
        if (backup == no_server) {
            REQUIRE(pick.status == PickStatus::none);
        } else if (pick.status == PickStatus::chosen) {
            REQUIRE(pick.server == backup);
        } else {
            REQUIRE(pick.status == PickStatus::saturated);
            REQUIRE(b_->saturated(backup));
        }
    }

    std::size_t expected_active(std::size_t mapped) const {
        if (b_->algorithm() == Algorithm::source) {
            return b_->saturated(mapped) ? no_server : mapped;
        }
        std::size_t best = no_server;
        for (std::size_t s = 0; s < b_->size(); ++s) {
            if (b_->params(s).backup || !b_->usable(s)) {
                continue;
            }
            if (best == no_server ||
                (b_->algorithm() == Algorithm::leastconn && keys_[s] < keys_[best])) {
                best = s;
            }
        }
        return best;
    }

    std::size_t mapped_server(std::uint32_t hash) {
        if (b_->algorithm() != Algorithm::source) {
            return no_server;
        }
        const auto& slots = dynamic_cast<Source&>(*b_).slots();
        check_map(slots);
        return slots[hash % slots.size()];
    }

    void snapshot_keys() {
        keys_.resize(b_->size());
        for (std::size_t s = 0; s < b_->size(); ++s) {
            keys_[s] = leastconn_key(b_->load(s), b_->params(s).weight);
        }
    }

    void check_map(const std::vector<std::size_t>& slots) const {
        std::vector<std::size_t> count(b_->size(), 0);
        for (const std::size_t s : slots) {
            ++count[s];
        }
        for (std::size_t s = 0; s < b_->size(); ++s) {
            const bool mapped = !b_->params(s).backup && b_->in_service(s);
            const unsigned slots_wanted = (b_->params(s).weight + divisor_ - 1) / divisor_;
            REQUIRE(count[s] == (mapped ? slots_wanted : 0));
        }
    }

    std::size_t first_backup() const {
        for (std::size_t s = 0; s < b_->size(); ++s) {
            if (b_->params(s).backup && b_->in_service(s)) {
                return s;
            }
        }
        return no_server;
    }

    void release() {
        if (open_.empty()) {
            return;
        }
        const std::size_t i = random_() % open_.size();
        b_->release(open_[i]);
        open_[i] = open_.back();
        open_.pop_back();
    }

    std::mt19937 random_;
    unsigned divisor_ = 1;  // GCD of the configured weights
    std::unique_ptr<Balancer> b_;
    std::vector<std::size_t> open_;
    std::vector<std::uint32_t> keys_;  // leastconn keys before the take
};

}  // namespace

TEST_CASE("every algorithm follows its rules under random churn", "[balance]") {
    const Algorithm algorithm =
        GENERATE(Algorithm::leastconn, Algorithm::roundrobin, Algorithm::first, Algorithm::source);
    const std::size_t servers = GENERATE(6u, 40u, 300u);
    const std::uint32_t seed = GENERATE(1u, 2u);
    CAPTURE(static_cast<int>(algorithm), servers, seed);
    Churn churn(algorithm, servers, seed);
    const int steps = servers == 300 ? 6000 : 20000;
    for (int i = 0; i < steps; ++i) {
        CAPTURE(i);
        churn.step();
    }
    churn.check_loads();
    churn.settle_and_check_smooth();
}
