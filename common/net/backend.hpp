#pragma once
// A backend section as it runs in one process: its servers with their counters and states,
// the balancer that chooses among them (under a lock, so counts stay exact across threads),
// and the queue of connections waiting for a server below its maxconn.

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/balance/balancer.hpp"
#include "common/net/asio.hpp"
#include "common/net/counters.hpp"
#include "common/net/handoff_target.hpp"
#include "config/model.hpp"

namespace tierlb::net {

struct ServerStats {
    TrafficCounters traffic;
    Counter connect_errors{0};   // econ
    Counter response_errors{0};  // eresp: the server failed during data
    Counter retries{0};          // wretr
    Counter redispatches{0};     // wredis
    Counter selected{0};         // lbtot
    Counter last_session{0};     // seconds since the epoch of the last connection
    Counter client_aborts{0};    // cli_abrt: transfers the client broke off
    Counter server_aborts{0};    // srv_abrt: transfers the server broke off
    SessionTimes times;          // qtime, ctime, ttime and their _max
};

// How a session that reached a server ended, for its server's and backend's figures.
struct SessionEnd {
    char who = '-';    // termination[0]: C client, S server, ...
    char phase = '-';  // termination[1]: D data transfer, ...
    std::int64_t queue_ms = 0;
    std::int64_t connect_ms = -1;  // -1: never connected (no time recorded, as in HAProxy)
    std::int64_t total_ms = 0;
};

struct ServerRuntime {
    const config::Server* config = nullptr;
    ServerStats stats;
    HandoffTarget* handoff = nullptr;  // a `handoff` server: its worker's control connection
    // Administrative state as set by the configuration or the stats socket.
    balance::AdminState admin = balance::AdminState::ready;
    unsigned weight = 1;
    bool up = true;
    Clock::time_point last_change = Clock::now();
};

enum class AcquireStatus {
    chosen,         // SERVER is counted for this connection
    no_server,      // nothing in service
    queue_full,     // maxqueue reached
    queue_timeout,  // waited `timeout queue` in vain
};

struct Acquired {
    AcquireStatus status = AcquireStatus::no_server;
    std::size_t server = balance::no_server;
    Clock::duration waited{};  // time spent in the queue
};

class BackendRuntime {
public:
    explicit BackendRuntime(const config::Proxy& proxy);
    BackendRuntime(const BackendRuntime&) = delete;
    BackendRuntime& operator=(const BackendRuntime&) = delete;

    const config::Proxy& config() const { return proxy_; }
    const std::string& name() const { return proxy_.name; }
    std::size_t size() const { return servers_.size(); }
    ServerRuntime& server(std::size_t i) { return *servers_[i]; }
    const ServerRuntime& server(std::size_t i) const { return *servers_[i]; }
    std::optional<std::size_t> find_server(std::string_view name) const;
    // Some server is a `handoff` one: a connection may leave this process as a socket.
    bool has_handoff_servers() const { return has_handoff_servers_; }

    // Chooses a server for a new connection and counts it; waits in the backend queue (up to
    // `timeout queue`, else `timeout connect`) when every server is at its maxconn. AVOID is a
    // server that just failed: another one is chosen when any other can take the connection.
    Task<Acquired> acquire(std::optional<std::uint32_t> hash,
                           std::size_t avoid = balance::no_server);

    // Counts one more connection on SERVER if it can take it now (a retry on the same server).
    bool take_server(std::size_t server);

    // A connection counted on SERVER ended; hands the slot to the oldest waiter if any.
    void release(std::size_t server);

    // The figures of a session SERVER served: aborted transfers, and its times.
    void count_end(std::size_t server, const SessionEnd& end);

    // Operational and administrative changes (health checks, stats socket).
    void set_up(std::size_t server, bool up);
    void set_admin(std::size_t server, balance::AdminState admin);
    void set_weight(std::size_t server, unsigned weight);

    // Snapshot for stats, consistent under the lock.
    struct ServerView {
        unsigned load = 0;
        bool up = true;
        bool in_service = true;
        balance::AdminState admin = balance::AdminState::ready;
        unsigned weight = 1;
        bool backup = false;
        Clock::time_point last_change{};
    };
    ServerView view(std::size_t server) const;
    unsigned queued() const;
    unsigned max_queued() const;
    unsigned active_in_service() const;
    unsigned backup_in_service() const;

    TrafficCounters& traffic() { return traffic_; }
    const TrafficCounters& traffic() const { return traffic_; }
    Counter& connect_errors() { return connect_errors_; }
    Counter& retries() { return retries_; }
    Counter& redispatches() { return redispatches_; }
    Counter& selected() { return selected_; }
    const Counter& connect_errors() const { return connect_errors_; }
    const Counter& retries() const { return retries_; }
    const Counter& redispatches() const { return redispatches_; }
    const Counter& selected() const { return selected_; }
    const Counter& client_aborts() const { return client_aborts_; }
    const Counter& server_aborts() const { return server_aborts_; }
    const SessionTimes& times() const { return times_; }

private:
    struct Waiter;

    balance::Pick pick_locked(std::optional<std::uint32_t> hash, std::size_t avoid);
    void grant_locked();
    std::optional<std::size_t> queue_limit() const;

    const config::Proxy& proxy_;
    std::vector<std::unique_ptr<ServerRuntime>> servers_;
    bool has_handoff_servers_ = false;
    mutable std::mutex mutex_;
    std::unique_ptr<balance::Balancer> balancer_;
    std::deque<std::shared_ptr<Waiter>> queue_;
    unsigned max_queued_ = 0;
    TrafficCounters traffic_;
    Counter connect_errors_{0};
    Counter retries_{0};
    Counter redispatches_{0};
    Counter selected_{0};
    Counter client_aborts_{0};
    Counter server_aborts_{0};
    SessionTimes times_;
};

}  // namespace tierlb::net
