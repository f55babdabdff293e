#include "common/health/health_log.hpp"

#include <cstdio>
#include <utility>

namespace tierlb::health {

namespace {

// "Server B/S" or "Backup Server B/S": the prefix of every server state line.
std::string server_prefix(const ServerLogInfo& server) {
    std::string line = server.backup ? "Backup Server " : "Server ";
    line.append(server.backend).append("/").append(server.server);
    return line;
}

// HAProxy's chunk_asciiencode with '"' as the quote: anything that could break the quoted
// field or the log line becomes <XX>.
void append_encoded(std::string& line, std::string_view text) {
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte > 0x7e || c == '<' || c == '>' || c == '"') {
            char hex[5];
            std::snprintf(hex, sizeof(hex), "<%02X>", byte);
            line.append(hex);
        } else {
            line.push_back(c);
        }
    }
}

// srv_append_status / check_append_info: ", reason: X[, code: N][, info: "I"], check
// duration: Nms".
void append_reason(std::string& line, const CheckOutcome& outcome) {
    line.append(", reason: ").append(description(outcome.status));
    if (has_code(outcome.status)) {
        line.append(", code: ").append(std::to_string(outcome.code));
    }
    if (!outcome.info.empty()) {
        line.append(", info: \"");
        append_encoded(line, outcome.info);
        line.append("\"");
    }
    line.append(", check duration: ").append(std::to_string(outcome.duration.count()));
    line.append("ms");
}

// The tail of srv_append_status: the DOWN form when the server is (now) stopped, the UP form
// otherwise.
void append_counts(std::string& line, bool down, const ServerCounts& after) {
    line.append(". ").append(std::to_string(after.active_servers));
    line.append(" active and ").append(std::to_string(after.backup_servers));
    line.append(down ? " backup servers left." : " backup servers online.");
    if (after.backup_servers > 0 && after.active_servers == 0) {
        line.append(" Running on backup.");
    }
    if (down) {
        line.append(" ").append(std::to_string(after.sessions)).append(" sessions active, ");
        line.append(std::to_string(after.requeued)).append(" requeued, ");
        line.append(std::to_string(after.queued)).append(" remaining in queue");
    } else {
        line.append(" ").append(std::to_string(after.requeued)).append(" sessions requeued, ");
        line.append(std::to_string(after.queued)).append(" total in queue");
    }
}

LogLevel down_level(const ServerLogInfo& server) {
    // HAProxy does not alert for a server that was already draining.
    return server.drain ? LogLevel::notice : LogLevel::alert;
}

}  // namespace

std::string health_status(unsigned health, unsigned rise, unsigned fall, bool zero_weight) {
    if (health >= rise) {
        return std::to_string(health - rise + 1) + "/" + std::to_string(fall) +
               (zero_weight ? " DRAIN" : " UP");
    }
    return std::to_string(health) + "/" + std::to_string(rise) + " DOWN";
}

std::string check_line(const ServerLogInfo& server, const CheckEvent& event) {
    std::string line =
        server.backup ? "Health check for backup server " : "Health check for server ";
    line.append(server.backend).append("/").append(server.server);
    line.append(is_success(event.outcome.status) ? " succeeded" : " failed");
    append_reason(line, event.outcome);
    line.append(", status: ");
    line.append(health_status(event.health, event.rise, event.fall, server.zero_weight));
    line.append(".");
    return line;
}

std::string server_down_line(const ServerLogInfo& server, const CheckOutcome* reason,
                             const ServerCounts& after) {
    std::string line = server_prefix(server) + " is DOWN";
    if (reason != nullptr) {
        append_reason(line, *reason);
    }
    append_counts(line, true, after);
    line.append(".");
    return line;
}

std::string server_up_line(const ServerLogInfo& server, const CheckOutcome* reason,
                           const ServerCounts& after) {
    std::string line = server_prefix(server) + " is UP";
    if (reason != nullptr) {
        append_reason(line, *reason);
    }
    append_counts(line, false, after);
    line.append(".");
    return line;
}

std::vector<LogLine> check_log_lines(const ServerLogInfo& server, const CheckEvent& event,
                                     const ServerCounts& after, const LogOptions& options) {
    std::vector<LogLine> lines;
    if (event.report && options.log_health_checks) {
        lines.push_back({LogLevel::notice, check_line(server, event)});
    }
    // With log-health-checks the reason was just logged: HAProxy leaves it out of the
    // server line (check_notify_failure passes no check to srv_set_stopped).
    const CheckOutcome* reason = options.log_health_checks ? nullptr : &event.outcome;
    if (event.transition == Transition::went_down) {
        lines.push_back({down_level(server), server_down_line(server, reason, after)});
    } else if (event.transition == Transition::went_up) {
        lines.push_back({LogLevel::notice, server_up_line(server, reason, after)});
    }
    return lines;
}

std::optional<LogLine> maintenance_line(const ServerLogInfo& server, MaintenanceEntry entry,
                                        const ServerCounts& after) {
    if (entry == MaintenanceEntry::was_up) {
        std::string line = server_prefix(server) + " is going DOWN for maintenance";
        append_counts(line, true, after);
        line.append(".");
        return LogLine{down_level(server), std::move(line)};
    }
    if (entry == MaintenanceEntry::was_down) {
        return LogLine{LogLevel::notice,
                       server_prefix(server) + " was DOWN and now enters maintenance."};
    }
    return std::nullopt;
}

std::string leave_maintenance_line(const ServerLogInfo& server, bool up) {
    return server_prefix(server) + " is " + (up ? "UP" : "DOWN") + "/" +
           (server.drain ? "DRAIN" : "READY") + " (leaving forced maintenance).";
}

std::string enter_drain_line(const ServerLogInfo& server, bool up, const ServerCounts& after) {
    std::string line = server_prefix(server) + " enters drain state";
    append_counts(line, !up, after);
    line.append(".");
    return line;
}

std::string leave_drain_line(const ServerLogInfo& server, bool up) {
    return server_prefix(server) + " is " + (up ? "UP" : "DOWN") + " (leaving forced drain).";
}

std::string show_stat_status(const CheckState& state, bool drain) {
    if (state.in_maintenance()) {
        return "MAINT";
    }
    const auto& params = state.params();
    if (!state.up()) {
        if (state.health() == 0) {
            return "DOWN";
        }
        return "DOWN " + std::to_string(state.health()) + "/" + std::to_string(params.rise);
    }
    std::string status = drain ? "DRAIN" : "UP";
    if (state.health() < state.max_health()) {
        status.append(" ")
            .append(std::to_string(state.health() - params.rise + 1))
            .append("/")
            .append(std::to_string(params.fall));
    }
    return status;
}

}  // namespace tierlb::health
