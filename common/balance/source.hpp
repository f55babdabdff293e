#pragma once
// balance source, as HAProxy 2.6 with the default `hash-type map-based` (lb_map.c,
// backend.c get_server_sh): the active servers in service fill a map of slots, each server as
// many slots as its weight divided by the GCD of the configured weights (rounded up for a
// weight set later); a client goes to slot hash % slots (source_hash.hpp). The map is rebuilt
// after any change of state or weight, so a server going down remaps every client whose slot
// moved, as in HAProxy.
//
// The slots are filled in HAProxy's order (recalc_server_map): at each slot every server adds
// its weight to a score, the one with the highest score / total (integer, lowest index on a
// tie) takes the slot and pays the total back. Same configuration, same client, same server
// as HAProxy. The cost is slots x servers per rebuild; picks are a lookup.
//
// A client whose server is at maxconn waits (saturated) rather than going elsewhere: the hash
// is a promise of stickiness. A connection without a hash (a non-IP client) goes round robin
// over the map, skipping full servers, as HAProxy's map_get_server_rr fallback.

#include <cstdint>
#include <optional>
#include <vector>

#include "common/balance/balancer.hpp"

namespace tierlb::balance {

class Source final : public Balancer {
  public:
    explicit Source(std::vector<ServerParams> servers);

    Algorithm algorithm() const override { return Algorithm::source; }

    // The current map, rebuilt first if needed: slot -> server. For tests and `show` commands.
    const std::vector<std::size_t>& slots();

  private:
    void server_in(std::size_t) override { stale_ = true; }
    void server_out(std::size_t) override { stale_ = true; }
    void weight_changed(std::size_t, unsigned) override { stale_ = true; }
    void load_changed(std::size_t) override {}
    std::size_t pick(std::optional<std::uint32_t> hash) override;

    std::size_t next_round_robin();
    void rebuild();
    unsigned configured_divisor() const;

    unsigned divisor_;  // the GCD of the configured weights
    std::vector<std::size_t> slots_;
    std::size_t next_slot_ = 0;
    bool stale_ = true;
};

}  // namespace tierlb::balance
