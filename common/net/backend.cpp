#include "common/net/backend.hpp"

#include <algorithm>
#include <array>

namespace tierlb::net {

namespace {

balance::Algorithm algorithm_of(config::Balance b) {
    switch (b) {
        case config::Balance::roundrobin:
            return balance::Algorithm::roundrobin;
        case config::Balance::leastconn:
            return balance::Algorithm::leastconn;
        case config::Balance::source:
            return balance::Algorithm::source;
        case config::Balance::first:
            return balance::Algorithm::first;
    }
    return balance::Algorithm::roundrobin;
}

}  // namespace

// A connection waiting in the queue. Shared with whoever grants it a server, which may run on
// another thread: the grant is recorded under the backend's lock and the waiter is woken on
// its own thread by cancelling its timer there.
struct BackendRuntime::Waiter {
    Waiter(Executor executor, std::optional<std::uint32_t> source_hash)
        : timer(executor), hash(source_hash) {}
    Timer timer;
    std::optional<std::uint32_t> hash;  // balance source: the client keeps its server
    std::size_t granted = balance::no_server;
};

BackendRuntime::BackendRuntime(const config::Proxy& proxy) : proxy_(proxy) {
    std::vector<balance::ServerParams> params;
    for (const auto& s : proxy.servers) {
        auto runtime = std::make_unique<ServerRuntime>();
        runtime->config = &s;
        has_handoff_servers_ = has_handoff_servers_ || s.options.handoff;
        runtime->weight = s.options.weight;
        runtime->admin =
            s.options.disabled ? balance::AdminState::maint : balance::AdminState::ready;
        params.push_back(
            {s.options.weight, s.options.maxconn, s.options.backup, true, runtime->admin});
        servers_.push_back(std::move(runtime));
    }
    balancer_ = balance::Balancer::create(algorithm_of(proxy.balance), std::move(params));
}

std::optional<std::size_t> BackendRuntime::find_server(std::string_view name) const {
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        if (servers_[i]->config->name == name) {
            return i;
        }
    }
    return std::nullopt;
}

// The balancer's choice, steered away from AVOID when another server can take it: the
// avoided pick is held while asking again (so the algorithm's next best comes out), then
// given back.
balance::Pick BackendRuntime::pick_locked(std::optional<std::uint32_t> hash, std::size_t avoid) {
    balance::Pick pick = balancer_->take(hash);
    if (pick.status == balance::PickStatus::chosen && pick.server == avoid) {
        std::array<std::size_t, 4> held{};
        std::size_t held_count = 0;
        held[held_count++] = pick.server;
        balance::Pick other{};
        while (held_count < held.size()) {
            other = balancer_->take(hash);
            if (other.status != balance::PickStatus::chosen || other.server != avoid) {
                break;
            }
            held[held_count++] = other.server;
        }
        for (std::size_t i = 0; i < held_count; ++i) {
            balancer_->release(held[i]);
        }
        if (other.status == balance::PickStatus::chosen && other.server != avoid) {
            pick = other;
        } else {
            // A hash keeps choosing the same server: take any other that can serve.
            pick = {balance::PickStatus::chosen, avoid};
            for (std::size_t s = 0; s < servers_.size(); ++s) {
                if (s != avoid && balancer_->take_server(s)) {
                    pick.server = s;
                    break;
                }
            }
            if (pick.server == avoid && !balancer_->take_server(avoid)) {
                pick = balancer_->take(hash);
            }
        }
    }
    if (pick.status == balance::PickStatus::chosen) {
        ServerStats& stats = servers_[pick.server]->stats;
        stats.traffic.opened();
        add(stats.selected);
        add(selected_);
    }
    return pick;
}

std::optional<std::size_t> BackendRuntime::queue_limit() const {
    // HAProxy's maxqueue is per server; with one backend queue, its limit is the sum, and a
    // server without maxqueue (0) makes it unlimited.
    std::size_t total = 0;
    for (const auto& s : servers_) {
        if (s->config->options.maxqueue == 0) {
            return std::nullopt;
        }
        total += s->config->options.maxqueue;
    }
    return total;
}

