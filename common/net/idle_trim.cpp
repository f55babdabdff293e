#include "common/net/idle_trim.hpp"

#include <malloc.h>

namespace tierlb::net {

IdleTrim::IdleTrim(Executor executor, const ProcessState& state, Clock::duration quiet_period)
    : timer_(executor), state_(state), quiet_period_(quiet_period), last_activity_(activity()) {}

void IdleTrim::start() {
    arm();
}

void IdleTrim::arm() {
    timer_.expires_after(quiet_period_);
    timer_.async_wait([this](const error_code& ec) {
        if (!ec) {
            tick();
            arm();
        }
    });
}

IdleTrim::Activity IdleTrim::activity() const {
    return {state_.total_connections.load(std::memory_order_relaxed), state_.connections.count()};
}

void IdleTrim::tick() {
    const Activity now = activity();
    if (now != last_activity_) {
        last_activity_ = now;
        dirty_ = true;  // still busy: wait for a quiet second
        return;
    }
    if (dirty_) {
        dirty_ = false;
        ::malloc_trim(0);
        ++trims_;
    }
}

}  // namespace tierlb::net
