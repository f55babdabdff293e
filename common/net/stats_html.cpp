#include "common/net/stats_html.hpp"

#include <spdlog/fmt/fmt.h>

#include <charconv>
#include <cstdint>

namespace tierlb::net {

namespace {

// Colours as on HAProxy's page, so its users read ours at a glance.
constexpr std::string_view style = R"(
body { font-family: arial, helvetica, sans-serif; font-size: 12px; color: #000; background: #fff; margin: 1em; }
h1 { font-size: x-large; margin: 0 0 0.3em 0; color: #6020a0; }
p.process { margin: 0 0 0.8em 0; }
p.process b { font-weight: bold; }
table.legend { border-collapse: collapse; margin-bottom: 1em; }
table.legend td { border: 1px solid gray; padding: 2px 6px; font-size: 11px; }
table.section { border-collapse: collapse; margin-bottom: 1.2em; }
table.section caption { text-align: left; font-weight: bold; font-size: 14px; background: #b00040; color: #ffff40; padding: 2px 6px; }
table.section th { background: #20d0d0; font-size: 11px; border: 1px solid gray; padding: 2px 4px; }
table.section td { font-size: 11px; border: 1px solid gray; padding: 2px 4px; text-align: right; white-space: nowrap; }
table.section td.name, table.section td.status, table.section td.check { text-align: left; }
tr.frontend, tr.backend { background: #e8e8d0; font-weight: bold; }
tr.backend td.status-down { background: #ff9090; }
.up { background: #c0ffc0; }
.up.backup { background: #b0d0ff; }
.down { background: #ff9090; }
.going-down { background: #ffffa0; }
.going-up { background: #ffd020; }
.maint { background: #c07820; }
.drain { background: #20a0ff; }
.draining-down { background: #cc9900; }
.no-check { background: #e0e0e0; }
a { color: #0040b0; }
)";

using Line = StatLine;

std::uint64_t number(std::string_view text) {
    std::uint64_t n = 0;
    std::from_chars(text.data(), text.data() + text.size(), n);
    return n;
}

std::string cell(std::string_view text, std::string_view css_class = {}) {
    if (css_class.empty()) {
        return "<td>" + html_escape(text) + "</td>";
    }
    return fmt::format("<td class=\"{}\">{}</td>", css_class, html_escape(text));
}

// "L4OK in 0ms", with the check's message (e.g. "Connection refused") as a tooltip.
std::string check_cell(const Line& line) {
    const std::string_view status = line["check_status"];
    if (status.empty()) {
        return "<td class=\"check\"></td>";
    }
    std::string text(status);
    if (!line["check_duration"].empty()) {
        text += fmt::format(" in {}ms", line["check_duration"]);
    }
    return fmt::format("<td class=\"check\" title=\"{}\">{}</td>", html_escape(line["last_chk"]),
                       html_escape(text));
}

// The cells every kind of line has, after the name and the status.
std::string counter_cells(const Line& line) {
    std::string out;
    for (const char* column :
         {"qcur", "qmax", "qlimit", "scur", "smax", "slim", "stot", "bin", "bout", "econ", "eresp",
          "wretr", "wredis", "weight", "act", "bck", "chkfail", "chkdown"}) {
        out += cell(line[column]);
    }
    out += cell(line["lastchg"].empty() ? std::string() : human_duration(line["lastchg"]));
    out += cell(line["downtime"].empty() ? std::string() : human_duration(line["downtime"]));
    return out;
}

void frontend_row(std::string& out, const Line& line) {
    out += "<tr class=\"frontend\">" + cell("Frontend", "name") + cell(line["status"], "status") +
           "<td class=\"check\"></td>" + counter_cells(line) + "</tr>\n";
}

void backend_row(std::string& out, const Line& line) {
    const bool down = line["status"].starts_with("DOWN");
    out += "<tr class=\"backend\">" + cell("Backend", "name") +
           cell(line["status"], down ? "status status-down" : "status") +
           "<td class=\"check\"></td>" + counter_cells(line) + "</tr>\n";
}

void server_row(std::string& out, const Line& line) {
    const std::string_view state = server_state_class(line["status"]);
    const bool backup = line["bck"] == "1";
    out += fmt::format("<tr class=\"server {}{}\" data-server=\"{}\">", state,
                       backup ? " backup" : "", html_escape(line["svname"]));
    out += cell(line["svname"], "name") + cell(line["status"], "status") + check_cell(line) +
           counter_cells(line) + "</tr>\n";
}

constexpr std::string_view table_head =
    "<tr><th rowspan=\"2\">Name</th><th rowspan=\"2\">Status</th><th rowspan=\"2\">Last "
    "check</th><th colspan=\"3\">Queue</th><th colspan=\"4\">Sessions</th><th "
    "colspan=\"2\">Bytes</th><th colspan=\"2\">Errors</th><th colspan=\"2\">Warnings</th><th "
    "rowspan=\"2\">Weight</th><th rowspan=\"2\">Act</th><th rowspan=\"2\">Bck</th><th "
    "colspan=\"2\">Checks</th><th rowspan=\"2\">Last change</th><th "
    "rowspan=\"2\">Downtime</th></tr>\n"
    "<tr><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total"
    "</th><th>In</th><th>Out</th><th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th><th>Fail"
    "</th><th>Down</th></tr>\n";

// One table per section: the lines of show stat that share its name, in their order.
void section_tables(std::string& out, const std::vector<StatLine>& lines) {
    for (std::size_t i = 0; i < lines.size();) {
        const std::string_view name = lines[i]["pxname"];
        out += fmt::format("<table class=\"section\" data-proxy=\"{0}\">\n<caption>{0}</caption>\n",
                           html_escape(name));
        out += table_head;
        for (; i < lines.size() && lines[i]["pxname"] == name; ++i) {
            // show stat's type column: 0 frontend, 1 backend, 2 server; 3, the rows of an
            // accept-balance bind (one per process, server-like states), drawn as servers.
            const std::string_view type = lines[i]["type"];
            if (type == "0") {
                frontend_row(out, lines[i]);
            } else if (type == "1") {
                backend_row(out, lines[i]);
            } else {
                server_row(out, lines[i]);
            }
        }
        out += "</table>\n";
    }
}

constexpr std::string_view legend =
    "<table class=\"legend\"><tr><td class=\"up\">UP</td><td class=\"going-down\">UP, going "
    "down</td><td class=\"going-up\">DOWN, going up</td><td class=\"down\">DOWN</td><td "
    "class=\"drain\">DRAIN</td><td class=\"maint\">MAINT</td><td class=\"up backup\">backup "
    "UP</td><td class=\"no-check\">no check</td></tr></table>\n";

void process_summary(std::string& out, const StatsSnapshot& s, const StatsPageOptions& options) {
    const std::string refresh =
        options.refresh_seconds == 0
            ? std::string("not refreshed (<a href=\"?refresh=5\">refresh every 5 s</a>)")
            : fmt::format("refreshed every {} s (<a href=\"?refresh=0\">stop</a>)",
                          options.refresh_seconds);
    out += fmt::format(
        "<p class=\"process\">process <b id=\"process\">{}</b> &middot; pid <b id=\"pid\">{}</b> "
        "&middot; uptime <b id=\"uptime\">{}</b> &middot; connections <b>{}</b> of {} &middot; "
        "threads {} &middot; {} {} &middot; {} &middot; <a href=\"/stats;csv\">CSV</a> "
        "&middot; <a href=\"/metrics\">metrics</a></p>\n",
        html_escape(s.info_value("Process_num")), html_escape(s.info_value("Pid")),
        html_escape(s.info_value("Uptime")), html_escape(s.info_value("CurrConns")),
        html_escape(s.info_value("Maxconn")), html_escape(s.info_value("Nbthread")),
        html_escape(s.info_value("Name")), html_escape(s.info_value("Version")), refresh);
}

}  // namespace

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                const auto u = static_cast<unsigned char>(c);
                if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f) {
                    out += "&#xFFFD;";
                } else {
                    out.push_back(c);
                }
        }
    }
    return out;
}

std::string_view server_state_class(std::string_view status) {
    switch (server_state(status)) {
        case ServerState::up:
            return "up";
        case ServerState::going_down:
            return "going-down";
        case ServerState::down:
            return "down";
        case ServerState::going_up:
            return "going-up";
        case ServerState::drain:
            return "drain";
        case ServerState::draining_down:
            return "draining-down";
        case ServerState::maint:
            return "maint";
        case ServerState::no_check:
            break;
    }
    return "no-check";
}

std::string human_duration(std::string_view seconds) {
    const std::uint64_t s = number(seconds);
    if (s < 60) {
        return fmt::format("{}s", s);
    }
    if (s < 3600) {
        return fmt::format("{}m{:02}s", s / 60, s % 60);
    }
    if (s < 86400) {
        return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
    }
    return fmt::format("{}d{:02}h", s / 86400, s / 3600 % 24);
}

std::string stats_page(const StatsSnapshot& snapshot, const StatsPageOptions& options) {
    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n";
    out += fmt::format("<title>tierlb statistics, process {}</title>\n",
                       html_escape(snapshot.info_value("Process_num")));
    if (options.refresh_seconds > 0) {
        out +=
            fmt::format("<meta http-equiv=\"refresh\" content=\"{}\">\n", options.refresh_seconds);
    }
    out += "<style>";
    out += style;
    out += "</style></head>\n<body>\n<h1>tierlb statistics</h1>\n";
    process_summary(out, snapshot, options);
    out += legend;
    section_tables(out, snapshot.lines);
    out += "</body></html>\n";
    return out;
}

}  // namespace tierlb::net
