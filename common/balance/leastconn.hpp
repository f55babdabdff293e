#pragma once
// balance leastconn, as HAProxy 2.6's lb_fwlc.c: the active servers in service and below
// maxconn sit in one ordering by key; a pick takes the lowest key; every take and release
// repositions the server.
//
// Key (fwlc_queue_srv): with inflight = the server's load,
//     key = inflight ? (inflight + 1) * SRV_EWGHT_MAX / eweight : 0
// where SRV_EWGHT_MAX = 256 * 16 and eweight = weight * 16 (BE_WEIGHT_SCALE; no slowstart
// here). Using inflight + 1 sorts servers by the load they would have once picked, so the
// heavier server wins among loaded ones of equal ratio; an idle server is 0 whatever its
// weight, so a quiet backend spreads over every server rather than the heaviest.
//
// Equal keys rotate: ebtrees keep duplicates in insertion order and every reposition
// re-inserts, so the server repositioned last goes last among its equals. Here a sequence
// number taken at each reposition is the second half of the key, which is the same order.
//
// A server at maxconn leaves the ordering instead of being skipped at each pick (HAProxy walks
// past it); it comes back on its next release, which repositions it in HAProxy too.

#include <cstdint>
#include <optional>

#include "common/balance/balancer.hpp"

namespace tierlb::balance {

std::uint32_t leastconn_key(unsigned load, unsigned weight);

class LeastConn final : public Balancer {
  public:
    explicit LeastConn(std::vector<ServerParams> servers);

    Algorithm algorithm() const override { return Algorithm::leastconn; }

  private:
    void server_in(std::size_t server) override { reposition(server); }
    void server_out(std::size_t server) override { order_.erase(server); }
    void weight_changed(std::size_t server, unsigned) override { reposition(server); }
    void load_changed(std::size_t server) override { reposition(server); }
    std::size_t pick(std::optional<std::uint32_t> hash) override;

    void reposition(std::size_t server);

    ServerHeap order_;
    std::uint64_t sequence_ = 0;
};

}  // namespace tierlb::balance
