#pragma once
// The health-check state machine of one server, HAProxy 2.6 semantics (src/check.c:
// set_server_check_status, check_notify_failure/success, srv_getinter; src/server.c:
// srv_update_status). Pure: no sockets, no clock of its own. The runtime runs the checks,
// feeds each outcome in with the time it finished, asks for the interval to the next check,
// and logs the lines health_log.hpp builds from the returned events.
//
// One counter, health, from 0 to rise+fall-1:
//   - a passed check increments it; reaching rise jumps it to rise+fall-1 and the server UP;
//   - a failed check decrements it; dropping below rise sets it to 0 and the server DOWN;
//   - a failed check at health 0 changes nothing (and is not counted in chkfail).
// A new server starts UP with health = rise, so with fall > 1 one failure marks it DOWN and
// one success makes it fully UP. A server configured `disabled` starts in maintenance.
//
// Maintenance (set server state maint / disable server): the runtime stops checking. Entering
// it sets health to 0 and the server DOWN (a chkdown if it was UP). Leaving it sets health to
// rise and the server UP at once, as HAProxy does ("start OK but check immediately"), so the
// first failure afterwards marks it DOWN again. Drain does not touch the check state.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/health/check_result.hpp"

namespace tierlb::health {

using Clock = std::chrono::steady_clock;

// A server's check options. A zero fastinter or downinter means "same as inter", as in HAProxy,
// so the configuration layer can copy unset options as zero.
struct CheckParams {
    unsigned rise = 2;
    unsigned fall = 3;
    std::chrono::milliseconds inter{2000};
    std::chrono::milliseconds fastinter{0};
    std::chrono::milliseconds downinter{0};
};

enum class Transition { none, went_down, went_up };

// What record() did with one outcome.
struct CheckEvent {
    CheckOutcome outcome;  // as recorded: info cut to max_info_length
    // The check status or the health changed: HAProxy's condition for logging
    // "Health check for server ... succeeded|failed" (with option log-health-checks).
    bool report = false;
    Transition transition = Transition::none;
    unsigned health = 0;  // after this outcome
    unsigned rise = 0;
    unsigned fall = 0;
};

enum class MaintenanceEntry {
    none,      // already in maintenance
    was_up,    // "Server B/S is going DOWN for maintenance. ..." (counts as a chkdown)
    was_down,  // "Server B/S was DOWN and now enters maintenance."
};

class CheckState {
public:
    // rise, fall and inter must be at least 1: the configuration layer rejects the rest.
    CheckState(const CheckParams& params, Clock::time_point now, bool in_maintenance = false);

    // Applies one finished check. The status must not be ini. An outcome that arrives during
    // maintenance (a check already running when maint was set) is dropped: the returned event
    // has report == false and no transition, and nothing changes. So is a local error (the
    // check found no descriptor to run with): HAProxy would count it as a failed check
    // (SOCKERR) and relies on reserving descriptors for its checks; a process that runs out
    // anyway must not mark healthy servers DOWN for its own shortage.
    CheckEvent record(CheckOutcome outcome, Clock::time_point now);

    // A failure known for certain (the master saw the server's process die): the health drops
    // to 0 at once, not one step per check, so the server is DOWN before its next check.
    CheckEvent force_down(CheckOutcome outcome, Clock::time_point now);

    // The delay from the end of this check to the start of the next one (srv_getinter):
    // inter when fully UP, downinter when fully DOWN, fastinter in between (including a fresh
    // server, whose health is rise). The caller adds any spread (spread_interval below).
    std::chrono::milliseconds next_interval() const;

    MaintenanceEntry enter_maintenance(Clock::time_point now);
    // Returns false if the server was not in maintenance. Afterwards the server is UP.
    bool leave_maintenance(Clock::time_point now);

    bool up() const { return up_; }
    bool in_maintenance() const { return maintenance_; }
    unsigned health() const { return health_; }
    unsigned max_health() const { return params_.rise + params_.fall - 1; }
    const CheckParams& params() const { return params_; }

    // show stat columns.
    std::uint64_t failed_checks() const { return failed_checks_; }        // chkfail
    std::uint64_t down_transitions() const { return down_transitions_; }  // chkdown
    Clock::time_point last_change() const { return last_change_; }        // lastchg = now - this
    Clock::duration downtime(Clock::time_point now) const;                // includes the current
    CheckStatus last_status() const { return last_status_; }              // check_status
    // check_duration: empty until a check has finished.
    std::optional<std::chrono::milliseconds> last_duration() const { return last_duration_; }
    const std::string& last_info() const { return last_info_; }
    int last_code() const { return last_code_; }

private:
    void mark_down(Clock::time_point now);
    void mark_up(Clock::time_point now);

    CheckParams params_;
    unsigned health_ = 0;
    bool up_ = true;
    bool maintenance_ = false;
    std::uint64_t failed_checks_ = 0;
    std::uint64_t down_transitions_ = 0;
    Clock::time_point last_change_;
    Clock::duration downtime_{0};  // closed DOWN periods only
    CheckStatus last_status_ = CheckStatus::ini;
    std::optional<std::chrono::milliseconds> last_duration_;
    std::string last_info_;
    int last_code_ = 0;
};

// When to run a server's first check (HAProxy's start_check_task): checks start spread evenly,
// not at random, at interval * position / count after startup, position being the server's
// 0-based rank among the count checked servers of the process. HAProxy's interval is the
// larger of this server's next_interval() and the smallest next_interval() >= 1s among all
// checked servers, capped by max-spread-checks; the caller computes it.
std::chrono::milliseconds first_check_delay(std::chrono::milliseconds interval,
                                            std::size_t position, std::size_t count);

// HAProxy's `spread-checks PERCENT`: the interval moved by up to +-PERCENT %. random01 is a
// uniform draw in [0, 1] from the caller's generator (0 gives the longest interval, 1 the
// shortest). PERCENT 0 returns the interval unchanged.
std::chrono::milliseconds spread_interval(std::chrono::milliseconds interval, unsigned percent,
                                          double random01);

}  // namespace tierlb::health
