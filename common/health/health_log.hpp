#pragma once
// The log lines of health checks and server state changes, worded exactly as HAProxy 2.6 words
// them (src/check.c set_server_check_status, src/server.c srv_append_status and
// srv_update_status), each ending with HAProxy's final "." and no newline.
//
// The runtime calls CheckState::record(), applies a transition to its balancer, then passes
// the counts it has after the change to check_log_lines(): the "N active and M backup servers
// left" of a DOWN line are the servers still usable once this one is out, which only the
// owner of the balancer knows.
//
// HAProxy logs "Health check for server ..." only with `option log-health-checks`, and then
// leaves the reason out of the "Server ... is DOWN/UP" line (it was just logged); without the
// option the check lines are silent and the reason goes into the DOWN/UP line. LogOptions
// selects between the two; INTERFACE.md asks for both kinds of line, hence the default.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/health/check_result.hpp"
#include "common/health/check_state.hpp"

namespace tierlb::health {

struct ServerLogInfo {
    std::string_view backend;
    std::string_view server;
    bool backup = false;       // "Health check for backup server", "Backup Server B/S is DOWN"
    bool zero_weight = false;  // `weight 0`: a check line says "status: 3/3 DRAIN", not UP
    bool drain = false;        // `state drain`: DOWN lines are notices instead of alerts
};

// The backend and the server after the change.
struct ServerCounts {
    unsigned active_servers = 0;  // usable active servers of the backend (srv_act)
    unsigned backup_servers = 0;  // usable backup servers (srv_bck)
    unsigned sessions = 0;        // connections still open on this server
    unsigned requeued = 0;        // DOWN: queued connections moved away; UP: taken from the
                                  // backend's queue
    unsigned queued = 0;          // connections left in this server's queue
};

struct LogOptions {
    bool log_health_checks = true;  // HAProxy's `option log-health-checks`
};

// HAProxy sends DOWN lines as alerts (notices for a draining server), the rest as notices.
enum class LogLevel { notice, alert };

struct LogLine {
    LogLevel level = LogLevel::notice;
    std::string text;
};

// The lines HAProxy logs for one recorded check, in its order: the check line (if reported
// and enabled), then "Server B/S is DOWN|UP ..." on a transition. Empty for a check that
// changed neither status nor health.
std::vector<LogLine> check_log_lines(const ServerLogInfo& server, const CheckEvent& event,
                                     const ServerCounts& after, const LogOptions& options = {});

// "Health check for server B/S failed, reason: Layer4 connection problem, info: \"Connection
// refused\", check duration: 0ms, status: 2/3 UP."
std::string check_line(const ServerLogInfo& server, const CheckEvent& event);

// The "status:" part of a check line: "R/F UP" while health >= rise (R = health - rise + 1 of
// the fall failures left), "H/R DOWN" below (H = health of the rise successes needed).
std::string health_status(unsigned health, unsigned rise, unsigned fall, bool zero_weight);

// "Server B/S is DOWN[, reason: ...]. 1 active and 0 backup servers left. 0 sessions active,
// 0 requeued, 0 remaining in queue." reason may be null.
std::string server_down_line(const ServerLogInfo& server, const CheckOutcome* reason,
                             const ServerCounts& after);

// "Server B/S is UP[, reason: ...]. 2 active and 0 backup servers online. 0 sessions requeued,
// 0 total in queue." reason may be null.
std::string server_up_line(const ServerLogInfo& server, const CheckOutcome* reason,
                           const ServerCounts& after);

// "Server B/S is going DOWN for maintenance. <counts>." or "Server B/S was DOWN and now enters
// maintenance."; nothing for MaintenanceEntry::none.
std::optional<LogLine> maintenance_line(const ServerLogInfo& server, MaintenanceEntry entry,
                                        const ServerCounts& after);

// "Server B/S is UP/READY (leaving forced maintenance)." (UP/DRAIN when still draining).
std::string leave_maintenance_line(const ServerLogInfo& server, bool up);

// "Server B/S enters drain state. <counts>." (the UP or the DOWN form of the counts).
std::string enter_drain_line(const ServerLogInfo& server, bool up, const ServerCounts& after);

// "Server B/S is UP (leaving forced drain)."
std::string leave_drain_line(const ServerLogInfo& server, bool up);

// show stat's status column for a checked server: MAINT; UP, or "UP 2/3" while failures are
// being counted; DRAIN, "DRAIN 2/3"; DOWN, or "DOWN 1/2" while successes are being counted.
std::string show_stat_status(const CheckState& state, bool drain);

}  // namespace tierlb::health
