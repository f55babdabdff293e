#pragma once
// Server selection for one backend section, HAProxy 2.6 semantics (REFERENCE.md "leastconn
// (HAProxy semantics)"; src/backend.c, lb_fwlc.c, lb_fwrr.c, lb_map.c, lb_fas.c). Pure code:
// no sockets, no clock, no threads. The runtime owns one Balancer per backend section and
// calls it under its own lock.
//
// Servers are indexed 0..n-1 in configuration order. A server is *in service* when it is up,
// its admin state is ready and its weight is above 0 (HAProxy's srv_currently_usable); it
// *accepts* a new connection when it is also below its maxconn (0 = no limit). Drain, maint,
// down and weight 0 all stop new connections and leave the existing ones alone.
//
// Load: connections counted by take() or take_server() and not yet release()d. A server keeps
// its load whatever happens to it (connections are not killed when it goes down), release()
// always decrements it, and a server that comes back is placed by the load it has then.
//
// Backup servers, as HAProxy without `option allbackups` (recount_servers sets lbprm.fbck,
// every get_next_server returns it when srv_act is 0): they are used only when no active
// server is in service, and then only the first in service, in configuration order. Active
// servers that are all at maxconn do not open the backups: the connection waits.
//
// The algorithms (one file each) only order the active servers in service; this class holds
// the per-server state and the backup rule and calls the algorithm's hooks on every change.

#include <compare>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <vector>

namespace tierlb::balance {

enum class Algorithm { roundrobin, leastconn, source, first };
enum class AdminState { ready, drain, maint };

inline constexpr unsigned max_weight = 256;
inline constexpr std::size_t no_server = std::numeric_limits<std::size_t>::max();

struct ServerParams {
    unsigned weight = 1;   // 0..max_weight; above is clamped
    unsigned maxconn = 0;  // 0 = no limit
    bool backup = false;
    bool up = true;  // operational state from health checks; a server without checks is up
    AdminState admin = AdminState::ready;  // `disabled` in the configuration = maint
};

enum class PickStatus {
    chosen,     // `server` got the connection (its load is already counted)
    saturated,  // servers are in service but all the eligible ones are at maxconn: queue it
    none,       // no server in service at all
};

struct Pick {
    PickStatus status = PickStatus::none;
    std::size_t server = no_server;  // only meaningful when chosen
};

class Balancer {
  public:
    // Servers in configuration order; their `up` and `admin` are the starting states.
    static std::unique_ptr<Balancer> create(Algorithm algorithm, std::vector<ServerParams> servers);

    virtual ~Balancer();
    Balancer(const Balancer&) = delete;
    Balancer& operator=(const Balancer&) = delete;

    virtual Algorithm algorithm() const = 0;

    // Chooses a server for a new connection and counts it there. `hash` is source_hash() of
    // the client for `balance source` (ignored by the other algorithms); without one, source
    // falls back to round robin over its map, as HAProxy does for a non-IP client.
    Pick take(std::optional<std::uint32_t> hash = std::nullopt);

    // Counts a connection on this server if it accepts one now (in service and below maxconn),
    // whatever the algorithm or the backup rule would pick: a queued connection assigned to a
    // server that freed a slot, or a retry to the same server. False otherwise.
    bool take_server(std::size_t server);

    // A connection counted on `server` ended.
    void release(std::size_t server);

    void set_up(std::size_t server, bool up);
    void set_admin(std::size_t server, AdminState admin);
    void set_weight(std::size_t server, unsigned weight);

    std::size_t size() const { return servers_.size(); }
    const ServerParams& params(std::size_t server) const { return servers_[server].params; }
    unsigned load(std::size_t server) const { return servers_[server].load; }

    // In service: up, ready, weight > 0 (maxconn not considered).
    bool in_service(std::size_t server) const;
    // Would accept a new connection now: in service and below maxconn. The backup rule is
    // not applied here: a backup server can be usable while take() ignores it.
    bool usable(std::size_t server) const { return in_service(server) && !saturated(server); }
    bool saturated(std::size_t server) const;

    // Servers in service (maxconn not considered), for "N active and M backup servers left".
    unsigned active_usable_count() const { return active_in_service_; }
    unsigned backup_usable_count() const {
        return static_cast<unsigned>(backups_in_service_.size());
    }

  protected:
    explicit Balancer(std::vector<ServerParams> servers);

    // The algorithm's hooks. They are called for active servers only (backups never reach the
    // algorithm) and after the state, weight or load has changed.
    virtual void server_in(std::size_t server) = 0;                            // entered service
    virtual void server_out(std::size_t server) = 0;                           // left service
    virtual void weight_changed(std::size_t server, unsigned old_weight) = 0;  // still in service
    virtual void load_changed(std::size_t server) = 0;  // taken or released while in service
    // The active server for a new connection, or no_server when every active server in
    // service is at maxconn (or, for a hash, the one the hash maps to is). Only called while at
    // least one active server is in service. Does not count the connection.
    virtual std::size_t pick(std::optional<std::uint32_t> hash) = 0;

    // An indexed binary min-heap of server indices: the ordering the algorithms keep so that
    // picking is a lookup. Sized once for every server; inserting, repositioning and erasing
    // are O(log n) and never allocate.
    class ServerHeap {
      public:
        struct Key {
            std::uint64_t major = 0;
            std::uint64_t minor = 0;
            auto operator<=>(const Key&) const = default;
        };

        explicit ServerHeap(std::size_t servers);

        bool empty() const { return heap_.empty(); }
        std::size_t top() const { return heap_.front(); }
        bool contains(std::size_t server) const { return position_[server] != absent; }
        const Key& key(std::size_t server) const { return keys_[server]; }

        // Inserts the server, or moves it if it is already there.
        void set(std::size_t server, Key key);
        void erase(std::size_t server);
        // Subtracts `delta` (at most the smallest major) from every key: the order is kept.
        void lower_majors(std::uint64_t delta);

      private:
        static constexpr std::size_t absent = std::numeric_limits<std::size_t>::max();
        bool before(std::size_t a, std::size_t b) const {
            return keys_[heap_[a]] < keys_[heap_[b]];
        }
        void place(std::size_t at, std::size_t server);
        void sift_up(std::size_t at);
        void sift_down(std::size_t at);

        std::vector<std::size_t> heap_;
        std::vector<std::size_t> position_;
        std::vector<Key> keys_;
    };

  private:
    struct Server {
        ServerParams params;
        unsigned load = 0;
    };

    // Announces the active servers in service to the algorithm, in configuration order.
    void start();
    void apply(std::size_t server, const ServerParams& next);
    void count(std::size_t server);

    std::vector<Server> servers_;
    unsigned active_in_service_ = 0;
    std::set<std::size_t> backups_in_service_;  // changes with states only, never on a pick
};

}  // namespace tierlb::balance
