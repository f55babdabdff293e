#pragma once
// balance roundrobin: weighted and smooth, with weight changes taking effect at once, like
// HAProxy 2.6's lb_fwrr.c, but written as WF2Q+ fair queueing (Bennett and Zhang) rather than
// fwrr's two position trees: O(log n) per pick and per change, no allocation.
//
// Each active server in service and below maxconn owns a virtual interval [start, finish)
// with finish = start + scale / weight. A virtual clock advances by scale / (sum of weights)
// per pick. A server is eligible once its start has come; the pick is the eligible server
// with the earliest finish (lowest index on a tie), whose interval then moves on by one
// stride. The eligibility rule is what makes it smooth: a heavy server cannot run ahead of
// its share, so one weight-100 server among a hundred weight-1 ones alternates with them
// instead of taking fifty picks in a row. From a fresh start every server stays within one
// pick of its exact share at all times; after arbitrary changes, within two (a server may
// start up to one interval off). Weights 3 and 1 give a b a a, a b a a, ...
//
// A server that enters (up, ready, weight > 0, or a slot freed below maxconn) resumes its
// next interval, or starts now if that has passed: a short absence or a full server neither
// earns it a burst nor costs it a turn. A weight change rescales what is left of its wait.
// take_server() counts a connection without using a turn: only picks move the schedule.

#include <cstdint>
#include <optional>
#include <vector>

#include "common/balance/balancer.hpp"

namespace tierlb::balance {

class RoundRobin final : public Balancer {
  public:
    explicit RoundRobin(std::vector<ServerParams> servers);

    Algorithm algorithm() const override { return Algorithm::roundrobin; }

  private:
    void server_in(std::size_t server) override { enter(server); }
    void server_out(std::size_t server) override { leave(server); }
    void weight_changed(std::size_t server, unsigned old_weight) override;
    void load_changed(std::size_t server) override;
    std::size_t pick(std::optional<std::uint32_t> hash) override;

    bool scheduled(std::size_t server) const;
    std::uint64_t stride(std::size_t server) const;
    void enter(std::size_t server);
    void leave(std::size_t server);
    // Files the server in the eligible or the waiting heap by its start.
    void file(std::size_t server);
    void promote_eligible();
    void rebase();

    ServerHeap eligible_;  // by (finish, index): start <= clock
    ServerHeap waiting_;   // by (start, index): start > clock, or reached since the last pick
    std::vector<std::uint64_t> start_;
    std::vector<std::uint64_t> finish_;
    std::uint64_t clock_ = 0;
    std::vector<unsigned> scheduled_weight_;  // what each scheduled server adds to the sum
    std::uint64_t weight_sum_ = 0;            // of the scheduled servers
};

}  // namespace tierlb::balance
