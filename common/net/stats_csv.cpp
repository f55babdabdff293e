#include "common/net/stats_csv.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "common/health/check_result.hpp"
#include "common/health/health_log.hpp"

namespace tierlb::net {

namespace {

// HAProxy 2.6's columns, in its order ("-" is a real column name: the end of the generic ones).
namespace col {
// clang-format off
enum : std::size_t {
    pxname, svname, qcur, qmax, scur, smax, slim, stot, bin, bout, dreq, dresp, ereq, econ, eresp,
    wretr, wredis, status, weight, act, bck, chkfail, chkdown, lastchg, downtime, qlimit, pid, iid,
    sid, throttle, lbtot, tracked, type, rate, rate_lim, rate_max, check_status, check_code,
    check_duration, hrsp_1xx, hrsp_2xx, hrsp_3xx, hrsp_4xx, hrsp_5xx, hrsp_other, hanafail,
    req_rate, req_rate_max, req_tot, cli_abrt, srv_abrt, comp_in, comp_out, comp_byp, comp_rsp,
    lastsess, last_chk, last_agt, qtime, ctime, rtime, ttime, agent_status, agent_code,
    agent_duration, check_desc, agent_desc, check_rise, check_fall, check_health, agent_rise,
    agent_fall, agent_health, addr, cookie, mode, algo, conn_rate, conn_rate_max, conn_tot,
    intercepted, dcon, dses, wrew, connect, reuse, cache_lookups, cache_hits, srv_icur, src_ilim,
    qtime_max, ctime_max, rtime_max, ttime_max, eint, idle_conn_cur, safe_conn_cur, used_conn_cur,
    need_conn_est, uweight, agg_server_status, agg_server_check_status, agg_check_status, dash,
    ssl_sess, ssl_reused_sess, ssl_failed_handshake, h2_headers_rcvd, h2_data_rcvd,
    h2_settings_rcvd, h2_rst_stream_rcvd, h2_goaway_rcvd, h2_detected_conn_protocol_errors,
    h2_detected_strm_protocol_errors, h2_rst_stream_resp, h2_goaway_resp, h2_open_connections,
    h2_backend_open_streams, h2_total_connections, h2_backend_total_streams, h1_open_connections,
    h1_open_streams, h1_total_connections, h1_total_streams, h1_bytes_in, h1_bytes_out,
    h1_spliced_bytes_in, h1_spliced_bytes_out, count
};
// clang-format on
}  // namespace col

// clang-format off
constexpr std::array<std::string_view, col::count> column_names{
    "pxname", "svname", "qcur", "qmax", "scur", "smax", "slim", "stot", "bin", "bout", "dreq",
    "dresp", "ereq", "econ", "eresp", "wretr", "wredis", "status", "weight", "act", "bck",
    "chkfail", "chkdown", "lastchg", "downtime", "qlimit", "pid", "iid", "sid", "throttle", "lbtot",
    "tracked", "type", "rate", "rate_lim", "rate_max", "check_status", "check_code",
    "check_duration", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other",
    "hanafail", "req_rate", "req_rate_max", "req_tot", "cli_abrt", "srv_abrt", "comp_in",
    "comp_out", "comp_byp", "comp_rsp", "lastsess", "last_chk", "last_agt", "qtime", "ctime",
    "rtime", "ttime", "agent_status", "agent_code", "agent_duration", "check_desc", "agent_desc",
    "check_rise", "check_fall", "check_health", "agent_rise", "agent_fall", "agent_health", "addr",
    "cookie", "mode", "algo", "conn_rate", "conn_rate_max", "conn_tot", "intercepted", "dcon",
    "dses", "wrew", "connect", "reuse", "cache_lookups", "cache_hits", "srv_icur", "src_ilim",
    "qtime_max", "ctime_max", "rtime_max", "ttime_max", "eint", "idle_conn_cur", "safe_conn_cur",
    "used_conn_cur", "need_conn_est", "uweight", "agg_server_status", "agg_server_check_status",
    "agg_check_status", "-", "ssl_sess", "ssl_reused_sess", "ssl_failed_handshake",
    "h2_headers_rcvd", "h2_data_rcvd", "h2_settings_rcvd", "h2_rst_stream_rcvd", "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors", "h2_detected_strm_protocol_errors", "h2_rst_stream_resp",
    "h2_goaway_resp", "h2_open_connections", "h2_backend_open_streams", "h2_total_connections",
    "h2_backend_total_streams", "h1_open_connections", "h1_open_streams", "h1_total_connections",
    "h1_total_streams", "h1_bytes_in", "h1_bytes_out", "h1_spliced_bytes_in",
    "h1_spliced_bytes_out"};
// clang-format on

// Idle lines as HAProxy 2.6 prints them in TCP mode (captured from its own `show stat`), names
// and computed columns blanked: every column tierlb does not compute keeps these values.
constexpr std::string_view frontend_template =
    ",FRONTEND,,,0,0,,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,,,0,,,,0,0,0,0,,,,,,,,,,,0,0,0,,,0,0,0,0,,,,,,"
    ",,,,,,,,,,,,,,,tcp,,0,0,0,,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
    ",0,0,0,0,0";
constexpr std::string_view server_template =
    ",,0,0,0,0,,0,0,0,,0,,0,0,0,0,,,,,,,,,,,,,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,,,,"
    ",,,,,,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,";
constexpr std::string_view backend_template =
    ",BACKEND,0,0,0,0,,0,0,0,0,0,,0,0,0,0,UP,,,,,0,,0,,,,0,,0,,1,0,,0,,,,,,,,,,,,,,0,0,0,0,0,0,-1"
    ",,,0,0,0,0,,,,,,,,,,,,,,tcp,,,,,,,,0,0,0,,,,,0,0,0,0,0,,,,,,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,"
    "0,0,0,0,0,0,0,0,0,0,0,0";

// HAProxy 2.6's listener line (`option socket-stats`, type 3), idle, in TCP mode: the rows of
// an accept-balance bind, one per process of its group.
constexpr std::string_view listener_template =
    ",,,,0,0,0,0,0,0,0,0,0,,,,,,,,,,,,,,,,,,,,3,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,tcp,,,,"
    ",,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,";

// Each template has exactly one value per column.
constexpr bool fits_columns(std::string_view text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), ',')) + 1 == col::count;
}
static_assert(fits_columns(frontend_template));
static_assert(fits_columns(server_template));
static_assert(fits_columns(backend_template));
static_assert(fits_columns(listener_template));

