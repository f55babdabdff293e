#include "common/net/idle_wheel.hpp"

#include <memory>

namespace tierlb::net {

IdleWheel::IdleWheel(asio::execution_context& context)
    : asio::execution_context::service(context),
      timer_(static_cast<asio::io_context&>(context).get_executor()),
      origin_(Clock::now()) {
    for (auto& head : heads_) {
        head.prev_ = head.next_ = &head;  // an empty circular list
    }
}

std::uint64_t IdleWheel::tick_of(Clock::time_point t) const {
    if (t <= origin_) {
        return 0;
    }
    return static_cast<std::uint64_t>((t - origin_ + tick - Clock::duration(1)) / tick);
}

void IdleWheel::cancel(IdleEntry& entry) {
    if (entry.linked()) {
        entry.unlink();
        --count_;
    }
}

void IdleWheel::schedule(IdleEntry& entry, Clock::time_point deadline) {
    cancel(entry);
    if (count_ == 0) {
        // Nothing was waiting: skip the empty slots of the quiet time in one step.
        current_tick_ = std::max(current_tick_, tick_of(Clock::now()));
    }
    // Never in a slot already run: at worst the next one.
    const std::uint64_t at = std::max(tick_of(deadline), current_tick_);
    Sentinel& head = heads_[at % slots];
    entry.prev_ = head.prev_;
    entry.next_ = &head;
    head.prev_->next_ = &entry;
    head.prev_ = &entry;
    ++count_;
    start_ticking();
}

void IdleWheel::start_ticking() {
    if (ticking_) {
        return;
    }
    ticking_ = true;
    timer_.expires_at(origin_ + tick * static_cast<std::int64_t>(current_tick_));
    timer_.async_wait([this](error_code ec) {
        ticking_ = false;
        if (!ec) {
            on_timer();
        }
    });
}

void IdleWheel::on_timer() {
    const auto now = Clock::now();
    // The last slot whose time has come (rounded down: a slot is due at its start).
    const std::uint64_t last = static_cast<std::uint64_t>((now - origin_) / tick);
    while (current_tick_ <= last) {
        // current_tick_ moves on first: what the callbacks schedule lands in a later slot.
        Sentinel& head = heads_[current_tick_++ % slots];
        // Detach the slot first: the callbacks re-schedule or destroy their entries.
        Sentinel due;
        if (head.next_ == &head) {
            continue;
        }
        due.next_ = head.next_;
        due.prev_ = head.prev_;
        due.next_->prev_ = &due;
        due.prev_->next_ = &due;
        head.next_ = head.prev_ = &head;
        while (due.next_ != &due) {
            IdleEntry* entry = due.next_;
            entry->unlink();
            --count_;
            entry->on_tick_(entry, *this, now);
        }
        due.prev_ = due.next_ = nullptr;
    }
    if (count_ > 0) {
        start_ticking();
    }
}

}  // namespace tierlb::net
