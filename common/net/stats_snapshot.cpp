#include "common/net/stats_snapshot.hpp"

namespace tierlb::net {

std::string_view StatsSnapshot::info_value(std::string_view key) const {
    for (const auto& [k, value] : info) {
        if (k == key) {
            return value;
        }
    }
    return {};
}

ServerState server_state(std::string_view status) {
    const bool counting = status.find('/') != std::string_view::npos;
    if (status.starts_with("MAINT")) {
        return ServerState::maint;
    }
    if (status.starts_with("DRAIN")) {
        return counting ? ServerState::draining_down : ServerState::drain;
    }
    if (status.starts_with("DOWN")) {
        return counting ? ServerState::going_up : ServerState::down;
    }
    if (status.starts_with("UP")) {
        return counting ? ServerState::going_down : ServerState::up;
    }
    return ServerState::no_check;
}

StatsSnapshot take_snapshot(const ProcessRuntime& runtime, const CliActivity& cli,
                            const CheckLookup& checks) {
    StatsSnapshot snapshot;
    snapshot.info = parse_info(show_info(runtime, cli));
    StatOptions options;
    options.checks = checks;
    snapshot.lines = stat_lines(runtime, options);
    return snapshot;
}

std::vector<std::pair<std::string, std::string>> parse_info(std::string_view text) {
    std::vector<std::pair<std::string, std::string>> fields;
    while (!text.empty()) {
        const auto end = text.find('\n');
        const std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        const auto separator = line.find(": ");
        if (separator != std::string_view::npos) {
            fields.emplace_back(std::string(line.substr(0, separator)),
                                std::string(line.substr(separator + 2)));
        }
    }
    return fields;
}

}  // namespace tierlb::net
