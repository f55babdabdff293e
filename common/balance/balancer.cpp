#include "common/balance/balancer.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

#include "common/balance/first.hpp"
#include "common/balance/leastconn.hpp"
#include "common/balance/roundrobin.hpp"
#include "common/balance/source.hpp"

namespace tierlb::balance {

std::unique_ptr<Balancer> Balancer::create(Algorithm algorithm, std::vector<ServerParams> servers) {
    std::unique_ptr<Balancer> balancer;
    switch (algorithm) {
        case Algorithm::roundrobin:
            balancer = std::make_unique<RoundRobin>(std::move(servers));
            break;
        case Algorithm::leastconn:
            balancer = std::make_unique<LeastConn>(std::move(servers));
            break;
        case Algorithm::source:
            balancer = std::make_unique<Source>(std::move(servers));
            break;
        case Algorithm::first:
            balancer = std::make_unique<First>(std::move(servers));
            break;
    }
    // The hooks are virtual, so the algorithm hears of the servers once it is constructed.
    balancer->start();
    return balancer;
}

Balancer::Balancer(std::vector<ServerParams> servers) {
    servers_.reserve(servers.size());
    for (auto& params : servers) {
        params.weight = std::min(params.weight, max_weight);
        servers_.push_back(Server{params, 0});
    }
}

Balancer::~Balancer() = default;

void Balancer::start() {
    for (std::size_t s = 0; s < servers_.size(); ++s) {
        if (!in_service(s)) {
            continue;
        }
        if (servers_[s].params.backup) {
            backups_in_service_.insert(s);
        } else {
            ++active_in_service_;
            server_in(s);
        }
    }
}

bool Balancer::in_service(std::size_t server) const {
    const ServerParams& p = servers_[server].params;
    return p.up && p.admin == AdminState::ready && p.weight > 0;
}

bool Balancer::saturated(std::size_t server) const {
    const Server& s = servers_[server];
    return s.params.maxconn != 0 && s.load >= s.params.maxconn;
}

Pick Balancer::take(std::optional<std::uint32_t> hash) {
    std::size_t chosen = no_server;
    if (active_in_service_ > 0) {
        chosen = pick(hash);
        assert(chosen == no_server || (usable(chosen) && !servers_[chosen].params.backup));
    } else if (!backups_in_service_.empty()) {
        // Only the first backup, even when it is full: the others stay idle (no allbackups).
        chosen = *backups_in_service_.begin();
        if (saturated(chosen)) {
            chosen = no_server;
        }
    } else {
        return Pick{PickStatus::none, no_server};
    }
    if (chosen == no_server) {
        return Pick{PickStatus::saturated, no_server};
    }
    count(chosen);
    return Pick{PickStatus::chosen, chosen};
}

bool Balancer::take_server(std::size_t server) {
    assert(server < servers_.size());
    if (!usable(server)) {
        return false;
    }
    count(server);
    return true;
}

void Balancer::count(std::size_t server) {
    ++servers_[server].load;
    if (!servers_[server].params.backup) {
        load_changed(server);
    }
}

void Balancer::release(std::size_t server) {
    assert(server < servers_.size());
    Server& s = servers_[server];
    assert(s.load > 0 && "release() without a matching take()");
    if (s.load == 0) {
        return;
    }
    --s.load;
    if (!s.params.backup && in_service(server)) {
        load_changed(server);
    }
}

void Balancer::set_up(std::size_t server, bool up) {
    ServerParams next = params(server);
    next.up = up;
    apply(server, next);
}

void Balancer::set_admin(std::size_t server, AdminState admin) {
    ServerParams next = params(server);
    next.admin = admin;
    apply(server, next);
}

void Balancer::set_weight(std::size_t server, unsigned weight) {
    ServerParams next = params(server);
    next.weight = std::min(weight, max_weight);
    apply(server, next);
}

// Every state change goes through here: it works out whether the server entered or left
// service, or only changed weight, and tells the backup set or the algorithm.
void Balancer::apply(std::size_t server, const ServerParams& next) {
    assert(server < servers_.size());
    const bool was_in = in_service(server);
    const unsigned old_weight = servers_[server].params.weight;
    servers_[server].params = next;
    const bool now_in = in_service(server);

    if (next.backup) {
        if (now_in) {
            backups_in_service_.insert(server);
        } else {
            backups_in_service_.erase(server);
        }
        return;
    }
    if (was_in && !now_in) {
        --active_in_service_;
        server_out(server);
    } else if (!was_in && now_in) {
        ++active_in_service_;
        server_in(server);
    } else if (now_in && old_weight != next.weight) {
        weight_changed(server, old_weight);
    }
}

// ServerHeap

Balancer::ServerHeap::ServerHeap(std::size_t servers) : position_(servers, absent), keys_(servers) {
    heap_.reserve(servers);
}

void Balancer::ServerHeap::set(std::size_t server, Key key) {
    keys_[server] = key;
    if (!contains(server)) {
        heap_.push_back(server);  // within the reserved capacity: no allocation
        position_[server] = heap_.size() - 1;
    }
    // The key may have moved either way; at most one of the two sifts moves it.
    sift_up(position_[server]);
    sift_down(position_[server]);
}

void Balancer::ServerHeap::erase(std::size_t server) {
    const std::size_t at = position_[server];
    if (at == absent) {
        return;
    }
    const std::size_t last = heap_.back();
    heap_.pop_back();
    position_[server] = absent;
    if (last != server) {
        place(at, last);
        sift_up(at);
        sift_down(position_[last]);
    }
}

void Balancer::ServerHeap::lower_majors(std::uint64_t delta) {
    for (const std::size_t server : heap_) {
        assert(keys_[server].major >= delta);
        keys_[server].major -= delta;
    }
}

void Balancer::ServerHeap::place(std::size_t at, std::size_t server) {
    heap_[at] = server;
    position_[server] = at;
}

void Balancer::ServerHeap::sift_up(std::size_t at) {
    while (at > 0) {
        const std::size_t parent = (at - 1) / 2;
        if (!before(at, parent)) {
            return;
        }
        const std::size_t moving = heap_[at];
        place(at, heap_[parent]);
        place(parent, moving);
        at = parent;
    }
}

void Balancer::ServerHeap::sift_down(std::size_t at) {
    for (;;) {
        std::size_t smallest = at;
        const std::size_t left = 2 * at + 1;
        const std::size_t right = left + 1;
        if (left < heap_.size() && before(left, smallest)) {
            smallest = left;
        }
        if (right < heap_.size() && before(right, smallest)) {
            smallest = right;
        }
        if (smallest == at) {
            return;
        }
        const std::size_t moving = heap_[at];
        place(at, heap_[smallest]);
        place(smallest, moving);
        at = smallest;
    }
}

}  // namespace tierlb::balance
