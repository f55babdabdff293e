#include "common/health/check_state.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace tierlb::health {

CheckState::CheckState(const CheckParams& params, Clock::time_point now, bool in_maintenance)
    : params_(params), last_change_(now) {
    assert(params.rise >= 1 && params.fall >= 1 && params.inter.count() >= 1);
    if (in_maintenance) {
        // HAProxy's `disabled`: health 0, stopped, not checked. Its downtime starts now.
        maintenance_ = true;
        up_ = false;
        health_ = 0;
    } else {
        health_ = params_.rise;
    }
}

CheckEvent CheckState::force_down(CheckOutcome outcome, Clock::time_point now) {
    if (outcome.info.size() > max_info_length) {
        outcome.info.resize(max_info_length);
    }
    CheckEvent event;
    event.rise = params_.rise;
    event.fall = params_.fall;
    if (!maintenance_) {
        event.report = true;
        last_status_ = outcome.status;
        last_duration_ = outcome.duration;
        last_info_ = outcome.info;
        last_code_ = outcome.code;
        if (health_ > 0) {
            ++failed_checks_;
            health_ = 0;
        }
        if (up_) {
            mark_down(now);
            event.transition = Transition::went_down;
        }
    }
    event.health = health_;
    event.outcome = std::move(outcome);
    return event;
}

CheckEvent CheckState::record(CheckOutcome outcome, Clock::time_point now) {
    assert(result_of(outcome.status) != CheckResult::unknown);
    if (outcome.info.size() > max_info_length) {
        outcome.info.resize(max_info_length);
    }
    CheckEvent event;
    event.rise = params_.rise;
    event.fall = params_.fall;
    if (maintenance_ || result_of(outcome.status) == CheckResult::unknown ||
        outcome.local_error) {
        event.health = health_;
        event.outcome = std::move(outcome);
        return event;
    }

    // A change of status is worth a log line even when the health stays (e.g. a DOWN server
    // whose failure turns from L4CON into L4TOUT); so is every change of health.
    event.report = outcome.status != last_status_;
    last_status_ = outcome.status;
    last_duration_ = outcome.duration;
    last_info_ = outcome.info;
    last_code_ = outcome.code;

    if (result_of(outcome.status) == CheckResult::failed) {
        // HAProxy only counts failures that move the counter: at health 0 (fully DOWN) a
        // failure is not a chkfail.
        if (health_ > 0) {
            ++failed_checks_;
            event.report = true;
            --health_;
            if (health_ < params_.rise) {
                health_ = 0;
            }
        }
        if (health_ == 0 && up_) {
            mark_down(now);
            event.transition = Transition::went_down;
        }
    } else {
        if (health_ < max_health()) {
            event.report = true;
            ++health_;
            if (health_ >= params_.rise) {
                health_ = max_health();
            }
        }
        if (health_ >= params_.rise && !up_) {
            mark_up(now);
            event.transition = Transition::went_up;
        }
    }
    event.health = health_;
    event.outcome = std::move(outcome);
    return event;
}

std::chrono::milliseconds CheckState::next_interval() const {
    if (health_ == max_health()) {
        return params_.inter;
    }
    if (!up_ && health_ == 0) {
        return params_.downinter.count() > 0 ? params_.downinter : params_.inter;
    }
    return params_.fastinter.count() > 0 ? params_.fastinter : params_.inter;
}

MaintenanceEntry CheckState::enter_maintenance(Clock::time_point now) {
    if (maintenance_) {
        return MaintenanceEntry::none;
    }
    maintenance_ = true;
    health_ = 0;
    if (up_) {
        mark_down(now);
        return MaintenanceEntry::was_up;
    }
    // Already DOWN: HAProxy keeps last_change, the DOWN period simply goes on.
    return MaintenanceEntry::was_down;
}

bool CheckState::leave_maintenance(Clock::time_point now) {
    if (!maintenance_) {
        return false;
    }
    maintenance_ = false;
    health_ = params_.rise;
    mark_up(now);
    return true;
}

Clock::duration CheckState::downtime(Clock::time_point now) const {
    if (up_ || now <= last_change_) {
        return downtime_;
    }
    return downtime_ + (now - last_change_);
}

void CheckState::mark_down(Clock::time_point now) {
    up_ = false;
    ++down_transitions_;
    last_change_ = now;
}

void CheckState::mark_up(Clock::time_point now) {
    // Also closes a maintenance period: HAProxy 2.6 drops that one from downtime when leaving
    // maintenance, which makes the counter shrink; tierlb keeps it.
    if (now > last_change_) {
        downtime_ += now - last_change_;
    }
    up_ = true;
    last_change_ = now;
}

std::chrono::milliseconds first_check_delay(std::chrono::milliseconds interval,
                                            std::size_t position, std::size_t count) {
    if (count == 0) {
        return std::chrono::milliseconds{0};
    }
    return std::chrono::milliseconds{interval.count() * static_cast<long long>(position) /
                                     static_cast<long long>(count)};
}

std::chrono::milliseconds spread_interval(std::chrono::milliseconds interval, unsigned percent,
                                          double random01) {
    // HAProxy: rv = inter * pct / 100; rv -= (int)(2 * rv * random); next = inter + rv.
    const long long range = interval.count() * percent / 100;
    const double draw = std::clamp(random01, 0.0, 1.0);
    const auto shift = static_cast<long long>(2.0 * static_cast<double>(range) * draw);
    return std::chrono::milliseconds{interval.count() + range - shift};
}

}  // namespace tierlb::health