Task<Acquired> BackendRuntime::acquire(std::optional<std::uint32_t> hash, std::size_t avoid) {
    Acquired result;
    std::shared_ptr<Waiter> waiter;
    {
        std::lock_guard lock(mutex_);
        const balance::Pick pick = pick_locked(hash, avoid);
        if (pick.status == balance::PickStatus::chosen) {
            result.status = AcquireStatus::chosen;
            result.server = pick.server;
        } else if (pick.status == balance::PickStatus::none) {
            result.status = AcquireStatus::no_server;
        } else if (auto limit = queue_limit(); limit && queue_.size() >= *limit) {
            result.status = AcquireStatus::queue_full;
        } else {
            waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor, hash);
            queue_.push_back(waiter);
            max_queued_ = std::max<unsigned>(max_queued_, static_cast<unsigned>(queue_.size()));
        }
    }
    if (!waiter) {
        co_return result;
    }
    const auto started = Clock::now();
    const auto& t = proxy_.timeouts;
    const auto timeout = t.queue ? t.queue : t.connect;
    if (timeout) {
        waiter->timer.expires_after(*timeout);
    } else {
        waiter->timer.expires_at(Clock::time_point::max());
    }
    co_await waiter->timer.async_wait(use_task);  // cancelled by the grant
    std::lock_guard lock(mutex_);
    result.waited = Clock::now() - started;
    if (waiter->granted != balance::no_server) {
        result.status = AcquireStatus::chosen;
        result.server = waiter->granted;
    } else {
        queue_.erase(std::find(queue_.begin(), queue_.end(), waiter));
        result.status = AcquireStatus::queue_timeout;
    }
    co_return result;
}

// Gives freed slots to the oldest waiters, in order (first come, first served: a waiter whose
// server is still full holds the others back, as in HAProxy's queue).
void BackendRuntime::grant_locked() {
    while (!queue_.empty()) {
        const balance::Pick pick = pick_locked(queue_.front()->hash, balance::no_server);
        if (pick.status != balance::PickStatus::chosen) {
            return;
        }
        std::shared_ptr<Waiter> waiter = std::move(queue_.front());
        queue_.pop_front();
        waiter->granted = pick.server;
        asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
    }
}

bool BackendRuntime::take_server(std::size_t server) {
    std::lock_guard lock(mutex_);
    if (!balancer_->take_server(server)) {
        return false;
    }
    servers_[server]->stats.traffic.opened();
    return true;
}

// HAProxy counts an abort when one side broke the data transfer off or let it time out
// (termination "CD", "cD", "SD", "sD"), and averages the times of sessions that got connected.
void BackendRuntime::count_end(std::size_t server, const SessionEnd& end) {
    ServerStats& stats = servers_[server]->stats;
    if (end.phase == 'D' && (end.who == 'C' || end.who == 'c')) {
        add(stats.client_aborts);
        add(client_aborts_);
    } else if (end.phase == 'D' && (end.who == 'S' || end.who == 's')) {
        add(stats.server_aborts);
        add(server_aborts_);
    }
    if (end.connect_ms < 0) {
        return;
    }
    const auto ms = [](std::int64_t v) { return static_cast<std::uint64_t>(v < 0 ? 0 : v); };
    stats.times.add(ms(end.queue_ms), ms(end.connect_ms), ms(end.total_ms));
    times_.add(ms(end.queue_ms), ms(end.connect_ms), ms(end.total_ms));
}

void BackendRuntime::release(std::size_t server) {
    std::lock_guard lock(mutex_);
    balancer_->release(server);
    servers_[server]->stats.traffic.closed();
    grant_locked();
}

void BackendRuntime::set_up(std::size_t server, bool up) {
    std::lock_guard lock(mutex_);
    if (servers_[server]->up != up) {
        servers_[server]->up = up;
        servers_[server]->last_change = Clock::now();
    }
    balancer_->set_up(server, up);
    grant_locked();
}

void BackendRuntime::set_admin(std::size_t server, balance::AdminState admin) {
    std::lock_guard lock(mutex_);
    if (servers_[server]->admin != admin) {
        servers_[server]->admin = admin;
        servers_[server]->last_change = Clock::now();
    }
    balancer_->set_admin(server, admin);
    grant_locked();
}

void BackendRuntime::set_weight(std::size_t server, unsigned weight) {
    std::lock_guard lock(mutex_);
    servers_[server]->weight = weight;
    balancer_->set_weight(server, weight);
    grant_locked();
}

BackendRuntime::ServerView BackendRuntime::view(std::size_t server) const {
    std::lock_guard lock(mutex_);
    const ServerRuntime& s = *servers_[server];
    return {
        balancer_->load(server),  s.up,         balancer_->in_service(server), s.admin, s.weight,
        s.config->options.backup, s.last_change};
}

unsigned BackendRuntime::queued() const {
    std::lock_guard lock(mutex_);
    return static_cast<unsigned>(queue_.size());
}

unsigned BackendRuntime::max_queued() const {
    std::lock_guard lock(mutex_);
    return max_queued_;
}

unsigned BackendRuntime::active_in_service() const {
    std::lock_guard lock(mutex_);
    return balancer_->active_usable_count();
}

unsigned BackendRuntime::backup_in_service() const {
    std::lock_guard lock(mutex_);
    return balancer_->backup_usable_count();
}

}  // namespace tierlb::net
