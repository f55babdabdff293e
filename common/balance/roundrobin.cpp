#include "common/balance/roundrobin.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace tierlb::balance {

namespace {
// Virtual time for one pick of a weight-1 server when it is alone. Large enough that the
// rounding of scale / weight never matters, small enough that a remaining wait times a weight
// fits in 64 bits.
constexpr std::uint64_t scale = std::uint64_t{1} << 32;
// The clock only moves forward, by at most scale / (sum of weights) per pick; past this point
// every time is shifted back to near zero. That is at least 256 x (sum of weights) picks
// apart, for O(n) work: amortized O(1), and often enough that tests exercise it.
constexpr std::uint64_t rebase_at = std::uint64_t{1} << 40;
}  // namespace

RoundRobin::RoundRobin(std::vector<ServerParams> servers)
    : Balancer(std::move(servers)),
      eligible_(size()),
      waiting_(size()),
      start_(size(), 0),
      finish_(size(), 0),
      scheduled_weight_(size(), 0) {}

bool RoundRobin::scheduled(std::size_t server) const {
    return eligible_.contains(server) || waiting_.contains(server);
}

std::uint64_t RoundRobin::stride(std::size_t server) const {
    return scale / params(server).weight;
}

std::size_t RoundRobin::pick(std::optional<std::uint32_t>) {
    promote_eligible();
    if (eligible_.empty()) {
        if (waiting_.empty()) {
            return no_server;  // every server in service is full
        }
        // Rounding or a change of weights left nobody eligible: jump to the next start.
        clock_ = waiting_.key(waiting_.top()).major;
        promote_eligible();
    }
    const std::size_t server = eligible_.top();
    start_[server] = finish_[server];
    finish_[server] = start_[server] + stride(server);
    clock_ += scale / weight_sum_;
    file(server);
    if (clock_ >= rebase_at) {
        rebase();
    }
    return server;
}

void RoundRobin::load_changed(std::size_t server) {
    // A pick already moved the server; only crossing maxconn changes whether it is scheduled.
    if (saturated(server)) {
        leave(server);
    } else if (!scheduled(server)) {
        enter(server);
    }
}

void RoundRobin::weight_changed(std::size_t server, unsigned old_weight) {
    // Both weights are above 0: the server stayed in service.
    const unsigned new_weight = params(server).weight;
    if (start_[server] > clock_) {
        start_[server] = clock_ + (start_[server] - clock_) * old_weight / new_weight;
    }
    finish_[server] = start_[server] + stride(server);
    if (scheduled(server)) {
        weight_sum_ = weight_sum_ - scheduled_weight_[server] + new_weight;
        scheduled_weight_[server] = new_weight;
        file(server);
    }
}

void RoundRobin::enter(std::size_t server) {
    if (saturated(server) || scheduled(server)) {
        return;
    }
    scheduled_weight_[server] = params(server).weight;
    weight_sum_ += scheduled_weight_[server];
    // (start, finish) is already the next interval (a pick moves it on), so a server that was
    // away resumes there, or now if that has passed.
    start_[server] = std::max(clock_, start_[server]);
    finish_[server] = start_[server] + stride(server);
    file(server);
}

void RoundRobin::leave(std::size_t server) {
    if (!scheduled(server)) {
        return;
    }
    // The weight may already be 0 here (weight 0 takes a server out of service).
    weight_sum_ -= scheduled_weight_[server];
    eligible_.erase(server);
    waiting_.erase(server);
}

void RoundRobin::file(std::size_t server) {
    if (start_[server] <= clock_) {
        waiting_.erase(server);
        eligible_.set(server, {finish_[server], server});
    } else {
        eligible_.erase(server);
        waiting_.set(server, {start_[server], server});
    }
}

void RoundRobin::promote_eligible() {
    while (!waiting_.empty() && waiting_.key(waiting_.top()).major <= clock_) {
        file(waiting_.top());
    }
}

void RoundRobin::rebase() {
    // Every key in a heap is at least its top's, so subtracting the smallest keeps the order.
    std::uint64_t base = clock_;
    if (!eligible_.empty()) {
        base = std::min(base, eligible_.key(eligible_.top()).major);
    }
    if (!waiting_.empty()) {
        base = std::min(base, waiting_.key(waiting_.top()).major);
    }
    for (std::size_t s = 0; s < size(); ++s) {
        start_[s] = start_[s] > base ? start_[s] - base : 0;
        finish_[s] = finish_[s] > base ? finish_[s] - base : 0;
    }
    eligible_.lower_majors(base);
    waiting_.lower_majors(base);
    clock_ -= base;
}

}  // namespace tierlb::balance