using Fields = std::array<std::string_view, col::count>;

Fields split_template(std::string_view text) {
    Fields fields{};
    std::size_t column = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == ',') {
            fields[column++] = text.substr(start, i - start);
            start = i + 1;
        }
    }
    return fields;
}

enum class Kind { frontend, server, backend, listener };

const Fields& template_of(Kind kind) {
    static const std::array<Fields, 4> templates{
        split_template(frontend_template), split_template(server_template),
        split_template(backend_template), split_template(listener_template)};
    return templates[static_cast<std::size_t>(kind)];
}

// One line being filled: the template's values, then the computed ones (unquoted: quoting is
// the CSV writer's business).
class Line {
public:
    explicit Line(Kind kind) {
        const Fields& fields = template_of(kind);
        line_.values.assign(fields.begin(), fields.end());
    }
    void set(std::size_t column, std::string_view text) { line_.values[column] = text; }
    void set(std::size_t column, std::uint64_t n) { line_.values[column] = std::to_string(n); }
    void set_signed(std::size_t column, std::int64_t n) {
        line_.values[column] = std::to_string(n);
    }
    void set_optional(std::size_t column, std::uint64_t n) {
        line_.values[column] = n == 0 ? std::string() : std::to_string(n);
    }
    void append_to(std::vector<StatLine>& out) { out.push_back(std::move(line_)); }

private:
    StatLine line_;
};

struct Clocks {
    Clock::time_point now;
    std::int64_t wall_seconds = 0;
};

std::uint64_t seconds_between(Clock::time_point from, Clock::time_point to) {
    if (to <= from) {
        return 0;
    }
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(to - from).count());
}

// lastsess: seconds since the last connection, -1 when there was none.
std::int64_t since_last_session(std::uint64_t last, const Clocks& clocks) {
    if (last == 0) {
        return -1;
    }
    return std::max<std::int64_t>(0, clocks.wall_seconds - static_cast<std::int64_t>(last));
}

void set_traffic(Line& line, const TrafficCounters& t) {
    line.set(col::scur, get(t.current));
    line.set(col::smax, get(t.max));
    line.set(col::stot, get(t.total));
    line.set(col::bin, get(t.bytes_in));
    line.set(col::bout, get(t.bytes_out));
    line.set(col::rate, t.session_rate.per_second());
    line.set(col::rate_max, t.session_rate.max());
}

