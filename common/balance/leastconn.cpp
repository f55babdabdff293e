#include "common/balance/leastconn.hpp"

#include <limits>
#include <utility>

namespace tierlb::balance {

namespace {
// HAProxy's weight scales (server-t.h, backend-t.h).
constexpr std::uint64_t be_weight_scale = 16;
constexpr std::uint64_t srv_ewght_max = max_weight * be_weight_scale;
}  // namespace

std::uint32_t leastconn_key(unsigned load, unsigned weight) {
    if (load == 0) {
        return 0;
    }
    if (weight == 0) {
        // Never in the ordering (not in service); a total function is easier on callers.
        return std::numeric_limits<std::uint32_t>::max();
    }
    const std::uint64_t eweight = std::uint64_t{weight} * be_weight_scale;
    return static_cast<std::uint32_t>((std::uint64_t{load} + 1) * srv_ewght_max / eweight);
}

LeastConn::LeastConn(std::vector<ServerParams> servers)
    : Balancer(std::move(servers)), order_(size()) {}

std::size_t LeastConn::pick(std::optional<std::uint32_t>) {
    return order_.empty() ? no_server : order_.top();
}

void LeastConn::reposition(std::size_t server) {
    if (saturated(server)) {
        order_.erase(server);
        return;
    }
    order_.set(server, {leastconn_key(load(server), params(server).weight), ++sequence_});
}

}  // namespace tierlb::balance
