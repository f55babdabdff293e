#pragma once
// maxconn at three levels (global, frontend, bind), HAProxy's way: when a limit is reached the
// listeners concerned stop accepting, leaving new connections in the kernel's backlog, and
// resume as soon as a connection closes. Nothing established is ever dropped for it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <vector>

namespace tierlb::net {

// A count of open connections against a limit (0 = none).
class Gate {
public:
    explicit Gate(std::uint32_t limit = 0) : limit_(limit) {}
    void set_limit(std::uint32_t limit) { limit_ = limit; }
    std::uint32_t limit() const { return limit_; }
    std::uint32_t count() const { return count_.load(); }
    bool full() const { return limit_ != 0 && count_.load() >= limit_; }
    void enter() { count_.fetch_add(1); }
    // True when this exit opened a slot in a full gate: someone may be waiting.
    bool leave() { return count_.fetch_sub(1) == limit_ && limit_ != 0; }

private:
    std::uint32_t limit_;
    std::atomic<std::uint32_t> count_{0};
};

// Listeners paused on a full gate register a wake-up here; any connection that closes while
// someone waits calls wake_all(). A listener also re-checks on its own every second, so a
// wake-up lost to a race costs at most that.
class PausedListeners {
public:
    using Wake = std::function<void()>;
    void add(std::uintptr_t id, Wake wake);
    void remove(std::uintptr_t id);
    void wake_all();
    bool any() const { return waiting_.load() > 0; }

private:
    mutable std::mutex mutex_;
    std::vector<std::pair<std::uintptr_t, Wake>> wakes_;
    std::atomic<int> waiting_{0};
};

}  // namespace tierlb::net
