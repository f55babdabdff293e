#include "common/balance/first.hpp"

#include <utility>

namespace tierlb::balance {

First::First(std::vector<ServerParams> servers) : Balancer(std::move(servers)), order_(size()) {}

std::size_t First::pick(std::optional<std::uint32_t>) {
    return order_.empty() ? no_server : order_.top();
}

void First::reposition(std::size_t server) {
    if (saturated(server)) {
        order_.erase(server);
    } else if (!order_.contains(server)) {
        order_.set(server, {server, 0});
    }
}

}  // namespace tierlb::balance
