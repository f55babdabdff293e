#include "common/net/stats_metrics.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <vector>

#include "common/health/check_result.hpp"

namespace tierlb::net {

namespace {

enum class Type { gauge, counter };

const char* type_name(Type type) {
    return type == Type::gauge ? "gauge" : "counter";
}

// A process metric: the show info field it reads.
struct InfoMetric {
    std::string_view name;
    Type type;
    std::string_view key;
    std::string_view help;
};

// clang-format off
constexpr std::array<InfoMetric, 17> process_metrics{{
    {"nbthread", Type::gauge, "Nbthread", "Number of threads of this process (nbthread)."},
    {"nbproc", Type::gauge, "Nbproc", "Number of processes the configuration starts."},
    {"relative_process_id", Type::gauge, "Process_num", "This process's number in the configuration."},
    {"pid", Type::gauge, "Pid", "Operating system id of this process."},
    {"uptime_seconds", Type::gauge, "Uptime_sec", "How long ago this process started, in seconds."},
    {"start_time_seconds", Type::gauge, "Start_time_sec", "When this process started, in seconds since the epoch."},
    {"max_fds", Type::gauge, "Ulimit-n", "Limit on the open files of this process."},
    {"max_connections", Type::gauge, "Maxconn", "Limit on the connections of this process (maxconn, or what the open files allow)."},
    {"current_connections", Type::gauge, "CurrConns", "Connections open on this process now."},
    {"connections_total", Type::counter, "CumConns", "Connections accepted by this process since it started."},
    {"current_ssl_connections", Type::gauge, "CurrSslConns", "Connections with an established TLS session on this process now."},
    {"ssl_connections_total", Type::counter, "CumSslConns", "TLS sessions established by this process since it started."},
    {"stopping", Type::gauge, "Stopping", "1 while this process stops softly, otherwise 0."},
    {"jobs", Type::gauge, "Jobs", "Connections, listeners and stats clients of this process now."},
    {"listeners", Type::gauge, "Listeners", "Listening sockets of this process."},
    {"dropped_logs_total", Type::counter, "DroppedLogs", "Log lines dropped since this process started."},
    {"bytes_out_total", Type::counter, "TotalBytesOut", "Bytes sent by this process since it started."},
}};
// clang-format on

// The kinds of show stat line, by its type column.
// Listener rows (an accept-balance bind's, one per process) have no family: HAProxy's exporter
// has none for listeners either.
enum Kind : unsigned { frontend = 1, backend = 2, server = 4, listener = 8 };

// A metric of frontends, backends and/or servers: the show stat column it reads.
struct LineMetric {
    std::string_view name;
    Type type;
    std::string_view column;
    unsigned kinds;
    std::string_view help;
};

// clang-format off
constexpr std::array<LineMetric, 27> line_metrics{{
    {"current_queue", Type::gauge, "qcur", backend | server, "Connections waiting in the queue now."},
    {"max_queue", Type::gauge, "qmax", backend | server, "Most connections waiting in the queue at once since the process started."},
    {"current_sessions", Type::gauge, "scur", frontend | backend | server, "Sessions open now."},
    {"max_sessions", Type::gauge, "smax", frontend | backend | server, "Most sessions open at once since the process started."},
    {"limit_sessions", Type::gauge, "slim", frontend | backend | server, "Session limit: the frontend's or server's maxconn, the backend's fullconn."},
    {"sessions_total", Type::counter, "stot", frontend | backend | server, "Sessions since the process started."},
    {"connections_total", Type::counter, "conn_tot", frontend, "Connections accepted since the process started, sessions or not."},
    {"bytes_in_total", Type::counter, "bin", frontend | backend | server, "Bytes received from clients since the process started."},
    {"bytes_out_total", Type::counter, "bout", frontend | backend | server, "Bytes sent to clients since the process started."},
    {"requests_denied_total", Type::counter, "dreq", frontend, "Requests denied since the process started."},
    {"denied_connections_total", Type::counter, "dcon", frontend, "Connections refused for their peer's credentials (SO_PEERCRED) since the process started."},
    {"request_errors_total", Type::counter, "ereq", frontend, "Bad requests (invalid PROXY headers) since the process started."},
    {"ssl_handshakes_total", Type::counter, "ssl_sess", frontend, "TLS handshakes completed since the process started, resumptions included."},
    {"ssl_reused_sessions_total", Type::counter, "ssl_reused_sess", frontend, "TLS sessions resumed since the process started."},
    {"ssl_failed_handshakes_total", Type::counter, "ssl_failed_handshake", frontend, "TLS handshakes failed since the process started."},
    {"connection_errors_total", Type::counter, "econ", backend | server, "Failed connections to servers since the process started."},
    {"response_errors_total", Type::counter, "eresp", backend | server, "Connections a server broke during the transfer since the process started."},
    {"retry_warnings_total", Type::counter, "wretr", backend | server, "Connection retries since the process started."},
    {"redispatch_warnings_total", Type::counter, "wredis", backend | server, "Connections redispatched to another server since the process started."},
    {"weight", Type::gauge, "weight", backend | server, "Effective weight of the server, or of the backend's active servers together."},
    {"active_servers", Type::gauge, "act", backend, "Active servers in service."},
    {"backup_servers", Type::gauge, "bck", backend, "Backup servers in service."},
    {"check_failures_total", Type::counter, "chkfail", server, "Failed health checks since the process started."},
    {"check_up_down_total", Type::counter, "chkdown", server, "Transitions from UP to DOWN since the process started."},
    {"check_last_change_seconds", Type::gauge, "lastchg", backend | server, "How long ago the state last changed, in seconds."},
    {"downtime_seconds_total", Type::counter, "downtime", server, "Time spent DOWN since the process started, in seconds."},
    {"loadbalanced_total", Type::counter, "lbtot", backend | server, "Times a server was chosen by the balancing algorithm since the process started."},
}};
// clang-format on

// Rates and the abort counters, as show stat has them.
// clang-format off
constexpr std::array<LineMetric, 6> rate_metrics{{
    {"current_session_rate", Type::gauge, "rate", frontend | backend | server, "Sessions per second over the last second."},
    {"max_session_rate", Type::gauge, "rate_max", frontend | backend | server, "Highest number of sessions per second since the process started."},
    {"current_connection_rate", Type::gauge, "conn_rate", frontend, "Connections per second over the last second."},
    {"max_connection_rate", Type::gauge, "conn_rate_max", frontend, "Highest number of connections per second since the process started."},
    {"client_aborts_total", Type::counter, "cli_abrt", backend | server, "Transfers the client broke off since the process started."},
    {"server_aborts_total", Type::counter, "srv_abrt", backend | server, "Transfers the server broke off since the process started."},
}};

// Times of the last sessions: show stat's milliseconds, in seconds.
constexpr std::array<LineMetric, 6> time_metrics{{
    {"queue_time_average_seconds", Type::gauge, "qtime", backend | server, "Average time in the queue of the last 1024 sessions."},
    {"connect_time_average_seconds", Type::gauge, "ctime", backend | server, "Average time to connect to the server of the last 1024 sessions."},
    {"total_time_average_seconds", Type::gauge, "ttime", backend | server, "Average total time of the last 1024 sessions."},
    {"max_queue_time_seconds", Type::gauge, "qtime_max", backend | server, "Longest time in the queue since the process started."},
    {"max_connect_time_seconds", Type::gauge, "ctime_max", backend | server, "Longest time to connect since the process started."},
    {"max_total_time_seconds", Type::gauge, "ttime_max", backend | server, "Longest session since the process started."},
}};
// clang-format on

constexpr std::array<health::CheckStatus, 12> check_statuses{
    health::CheckStatus::ini,    health::CheckStatus::sockerr, health::CheckStatus::l4ok,
    health::CheckStatus::l4tout, health::CheckStatus::l4con,   health::CheckStatus::l6ok,
    health::CheckStatus::l6tout, health::CheckStatus::l6rsp,   health::CheckStatus::l7ok,
    health::CheckStatus::l7sts,  health::CheckStatus::l7tout,  health::CheckStatus::l7rsp};

// A decimal integer as show stat and show info write numbers; anything else gives no sample.
bool is_number(std::string_view text) {
    if (text.starts_with('-')) {
        text.remove_prefix(1);
    }
    return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

unsigned kind_of(const StatLine& line) {
    const std::string_view type = line["type"];
    return type == "0" ? frontend : type == "1" ? backend : type == "2" ? server : listener;
}

std::string_view kind_name(unsigned kind) {
    return kind == frontend ? "frontend" : kind == backend ? "backend" : "server";
}

class Writer {
public:
    void family(std::string_view name, Type type, std::string_view help) {
        out_ += fmt::format("# HELP tierlb_{} {}\n# TYPE tierlb_{} {}\n", name, help_text(help),
                            name, type_name(type));
    }
    // One sample; LABELS is the text between the braces, already escaped, or empty.
    void sample(std::string_view name, std::string_view labels, std::string_view value) {
        if (labels.empty()) {
            out_ += fmt::format("tierlb_{} {}\n", name, value);
        } else {
            out_ += fmt::format("tierlb_{}{{{}}} {}\n", name, labels, value);
        }
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

// A show stat number of milliseconds as Prometheus's seconds ("1234" -> "1.234").
std::string seconds_of(std::string_view ms) {
    std::int64_t n = 0;
    std::from_chars(ms.data(), ms.data() + ms.size(), n);
    return fmt::format("{:.3f}", static_cast<double>(n) / 1000.0);
}

// proxy="..." or proxy="...",server="...".
std::string labels_of(const StatLine& line) {
    std::string labels = "proxy=\"" + label_value(line["pxname"]) + "\"";
    if (kind_of(line) == server) {
        labels += ",server=\"" + label_value(line["svname"]) + "\"";
    }
    return labels;
}

void process_families(Writer& w, const StatsSnapshot& snapshot) {
    for (const InfoMetric& m : process_metrics) {
        const std::string_view value = snapshot.info_value(m.key);
        if (!is_number(value)) {
            continue;
        }
        const std::string name = fmt::format("process_{}", m.name);
        w.family(name, m.type, m.help);
        w.sample(name, "", value);
    }
    w.family("process_build_info", Type::gauge, "The version of tierlb this process runs.");
    w.sample("process_build_info",
             "version=\"" + label_value(snapshot.info_value("Version")) + "\"", "1");
}

// "tierlb_server_status{...,state="UP"} 1" and the other states 0.
void state_samples(Writer& w, std::string_view name, const std::string& labels,
                   const std::vector<std::string_view>& states, std::string_view current) {
    for (const std::string_view state : states) {
        w.sample(name, fmt::format("{},state=\"{}\"", labels, label_value(state)),
                 state == current ? "1" : "0");
    }
}

std::string_view server_state_label(std::string_view status) {
    switch (server_state(status)) {
        case ServerState::down:
        case ServerState::going_up:
            return "DOWN";
        case ServerState::maint:
            return "MAINT";
        case ServerState::drain:
        case ServerState::draining_down:
            return "DRAIN";
        case ServerState::up:
        case ServerState::going_down:
        case ServerState::no_check:
            break;
    }
    return "UP";
}

void status_family(Writer& w, const StatsSnapshot& snapshot, unsigned kind) {
    const std::string name = fmt::format("{}_status", kind_name(kind));
    w.family(name, Type::gauge, "Current state, one sample per state: 1 for the current one.");
    for (const StatLine& line : snapshot.lines) {
        if (kind_of(line) != kind) {
            continue;
        }
        const std::string_view status = line["status"];
        if (kind == server) {
            state_samples(w, name, labels_of(line), {"UP", "DOWN", "MAINT", "DRAIN"},
                          server_state_label(status));
        } else {
            const bool up = status == "OPEN" || status.starts_with("UP");
            state_samples(w, name, labels_of(line), {"UP", "DOWN"}, up ? "UP" : "DOWN");
        }
    }
}

// The last health check of each checked server: its status (one sample per status), its code
// when it has one, and its duration.
void check_families(Writer& w, const StatsSnapshot& snapshot) {
    std::vector<std::string_view> statuses;
    for (const auto status : check_statuses) {
        statuses.push_back(health::short_code(status));
    }
    w.family("server_check_status", Type::gauge,
             "Status of the last health check, one sample per status: 1 for the current one.");
    for (const StatLine& line : snapshot.lines) {
        const std::string_view current = line["check_status"];
        if (kind_of(line) == server && !current.empty()) {
            auto states = statuses;
            if (std::find(states.begin(), states.end(), current) == states.end()) {
                states.push_back(current);
            }
            state_samples(w, "server_check_status", labels_of(line), states, current);
        }
    }
    w.family("server_check_code", Type::gauge, "Layer 7 code of the last health check.");
    for (const StatLine& line : snapshot.lines) {
        if (kind_of(line) == server && is_number(line["check_code"])) {
            w.sample("server_check_code", labels_of(line), line["check_code"]);
        }
    }
    w.family("server_check_duration_seconds", Type::gauge,
             "Duration of the last health check, in seconds.");
    for (const StatLine& line : snapshot.lines) {
        const std::string_view ms = line["check_duration"];
        if (kind_of(line) == server && is_number(ms)) {
            w.sample("server_check_duration_seconds", labels_of(line), seconds_of(ms));
        }
    }
}

// One family per metric of KIND's lines; with IN_SECONDS the column's milliseconds are given
// in seconds.
template <std::size_t N>
void metric_families(Writer& w, const StatsSnapshot& snapshot, unsigned kind,
                     const std::array<LineMetric, N>& metrics, bool in_seconds = false) {
    for (const LineMetric& m : metrics) {
        if ((m.kinds & kind) == 0) {
            continue;
        }
        const std::string name = fmt::format("{}_{}", kind_name(kind), m.name);
        w.family(name, m.type, m.help);
        for (const StatLine& line : snapshot.lines) {
            const std::string_view value = line[m.column];
            if (kind_of(line) != kind || !is_number(value)) {
                continue;
            }
            if (!in_seconds) {
                w.sample(name, labels_of(line), value);
                continue;
            }
            w.sample(name, labels_of(line), seconds_of(value));
        }
    }
}

void line_families(Writer& w, const StatsSnapshot& snapshot, unsigned kind) {
    metric_families(w, snapshot, kind, line_metrics);
    metric_families(w, snapshot, kind, rate_metrics);
    metric_families(w, snapshot, kind, time_metrics, true);
    status_family(w, snapshot, kind);
}

// The length of the valid UTF-8 sequence at the start of TEXT, 0 when it is not one
// (overlong forms, surrogates and code points above U+10FFFF included).
std::size_t utf8_sequence(std::string_view text) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xbf;  // the allowed range of the second byte
    if (lead < 0x80) {
        return 1;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        low = lead == 0xe0 ? 0xa0 : 0x80;
        high = lead == 0xed ? 0x9f : 0xbf;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        low = lead == 0xf0 ? 0x90 : 0x80;
        high = lead == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (text.size() < length || byte(1) < low || byte(1) > high) {
        return 0;
    }
    for (std::size_t i = 2; i < length; ++i) {
        if (byte(i) < 0x80 || byte(i) > 0xbf) {
            return 0;
        }
    }
    return length;
}

}  // namespace

std::string label_value(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    while (!text.empty()) {
        const std::size_t length = utf8_sequence(text);
        if (length == 0) {
            out += "\xef\xbf\xbd";  // U+FFFD
            text.remove_prefix(1);
            continue;
        }
        const char c = text[0];
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.append(text.substr(0, length));
        }
        text.remove_prefix(length);
    }
    return out;
}

std::string help_text(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string metrics_text(const StatsSnapshot& snapshot) {
    Writer w;
    process_families(w, snapshot);
    line_families(w, snapshot, frontend);
    line_families(w, snapshot, backend);
    line_families(w, snapshot, server);
    check_families(w, snapshot);
    return w.take();
}

}  // namespace tierlb::net
