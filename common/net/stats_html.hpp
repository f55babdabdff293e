#pragma once
// The stats page (`stats http`, GET /): one self-contained HTML document (inline CSS, no
// script, no external resource) with the process (number, pid, uptime, connections) and a
// table per section of the configuration: its FRONTEND line, its servers and its BACKEND line,
// as `show stat` has them. A server's row is coloured by its state as on HAProxy's page: UP
// green, DOWN red, MAINT brown, DRAIN blue, going down yellow, going up orange, no check grey.
// The page reloads itself every refresh_seconds.
//
// Every text that comes from the configuration or the network (section and server names,
// check messages) is escaped: a name is data, never markup.

#include <string>
#include <string_view>

#include "common/net/stats_snapshot.hpp"

namespace tierlb::net {

struct StatsPageOptions {
    unsigned refresh_seconds = 5;  // 0: the page does not reload itself
};

std::string stats_page(const StatsSnapshot& snapshot, const StatsPageOptions& options = {});

// TEXT made safe in HTML text and in quoted attribute values: & < > " ' become references,
// and control characters other than tab, line feed and carriage return (invalid in HTML)
// become U+FFFD.
std::string html_escape(std::string_view text);

// The CSS class of a server's row for show stat's status: "up", "down", "maint", "drain",
// "going-down" ("UP 2/3"), "going-up" ("DOWN 1/2"), "draining-down" ("DRAIN 2/3"), "no-check".
std::string_view server_state_class(std::string_view status);

// Seconds as the page shows ages and downtimes: "42s", "3m07s", "2h05m", "4d07h".
std::string human_duration(std::string_view seconds);

}  // namespace tierlb::net
