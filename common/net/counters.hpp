#pragma once
// Live counters behind `show stat`, updated by the data path from any thread. Relaxed atomics:
// each is read on its own by the stats code, no ordering between them is needed.

#include <atomic>
#include <cstdint>

#include "common/net/rates.hpp"

namespace tierlb::net {

using Counter = std::atomic<std::uint64_t>;

inline void add(Counter& c, std::uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
}
inline std::uint64_t get(const Counter& c) {
    return c.load(std::memory_order_relaxed);
}

// Raises MAX to VALUE if VALUE is larger.
inline void raise_max(Counter& max, std::uint64_t value) {
    auto seen = max.load(std::memory_order_relaxed);
    while (value > seen && !max.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
}

// Sessions now / at most / in total, and bytes both ways: what every stats line has.
struct TrafficCounters {
    Counter current{0};
    Counter max{0};
    Counter total{0};        // sessions ("stot")
    Counter connections{0};  // accepted connections, sessions or not ("conn_tot")
    Counter bytes_in{0};     // from clients towards servers ("bin")
    Counter bytes_out{0};    // from servers towards clients ("bout")
    EventRate session_rate;     // "rate", "rate_max"
    EventRate connection_rate;  // "conn_rate", "conn_rate_max"

    // A connection came in: it counts in current and max from here, as in HAProxy.
    void entered() {
        const auto now = current.fetch_add(1, std::memory_order_relaxed) + 1;
        raise_max(max, now);
        add(connections);
        connection_rate.add();
    }
    // It became a session: its PROXY header and TLS handshake, if any, went through.
    void began() {
        add(total);
        session_rate.add();
    }
    void opened() {
        entered();
        began();
    }
    void closed() { current.fetch_sub(1, std::memory_order_relaxed); }
};

}  // namespace tierlb::net
