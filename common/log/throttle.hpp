#pragma once
// One log line per period for an event that a peer can repeat at will (a refused connection):
// the first of a period is logged with the count of those left unlogged since the last line,
// the others only counted. Thread-safe; the time is the caller's, so tests choose it.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace tierlb::log {

class Throttle {
public:
    using Clock = std::chrono::steady_clock;

    explicit Throttle(Clock::duration period) : period_(period) {}

    // Empty when this event goes unlogged; else how many were left unlogged before it.
    std::optional<std::uint64_t> allow(Clock::time_point now) {
        std::lock_guard lock(mutex_);
        if (last_ && now - *last_ < period_) {
            ++suppressed_;
            return std::nullopt;
        }
        last_ = now;
        const std::uint64_t before = suppressed_;
        suppressed_ = 0;
        return before;
    }

    Clock::duration period() const { return period_; }

private:
    const Clock::duration period_;
    std::mutex mutex_;
    std::optional<Clock::time_point> last_;
    std::uint64_t suppressed_ = 0;
};

// What a logged line adds about the ones before it that were not: "" when none.
inline std::string unlogged_note(std::uint64_t unlogged) {
    return unlogged == 0 ? std::string()
                         : " (and " + std::to_string(unlogged) +
                               " more since the last such line, not logged)";
}

}  // namespace tierlb::log