// A backend's or a server's aborted transfers and the averages of its last sessions (rtime,
// HTTP's response time, stays 0 in TCP mode as in HAProxy).
void set_session_ends(Line& line, const Counter& client_aborts, const Counter& server_aborts,
                      const SessionTimes& times) {
    line.set(col::cli_abrt, get(client_aborts));
    line.set(col::srv_abrt, get(server_aborts));
    line.set(col::qtime, times.queue.average());
    line.set(col::ctime, times.connect.average());
    line.set(col::rtime, std::uint64_t{0});
    line.set(col::ttime, times.total.average());
    line.set(col::qtime_max, times.queue.max());
    line.set(col::ctime_max, times.connect.max());
    line.set(col::rtime_max, std::uint64_t{0});
    line.set(col::ttime_max, times.total.max());
}

void set_identity(Line& line, const ProcessRuntime& runtime, const config::Proxy& proxy,
                  std::string_view svname, std::uint32_t sid) {
    line.set(col::pxname, proxy.name);
    line.set(col::svname, svname);
    line.set(col::pid, static_cast<std::uint64_t>(runtime.state.number));
    line.set(col::iid, proxy.id);
    line.set(col::sid, sid);
}

std::uint64_t frontend_maxconn(const ProcessRuntime& runtime, const config::Proxy& proxy) {
    return proxy.maxconn != 0 ? proxy.maxconn : global_maxconn(runtime);
}

// HAProxy's default fullconn, shown as a backend's slim: a tenth of the maxconn of every
// frontend that sends it traffic, rounded up, at least 1.
std::uint64_t backend_fullconn(const ProcessRuntime& runtime, const BackendRuntime& backend) {
    std::uint64_t total = 0;
    if (const auto& config = runtime.state.config) {
        for (const auto& p : config->proxies) {
            const config::Proxy* target = p.has_frontend() ? config->backend_of(p) : nullptr;
            if (target != nullptr && target->name == backend.name()) {
                total += frontend_maxconn(runtime, p);
            }
        }
    } else {
        for (const auto& f : runtime.frontends) {
            if (f->backend == &backend) {
                total += frontend_maxconn(runtime, *f->config);
            }
        }
    }
    return std::max<std::uint64_t>(1, (total + 9) / 10);
}

// STOP once the process has stopped the frontend's listeners (soft stop), else OPEN.
const char* frontend_status(const ProcessRuntime&, const FrontendRuntime& frontend) {
    return frontend.stopped.load(std::memory_order_relaxed) ? "STOP" : "OPEN";
}

void frontend_line(std::vector<StatLine>& out, const ProcessRuntime& runtime,
                   const FrontendRuntime& frontend) {
    Line line(Kind::frontend);
    const config::Proxy& proxy = *frontend.config;
    set_identity(line, runtime, proxy, "FRONTEND", 0);
    set_traffic(line, frontend.stats.traffic);
    line.set(col::slim, frontend_maxconn(runtime, proxy));
    line.set(col::dreq, get(frontend.stats.denied));
    line.set(col::ereq, get(frontend.stats.request_errors));
    line.set(col::dcon, get(frontend.stats.denied_connections));
    line.set(col::status, frontend_status(runtime, frontend));
    line.set(col::conn_tot, get(frontend.stats.traffic.connections));
    line.set(col::conn_rate, frontend.stats.traffic.connection_rate.per_second());
    line.set(col::conn_rate_max, frontend.stats.traffic.connection_rate.max());
    line.set(col::ssl_sess, get(frontend.stats.tls_handshakes));
    line.set(col::ssl_reused_sess, get(frontend.stats.tls_resumed));
    line.set(col::ssl_failed_handshake, get(frontend.stats.tls_failed_handshakes));
    line.append_to(out);
}

// An accept-balance slot's state, in the words of a server's: DOWN while no live process has
// its socket in the group (dead, restarting), MAINT and DRAIN as set by `set accept-balance`
// (a weight of 0 drains, as for servers), else UP.
std::string_view slot_status(const NohopSlotView& slot) {
    if (!slot.up) {
        return "DOWN";
    }
    if (slot.admin == nohop_maint) {
        return "MAINT";
    }
    return slot.admin == nohop_drain || slot.weight == 0 ? "DRAIN" : "UP";
}

