#pragma once
// Live counters behind `show stat`, updated by the data path from any thread. Relaxed atomics:
// each is read on its own by the stats code, no ordering between them is needed.

#include <atomic>
#include <chrono>
#include <cstdint>

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

// Rates and recent averages, also behind `show stat` and `show info`, as HAProxy computes them:
//   EventRate        events over the last second (`rate`, `conn_rate`, ConnRate...), HAProxy's
//                    freq_ctr: the count of the current second plus the previous second's,
//                    weighted by the part of it still inside the one-second window;
//   SlidingAverage   the average of about the last 1024 values (`qtime`, `ctime`, `ttime`),
//                    HAProxy's swrate: each new value takes 1/1024 of the sum's weight.
// Updated from any thread with relaxed atomics and no lock: two events racing across a second
// boundary may land in either second, which a rate shown to people can afford.

class EventRate {
public:
    using Clock = std::chrono::steady_clock;

    // One event at NOW; also raises the highest rate seen.
    void add(Clock::time_point now = Clock::now()) {
        const std::uint64_t second = second_of(now);
        std::uint64_t state = state_.load(std::memory_order_relaxed);
        for (;;) {
            const std::uint64_t seen_second = state >> count_bits;
            const std::uint64_t count = state & count_mask;
            // A second another thread already moved on to counts as the current one.
            const bool same = seen_second >= second;
            const std::uint64_t next =
                same ? state + (count < count_mask ? 1 : 0) : (second << count_bits) | 1;
            if (state_.compare_exchange_weak(state, next, std::memory_order_relaxed)) {
                if (!same) {
                    // The second that just ended becomes the previous one; an older one
                    // counts for nothing.
                    previous_.store(seen_second + 1 == second ? static_cast<std::uint32_t>(count)
                                                              : 0,
                                    std::memory_order_relaxed);
                }
                break;
            }
        }
        net::raise_max(max_, per_second(now));
    }

    // Events over the second before NOW.
    std::uint64_t per_second(Clock::time_point now = Clock::now()) const {
        const std::uint64_t state = state_.load(std::memory_order_relaxed);
        const std::uint64_t second = second_of(now);
        const std::uint64_t seen_second = state >> count_bits;
        const std::uint64_t count = state & count_mask;
        // The part of the previous second still inside the window, in thousandths.
        const std::uint64_t remaining = 1000 - millis_into_second(now);
        if (seen_second >= second) {
            return count + (previous_.load(std::memory_order_relaxed) * remaining) / 1000;
        }
        if (seen_second + 1 == second) {
            return (count * remaining) / 1000;
        }
        return 0;
    }

    std::uint64_t max() const { return max_.load(std::memory_order_relaxed); }

private:
    static constexpr unsigned count_bits = 32;
    static constexpr std::uint64_t count_mask = (std::uint64_t{1} << count_bits) - 1;

    static std::uint64_t second_of(Clock::time_point t) {
        return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
    }
    static std::uint64_t millis_into_second(Clock::time_point t) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
        return static_cast<std::uint64_t>(ms.count() % 1000);
    }

    std::atomic<std::uint64_t> state_{0};     // second (high 32 bits), its count (low 32)
    std::atomic<std::uint32_t> previous_{0};  // the count of the second before state_'s
    Counter max_{0};
};

class SlidingAverage {
public:
    static constexpr std::uint64_t window = 1024;

    void add(std::uint64_t value) {
        std::uint64_t sum = sum_.load(std::memory_order_relaxed);
        while (!sum_.compare_exchange_weak(sum, sum - sum / window + value,
                                           std::memory_order_relaxed)) {
        }
        samples_.fetch_add(1, std::memory_order_relaxed);
        net::raise_max(max_, value);
    }

    // The average of about the last `window` values; of all of them while there are fewer
    // (the sum then still holds nearly all of each), as HAProxy divides by the sessions seen.
    std::uint64_t average() const {
        const std::uint64_t samples = samples_.load(std::memory_order_relaxed);
        if (samples == 0) {
            return 0;
        }
        const std::uint64_t n = samples < window ? samples : window;
        return (sum_.load(std::memory_order_relaxed) + n - 1) / n;
    }
    std::uint64_t max() const { return max_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> sum_{0};
    std::atomic<std::uint64_t> samples_{0};
    Counter max_{0};
};

// What HAProxy averages over the last sessions of a backend or a server, in milliseconds:
// time in the queue, to connect, and from accept to close (`qtime`, `ctime`, `ttime`, and
// their `_max`). `rtime`, the HTTP response time, has no meaning in TCP mode (0, as HAProxy).
struct SessionTimes {
    SlidingAverage queue;
    SlidingAverage connect;
    SlidingAverage total;

    void add(std::uint64_t queue_ms, std::uint64_t connect_ms, std::uint64_t total_ms) {
        queue.add(queue_ms);
        connect.add(connect_ms);
        total.add(total_ms);
    }
};

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

    // A connection came in AT: it counts in current and max from here, as in HAProxy.
    void entered(EventRate::Clock::time_point at = EventRate::Clock::now()) {
        const auto now = current.fetch_add(1, std::memory_order_relaxed) + 1;
        raise_max(max, now);
        add(connections);
        connection_rate.add(at);
    }
    // It became a session AT: its PROXY header and TLS handshake, if any, went through.
    void began(EventRate::Clock::time_point at = EventRate::Clock::now()) {
        add(total);
        session_rate.add(at);
    }
    void opened() {
        const auto at = EventRate::Clock::now();  // one clock reading for both rates
        entered(at);
        began(at);
    }
    void closed() { current.fetch_sub(1, std::memory_order_relaxed); }
};

}  // namespace tierlb::net
