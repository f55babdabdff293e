#pragma once
// What the stats page and the Prometheus metrics show, taken at one moment from the same
// sources as the stats socket: the fields of `show info` and the lines of `show stat`. The
// three views are renderings of one set of data, so a server DOWN in `show stat` is DOWN on
// the page and in the metrics too.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/net/runtime.hpp"
#include "common/net/stats_csv.hpp"
#include "common/net/stats_info.hpp"

namespace tierlb::net {

struct StatsSnapshot {
    // show info's "Key: value" lines, in its order.
    std::vector<std::pair<std::string, std::string>> info;
    std::vector<StatLine> lines;

    // The value of show info's KEY ("Pid"); empty when there is no such key.
    std::string_view info_value(std::string_view key) const;
};

// A server's state as show stat's status column says it: "UP", "UP 2/3" (failures being
// counted), "DOWN", "DOWN 1/2" (successes being counted), "DRAIN", "DRAIN 2/3", "MAINT",
// "no check".
enum class ServerState { up, going_down, down, going_up, drain, draining_down, maint, no_check };
ServerState server_state(std::string_view status);

StatsSnapshot take_snapshot(const ProcessRuntime& runtime, const CliActivity& cli,
                            const CheckLookup& checks);

// show info's text as its keys and values: a line is "Key: value", split at the first ": ".
std::vector<std::pair<std::string, std::string>> parse_info(std::string_view text);

}  // namespace tierlb::net
