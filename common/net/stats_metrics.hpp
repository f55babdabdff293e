#pragma once
// `stats http` GET /metrics: the Prometheus text exposition format, version 0.0.4, with the
// names and labels of HAProxy's built-in exporter (HAProxy 2.6, `prometheus-exporter`) under
// the prefix tierlb_ instead of haproxy_:
//   tierlb_process_*                   the process (show info): pid, uptime, connections...
//   tierlb_frontend_*{proxy="..."}     each frontend line of show stat
//   tierlb_backend_*{proxy="..."}      each backend line
//   tierlb_server_*{proxy="...",server="..."}   each server line
// Every family has its HELP and TYPE lines and all its samples together; counters end in
// _total, times are in seconds. States are one sample per possible state, 1 for the current
// one, as HAProxy does: tierlb_server_status{proxy="b",server="s",state="UP"} 1.
// A column show stat leaves empty (a server without checks has no check duration) gives no
// sample rather than a made-up value.

#include <string>
#include <string_view>

#include "common/net/stats_snapshot.hpp"

namespace tierlb::net {

// The Content-Type of the text format.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

std::string metrics_text(const StatsSnapshot& snapshot);

// A label value as the format wants it between double quotes: backslash, double quote and
// line feed escaped as \\ \" \n; bytes that are not valid UTF-8 replaced by U+FFFD (the
// format is UTF-8, and a configuration name may be anything).
std::string label_value(std::string_view text);

// A HELP text: backslash and line feed escaped.
std::string help_text(std::string_view text);

}  // namespace tierlb::net
