#pragma once
// `show stat typed|json` and `show info typed|json`: the same figures as the CSV and the
// "Name: value" text, in HAProxy 2.6's typed and JSON forms, so that tools written for
// HAProxy's (collectors, exporters) read tierlb's unchanged.
//
// Typed: one line per field that has a value,
//     show stat  <F|B|S|L>.<iid>.<sid>.<pos>.<name>.<process>:<tags>:<type>:<value>
//     show info  <pos>.<name>.<process>:<tags>:<type>:<value>
// where tags are three letters (origin, nature, scope: "MCP" a metric, a counter, of the
// process) and type is str, u32, u64 or s32. JSON: the same fields as objects, one array per
// stats line (all in one array), or one array for show info. Each field's tags and type are
// HAProxy's own, read off HAProxy 2.6's answers. Positions are HAProxy's: the CSV's "-" column
// is no field, so the columns after it come one position earlier.

#include <string>
#include <string_view>
#include <vector>

#include "common/net/stats_csv.hpp"

namespace tierlb::net {

std::string stat_typed(const std::vector<StatLine>& lines);
std::string stat_json(const std::vector<StatLine>& lines);

// INFO is show_info's text; PROCESS the process number the fields are tagged with.
std::string info_typed(std::string_view info, int process);
std::string info_json(std::string_view info, int process);

}  // namespace tierlb::net
