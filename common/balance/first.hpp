#pragma once
// balance first, as HAProxy 2.6's lb_fas.c: the active server with the lowest id that is in
// service and below its maxconn. Servers get ids in configuration order (tierlb has no `id`
// server option), so the lowest index. A server without maxconn takes every connection while
// it is in service; the next one only gets connections once the earlier ones are full.
//
// The servers below maxconn sit in a heap keyed by index, so skipping the full ones costs
// nothing at pick time: a server leaves the heap when it fills up and returns on a release.

#include <optional>

#include "common/balance/balancer.hpp"

namespace tierlb::balance {

class First final : public Balancer {
  public:
    explicit First(std::vector<ServerParams> servers);

    Algorithm algorithm() const override { return Algorithm::first; }

  private:
    void server_in(std::size_t server) override { reposition(server); }
    void server_out(std::size_t server) override { order_.erase(server); }
    void weight_changed(std::size_t, unsigned) override {}
    void load_changed(std::size_t server) override { reposition(server); }
    std::size_t pick(std::optional<std::uint32_t> hash) override;

    void reposition(std::size_t server);

    ServerHeap order_;
};

}  // namespace tierlb::balance