// The rows of FRONTEND's accept-balance binds: one per process of each group, with the
// connections the kernel counts for it (scur), its weight, its state and how many connections
// the eBPF program placed on it (lbtot). pid is the slot's process, so that every process of
// the group shows the same rows.
void accept_balance_lines(std::vector<StatLine>& out, const ProcessRuntime& runtime,
                          const FrontendRuntime& frontend, const StatOptions& options) {
    for (const auto& listener : runtime.listeners) {
        if (listener->frontend != &frontend || !listener->nohop) {
            continue;
        }
        const config::Bind& bind = *listener->config;
        for (const NohopSlotView& slot : listener->nohop->slots()) {
            Line line(Kind::listener);
            set_identity(line, runtime, *frontend.config, nohop_slot_name(bind, slot.process),
                         bind.id);
            line.set(col::pid, static_cast<std::uint64_t>(slot.process));
            line.set(col::scur, slot.count);
            line.set(col::status, slot_status(slot));
            line.set(col::weight, slot.weight);
            line.set(col::uweight, slot.weight);
            line.set(col::lbtot, slot.selected);
            line.set(col::addr,
                     options.show_addresses ? listener->bound.to_string() : std::string());
            line.append_to(out);
        }
    }
}

// show stat's address column: HAProxy writes "unix" for every unix and abstract socket.
std::string server_address(const config::Server& server) {
    return server.address.is_inet() ? server.address.to_string() : "unix";
}

std::string server_status(const config::Server& server, const BackendRuntime::ServerView& view,
                          const std::optional<health::CheckState>& check) {
    const bool drain = view.admin == balance::AdminState::drain;
    if (view.admin == balance::AdminState::maint) {
        return "MAINT";
    }
    if (check) {
        return health::show_stat_status(*check, drain);
    }
    if (!view.up) {
        return "DOWN";
    }
    if (drain) {
        return "DRAIN";
    }
    return server.options.check ? "UP" : "no check";
}

// The counters always; the last check's outcome and the rise/fall/health columns only while
// checks run (HAProxy blanks them while a server is in maintenance).
void set_check_columns(Line& line, const health::CheckState& check, bool paused,
                       const Clocks& clocks) {
    line.set(col::chkfail, check.failed_checks());
    line.set(col::chkdown, check.down_transitions());
    line.set(
        col::downtime,
        static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::seconds>(check.downtime(clocks.now)).count()));
    if (paused) {
        return;
    }
    line.set(col::check_status, health::short_code(check.last_status()));
    if (health::has_code(check.last_status())) {
        line.set_signed(col::check_code, check.last_code());
    }
    if (const auto duration = check.last_duration()) {
        line.set(col::check_duration, static_cast<std::uint64_t>(duration->count()));
    }
    line.set(col::last_chk, check.last_info());
    line.set(col::check_desc, health::description(check.last_status()));
    line.set(col::check_rise, check.params().rise);
    line.set(col::check_fall, check.params().fall);
    line.set(col::check_health, check.health());
}

struct ServerSnapshot {
    BackendRuntime::ServerView view;
    std::optional<health::CheckState> check;
};

void server_line(std::vector<StatLine>& out, const ProcessRuntime& runtime,
                 const BackendRuntime& backend, std::size_t index, const ServerSnapshot& snap,
                 const StatOptions& options, const Clocks& clocks) {
    const ServerRuntime& server = backend.server(index);
    const config::Server& conf = *server.config;
    const ServerStats& stats = server.stats;
    Line line(Kind::server);
    set_identity(line, runtime, backend.config(), conf.name, conf.id);
    set_traffic(line, stats.traffic);
    line.set(col::scur, snap.view.load);
    line.set_optional(col::slim, conf.options.maxconn);
    line.set_optional(col::qlimit, conf.options.maxqueue);
    line.set(col::econ, get(stats.connect_errors));
    line.set(col::eresp, get(stats.response_errors));
    line.set(col::wretr, get(stats.retries));
    line.set(col::wredis, get(stats.redispatches));
    line.set(col::status, server_status(conf, snap.view, snap.check));
    line.set(col::weight, snap.view.weight);
    line.set(col::uweight, snap.view.weight);
    line.set(col::act, snap.view.backup ? 0U : 1U);
    line.set(col::bck, snap.view.backup ? 1U : 0U);
    line.set(col::lastchg, seconds_between(snap.view.last_change, clocks.now));
    line.set(col::lbtot, get(stats.selected));
    line.set(col::connect, get(stats.traffic.total));
    line.set(col::need_conn_est, snap.view.load);
    line.set_signed(col::lastsess, since_last_session(get(stats.last_session), clocks));
    set_session_ends(line, stats.client_aborts, stats.server_aborts, stats.times);
    if (snap.check) {
        set_check_columns(
            line, *snap.check,
            snap.view.admin == balance::AdminState::maint || snap.check->in_maintenance(), clocks);
    }
    line.set(col::addr, options.show_addresses ? server_address(conf) : std::string());
    line.append_to(out);
}

