#pragma once
// `show stat`: HAProxy 2.6's CSV, column for column. A first line "# pxname,svname,..." names
// the 128 columns (each line ends with a comma, as HAProxy's do), then for each section in
// configuration order: a FRONTEND line (frontends and listens), the server lines and a BACKEND
// line (backends and listens). Listener lines are left out, as HAProxy does without `option
// socket-stats`, except for an accept-balance bind (no-hop mode): one listener line (type 3)
// per process of its group, named "BIND@pN" (BIND its `name`, else "sock-ID"), with the
// connections the kernel's eBPF program counts for process N, its weight and state. The empty
// line a stats socket client sees after the last line is the socket's end-of-answer, added by
// the command layer after every answer (stats_commands.hpp); the HTTP CSV has none.
//
// Columns tierlb has no counter for keep the value HAProxy prints on an idle line of the same
// kind in TCP mode ("0", "" or "-"), so that tools reading HAProxy's CSV read ours unchanged.
// Health-check columns come from a CheckLookup when the caller has one; without it a server is
// shown as HAProxy shows a server without `check` (status "UP" instead of "no check" when the
// configuration asks for checks).

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/health/check_state.hpp"
#include "common/net/runtime.hpp"

namespace tierlb::net {

// The state of a server's health checks, or nullopt when nothing checks it.
using CheckLookup =
    std::function<std::optional<health::CheckState>(const BackendRuntime&, std::size_t server)>;

// HAProxy's `show stat {<iid>|<proxy>} <type> <sid>` and its `up` / `no-maint` words.
struct StatFilter {
    std::optional<std::uint32_t> proxy_id;  // only this section (iid)
    int types = -1;                         // bits: 1 fe, 2 be, 4 server, 8 listener; -1 all
    std::int64_t server_id = -1;            // only this server (sid); -1 all
    bool up_only = false;                   // `up`: hide servers that are down or in maint
    bool no_maint = false;                  // `no-maint`: hide servers in maintenance
};

struct StatOptions {
    StatFilter filter;
    // HAProxy shows server addresses to operator and admin levels only.
    bool show_addresses = true;
    CheckLookup checks;
    // Injected clocks, for lastchg, downtime and lastsess; now when unset.
    std::optional<Clock::time_point> now;
    std::optional<std::chrono::system_clock::time_point> wall_now;
};

// The process-wide maxconn in force: the runtime's global gate (derived from the descriptor
// limit when the configuration sets none), else the configuration's; 0 when neither is known.
std::uint64_t global_maxconn(const ProcessRuntime& runtime);

// The header line, "# pxname,...,h1_spliced_bytes_out,\n".
const std::string& stat_header();

// The name of show stat's column COLUMN ("pxname", ..., "-", ...); empty past the last.
std::string_view stat_column_name(std::size_t column);

// One line of `show stat` before it is written: the value of each column, unquoted. The stats
// page and the Prometheus metrics (stats_html.hpp, stats_metrics.hpp) read these lines, so
// that every view of the stats shows the same state.
struct StatLine {
    std::vector<std::string> values;  // one per column, in HAProxy's order

    // The value of the column named COLUMN ("scur", "status"); empty for an unknown name.
    std::string_view operator[](std::string_view column) const;
};

std::vector<StatLine> stat_lines(const ProcessRuntime& runtime, const StatOptions& options = {});

// The header line, then LINES as CSV.
std::string stat_csv(const std::vector<StatLine>& lines);

// stat_csv(stat_lines(RUNTIME, OPTIONS)).
std::string show_stat(const ProcessRuntime& runtime, const StatOptions& options = {});

// The name of process PROCESS's row of an accept-balance bind: "sock-1@p2", or "NAME@p2" for a
// bind with a `name`; `set accept-balance FRONTEND/ROW` takes the same.
std::string nohop_slot_name(const config::Bind& bind, int process);

// A field as HAProxy writes it in CSV: quoted (with quotes doubled) only when it holds a
// comma, a quote or a line break.
std::string csv_field(std::string_view text);

}  // namespace tierlb::net
