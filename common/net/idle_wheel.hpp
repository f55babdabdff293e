#pragma once
// Idle deadlines of established connections, one wheel per thread (HAProxy keeps its
// timeouts in a tree for the same reason): a connection costs two pointers and a slot number
// here instead of an Asio timer, its pending wait and a heap entry (about 190 bytes), which is
// most of the difference in memory per idle connection. Resolution: one tick, 100 ms; idle
// timeouts are seconds to hours.
//
// Activity does not touch the wheel: the connection only records when it last moved, and
// when its slot comes round it either expires or is placed again at its new deadline.

#include <array>
#include <cstdint>

#include <boost/asio/execution_context.hpp>

#include "common/net/asio.hpp"

namespace tierlb::net {

class IdleWheel;

// A node of the wheel, embedded in what it watches. When its slot comes round, the wheel
// takes it out and calls ON_TICK(entry, wheel, now), which either schedules the entry again or
// finishes (and may destroy what holds it). A function pointer rather than a virtual: the
// same cost, and no virtual destructor to worry about.
class IdleEntry {
public:
    using OnTick = void (*)(IdleEntry* entry, IdleWheel& wheel, Clock::time_point now);

    explicit IdleEntry(OnTick on_tick) : on_tick_(on_tick) {}
    IdleEntry(const IdleEntry&) = delete;
    IdleEntry& operator=(const IdleEntry&) = delete;
    ~IdleEntry() { unlink(); }

    bool linked() const { return next_ != nullptr; }
    void unlink() {
        if (next_ != nullptr) {
            prev_->next_ = next_;
            next_->prev_ = prev_;
            next_ = prev_ = nullptr;
        }
    }

private:
    friend class IdleWheel;
    OnTick on_tick_;
    IdleEntry* prev_ = nullptr;
    IdleEntry* next_ = nullptr;
};

// One per io_context (an Asio service: it lives and dies with its context).
class IdleWheel : public asio::execution_context::service {
public:
    using key_type = IdleWheel;
    static inline asio::execution_context::id id;

    static constexpr auto tick = std::chrono::milliseconds(100);
    static constexpr std::size_t slots = 512;  // 51.2 s; longer deadlines go round again

    // The wheel of EXECUTOR's io_context, made on first use.
    static IdleWheel& of(Executor executor) {
        return asio::use_service<IdleWheel>(executor.context());
    }

    explicit IdleWheel(asio::execution_context& context);

    // (Re)places ENTRY so that it is called at DEADLINE (rounded up to the next tick).
    void schedule(IdleEntry& entry, Clock::time_point deadline);
    // Takes ENTRY out of the wheel (its connection ended).
    void cancel(IdleEntry& entry);

    std::size_t size() const { return count_; }

private:
    void shutdown() override { timer_.cancel(); }
    void start_ticking();
    void on_timer();
    std::uint64_t tick_of(Clock::time_point t) const;

    struct Sentinel : IdleEntry {
        Sentinel() : IdleEntry(nullptr) {}
    };

    Timer timer_;
    Clock::time_point origin_;
    std::uint64_t current_tick_ = 1;  // the next slot to run
    std::array<Sentinel, slots> heads_;
    std::size_t count_ = 0;
    bool ticking_ = false;
};

}  // namespace tierlb::net
