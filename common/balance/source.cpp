#include "common/balance/source.hpp"

#include <cassert>
#include <cstdint>
#include <numeric>
#include <utility>

namespace tierlb::balance {

Source::Source(std::vector<ServerParams> servers)
    : Balancer(std::move(servers)), divisor_(configured_divisor()) {}

const std::vector<std::size_t>& Source::slots() {
    if (stale_) {
        rebuild();
    }
    return slots_;
}

std::size_t Source::pick(std::optional<std::uint32_t> hash) {
    if (stale_) {
        rebuild();
    }
    assert(!slots_.empty());
    if (!hash) {
        return next_round_robin();
    }
    const std::size_t server = slots_[*hash % slots_.size()];
    return saturated(server) ? no_server : server;
}

// One turn around the map at most, from where the previous connection stopped.
std::size_t Source::next_round_robin() {
    if (next_slot_ >= slots_.size()) {
        next_slot_ = 0;
    }
    const std::size_t start = next_slot_;
    do {
        const std::size_t server = slots_[next_slot_];
        next_slot_ = next_slot_ + 1 == slots_.size() ? 0 : next_slot_ + 1;
        if (!saturated(server)) {
            return server;
        }
    } while (next_slot_ != start);
    return no_server;
}

// HAProxy reduces the weights by their GCD (init_server_map: lbprm.wmult) so that the map is
// as small as it can be, which also decides which slot a hash lands in. It takes the GCD once,
// over every configured server (backups and disabled ones included), and later weights are
// divided by it rounding up; so does this.
unsigned Source::configured_divisor() const {
    unsigned divisor = 0;
    for (std::size_t s = 0; s < size(); ++s) {
        divisor = std::gcd(divisor, params(s).weight);
    }
    return divisor == 0 ? 1 : divisor;
}

void Source::rebuild() {
    struct Candidate {
        std::size_t server;
        std::int64_t weight;
        std::int64_t score;
    };
    std::vector<Candidate> candidates;
    std::int64_t total = 0;
    for (std::size_t s = 0; s < size(); ++s) {
        if (in_service(s) && !params(s).backup) {
            const std::int64_t weight = (params(s).weight + divisor_ - 1) / divisor_;
            candidates.push_back({s, weight, 0});
            total += weight;
        }
    }
    slots_.assign(static_cast<std::size_t>(total), no_server);
    for (auto& slot : slots_) {
        std::size_t best = 0;
        std::int64_t best_rank = -1;
        for (std::size_t i = 0; i < candidates.size(); ++i) {
            Candidate& c = candidates[i];
            c.score += c.weight;
            // The score stays above -total, so the rank is 0..2 and never rounds negative.
            const std::int64_t rank = (c.score + total) / total;
            if (rank > best_rank) {
                best = i;
                best_rank = rank;
            }
        }
        slot = candidates[best].server;
        candidates[best].score -= total;
    }
    stale_ = false;
}

}  // namespace tierlb::balance