bool hidden(const ServerSnapshot& snap, const StatFilter& filter) {
    const bool maint = snap.view.admin == balance::AdminState::maint;
    if (filter.no_maint && maint) {
        return true;
    }
    return filter.up_only && (maint || !snap.view.up);
}

// The BACKEND line's weight, as HAProxy's lbprm.tot_weight: the active servers in service, or
// when there is none the first backup in service (no `option allbackups`).
struct BackendTotals {
    unsigned active = 0;
    unsigned backup = 0;
    std::uint64_t weight = 0;
    std::uint64_t backup_weight = 0;
    unsigned running = 0;  // neither down nor in maintenance, for "UP (n/m)"
    std::uint64_t response_errors = 0;
    std::uint64_t connects = 0;
    std::uint64_t last_session = 0;
};

BackendTotals totals_of(const BackendRuntime& backend, const std::vector<ServerSnapshot>& snaps) {
    BackendTotals t;
    for (std::size_t i = 0; i < snaps.size(); ++i) {
        const auto& v = snaps[i].view;
        if (v.in_service && v.backup) {
            t.backup_weight = t.backup == 0 ? v.weight : t.backup_weight;
            ++t.backup;
        } else if (v.in_service) {
            t.weight += v.weight;
            ++t.active;
        }
        if (v.up && v.admin != balance::AdminState::maint) {
            ++t.running;
        }
        const ServerStats& stats = backend.server(i).stats;
        t.response_errors += get(stats.response_errors);
        t.connects += get(stats.traffic.total);
        t.last_session = std::max(t.last_session, get(stats.last_session));
    }
    if (t.active == 0) {
        t.weight = t.backup_weight;
    }
    return t;
}

void backend_line(std::vector<StatLine>& out, const ProcessRuntime& runtime,
                  const BackendRuntime& backend, const std::vector<ServerSnapshot>& snaps,
                  const StatOptions& options, const Clocks& clocks) {
    const BackendTotals t = totals_of(backend, snaps);
    Line line(Kind::backend);
    set_identity(line, runtime, backend.config(), "BACKEND", 0);
    set_traffic(line, backend.traffic());
    line.set(col::qcur, backend.queued());
    line.set(col::qmax, backend.max_queued());
    line.set(col::slim, backend_fullconn(runtime, backend));
    line.set(col::econ, get(backend.connect_errors()));
    line.set(col::eresp, t.response_errors);
    line.set(col::wretr, get(backend.retries()));
    line.set(col::wredis, get(backend.redispatches()));
    std::string status = (t.weight > 0 || snaps.empty()) ? "UP" : "DOWN";
    if (options.filter.up_only || options.filter.no_maint) {
        status += " (" + std::to_string(t.running) + "/" + std::to_string(snaps.size()) + ")";
    }
    line.set(col::status, status);
    line.set(col::weight, t.weight);
    line.set(col::uweight, t.weight);
    line.set(col::act, t.active);
    line.set(col::bck, t.backup);
    line.set(col::lastchg, seconds_between(runtime.state.started, clocks.now));
    line.set(col::downtime, snaps.empty() ? std::string() : std::string("0"));
    line.set(col::lbtot, get(backend.selected()));
    line.set_signed(col::lastsess, since_last_session(t.last_session, clocks));
    line.set(col::algo, config::to_string(backend.config().balance));
    line.set(col::connect, t.connects);
    set_session_ends(line, backend.client_aborts(), backend.server_aborts(), backend.times());
    line.append_to(out);
}

void backend_lines(std::vector<StatLine>& out, const ProcessRuntime& runtime,
                   const BackendRuntime& backend, const StatOptions& options,
                   const Clocks& clocks) {
    const StatFilter& filter = options.filter;
    std::vector<ServerSnapshot> snaps;
    snaps.reserve(backend.size());
    for (std::size_t i = 0; i < backend.size(); ++i) {
        ServerSnapshot snap{backend.view(i), std::nullopt};
        if (options.checks && backend.server(i).config->options.check) {
            snap.check = options.checks(backend, i);
        }
        snaps.push_back(std::move(snap));
    }
    if ((filter.types & 4) != 0) {
        for (std::size_t i = 0; i < snaps.size(); ++i) {
            const auto sid = backend.server(i).config->id;
            if ((filter.server_id != -1 && filter.server_id != sid) || hidden(snaps[i], filter)) {
                continue;
            }
            server_line(out, runtime, backend, i, snaps[i], options, clocks);
        }
    }
    if ((filter.types & 2) != 0) {
        backend_line(out, runtime, backend, snaps, options, clocks);
    }
}

// A section of the configuration as this process runs it: a listen has both halves.
struct Section {
    const config::Proxy* proxy = nullptr;
    const FrontendRuntime* frontend = nullptr;
    const BackendRuntime* backend = nullptr;
};

std::vector<Section> sections_of(const ProcessRuntime& runtime) {
    std::vector<Section> sections;
    auto entry = [&](const config::Proxy* proxy) -> Section& {
        for (auto& s : sections) {
            if (s.proxy == proxy) {
                return s;
            }
        }
        return sections.emplace_back(Section{proxy});
    };
    for (const auto& f : runtime.frontends) {
        entry(f->config).frontend = f.get();
    }
    for (const auto& b : runtime.backends) {
        entry(&b->config()).backend = b.get();
    }
    std::stable_sort(sections.begin(), sections.end(),
                     [](const Section& a, const Section& b) { return a.proxy->id < b.proxy->id; });
    return sections;
}

}  // namespace

std::uint64_t global_maxconn(const ProcessRuntime& runtime) {
    if (runtime.state.connections.limit() != 0) {
        return runtime.state.connections.limit();
    }
    const auto& config = runtime.state.config;
    return config && config->global.maxconn ? *config->global.maxconn : 0;
}

const std::string& stat_header() {
    static const std::string header = [] {
        std::string h = "# ";
        for (auto name : column_names) {
            h.append(name).push_back(',');
        }
        h.push_back('\n');
        return h;
    }();
    return header;
}

std::string csv_field(std::string_view text) {
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
        return std::string(text);
    }
    std::string quoted = "\"";
    for (char c : text) {
        if (c == '"') {
            quoted.push_back('"');
        }
        quoted.push_back(c);
    }
    quoted.push_back('"');
    return quoted;
}

std::vector<StatLine> stat_lines(const ProcessRuntime& runtime, const StatOptions& options) {
    Clocks clocks;
    clocks.now = options.now.value_or(Clock::now());
    clocks.wall_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(
            options.wall_now.value_or(std::chrono::system_clock::now()).time_since_epoch())
            .count();
    const StatFilter& filter = options.filter;
    std::vector<StatLine> out;
    for (const Section& s : sections_of(runtime)) {
        if (filter.proxy_id && *filter.proxy_id != s.proxy->id) {
            continue;
        }
        if (s.frontend != nullptr && (filter.types & 1) != 0) {
            frontend_line(out, runtime, *s.frontend);
        }
        if (s.frontend != nullptr && (filter.types & 8) != 0) {
            accept_balance_lines(out, runtime, *s.frontend, options);
        }
        if (s.backend != nullptr) {
            backend_lines(out, runtime, *s.backend, options, clocks);
        }
    }
    return out;
}

std::string nohop_slot_name(const config::Bind& bind, int process) {
    return (bind.name.empty() ? "sock-" + std::to_string(bind.id) : bind.name) + "@p" +
           std::to_string(process);
}

std::string_view stat_column_name(std::size_t column) {
    return column < column_names.size() ? column_names[column] : std::string_view();
}

std::string_view StatLine::operator[](std::string_view column) const {
    const auto found = std::find(column_names.begin(), column_names.end(), column);
    const auto index = static_cast<std::size_t>(found - column_names.begin());
    return index < values.size() ? std::string_view(values[index]) : std::string_view();
}

std::string stat_csv(const std::vector<StatLine>& lines) {
    std::string out = stat_header();
    for (const StatLine& line : lines) {
        for (const auto& value : line.values) {
            out.append(csv_field(value)).push_back(',');
        }
        out.push_back('\n');
    }
    return out;
}

std::string show_stat(const ProcessRuntime& runtime, const StatOptions& options) {
    return stat_csv(stat_lines(runtime, options));
}

}  // namespace tierlb::net
