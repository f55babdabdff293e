// The "global" section: process-wide settings (INTERFACE.md section 4).

#include <algorithm>
#include <limits>

#include "config/parse_context.hpp"

namespace tierlb::config {

namespace {

using Handler = void (*)(ParseContext&, Global&, const Words&);

struct GlobalKeyword {
    std::string_view name;
    Handler handler;
};

void set_maxconn(ParseContext& ctx, Global& g, const Words& w) {
    std::uint32_t value = 0;
    if (ctx.expect_args(w, 1, 1, "maxconn <number>") &&
        ctx.parse(
            "maxconn", w[1], [](auto v) { return parse_uint(v, 1, 10'000'000); }, value)) {
        g.maxconn = value;
    }
}

void set_nbthread(ParseContext& ctx, Global& g, const Words& w) {
    if (ctx.expect_args(w, 1, 1, "nbthread <number>")) {
        ctx.parse(
            "nbthread", w[1], [](auto v) { return parse_uint(v, 1, 64); }, g.nbthread);
    }
}

void set_cpu_map(ParseContext& ctx, Global& g, const Words& w) {
    if (w.size() < 3) {
        ctx.error("'cpu-map' expects a process set and a CPU set (e.g. 'cpu-map 2 1')");
        return;
    }
    if (w[1].find('/') != std::string::npos || w[1].rfind("auto:", 0) == 0) {
        ctx.error(
            "'cpu-map': thread sets and 'auto:' are not supported; use 'cpu-map PROCESS "
            "CPUSET' (each process's threads share its CPU set)");
        return;
    }
    CpuMap map;
    map.where = ctx.where();
    if (!ctx.parse("cpu-map", w[1], parse_process_set, map.process)) {
        return;
    }
    for (std::size_t i = 2; i < w.size(); ++i) {
        std::vector<int> cpus;
        if (!ctx.parse("cpu-map", w[i], parse_cpu_list, cpus)) {
            return;
        }
        map.cpus.insert(map.cpus.end(), cpus.begin(), cpus.end());
    }
    g.cpu_maps.push_back(std::move(map));
}

void set_maxaccept(ParseContext& ctx, Global& g, const Words& w) {
    if (!ctx.expect_args(w, 1, 1, "tune.maxaccept <number>")) {
        return;
    }
    if (w[1] == "-1") {  // HAProxy: no limit
        g.tune_maxaccept = std::numeric_limits<std::uint32_t>::max();
        return;
    }
    ctx.parse(
        "tune.maxaccept", w[1], [](auto v) { return parse_uint(v, 1, 1'000'000); },
        g.tune_maxaccept);
}

// KEYWORD on|off into FLAG.
void set_on_off(ParseContext& ctx, const Words& w, const std::string& keyword, bool& flag) {
    if (!ctx.expect_args(w, 1, 1, keyword + " on|off")) {
        return;
    }
    if (w[1] != "on" && w[1] != "off") {
        ctx.error("'" + keyword + "' expects 'on' or 'off', not '" + w[1] + "'");
        return;
    }
    flag = w[1] == "on";
}

void set_idle_offload(ParseContext& ctx, Global& g, const Words& w) {
    set_on_off(ctx, w, "tune.ssl.idle-offload", g.tune_ssl_idle_offload);
}

void set_dispatcher_sched_batch(ParseContext& ctx, Global& g, const Words& w) {
    set_on_off(ctx, w, "tune.dispatcher.sched-batch", g.tune_dispatcher_sched_batch);
}

void set_hard_stop_after(ParseContext& ctx, Global& g, const Words& w) {
    Duration d{};
    if (ctx.expect_args(w, 1, 1, "hard-stop-after <time>") &&
        ctx.parse("hard-stop-after", w[1], parse_time, d)) {
        g.hard_stop_after = d;
    }
}

// "stats socket ADDR [process N] [level L] [mode M] [user U] [group G] [expose-fd listeners]"
void add_stats_socket(ParseContext& ctx, Global& g, const Words& w) {
    if (w.size() < 3) {
        ctx.error("'stats socket' expects an address (e.g. 'stats socket /run/tierlb.sock')");
        return;
    }
    StatsSocket s;
    s.text = w[2];
    s.where = ctx.where();
    auto address = parse_address(w[2], AddressUse::bind);
    if (!address) {
        ctx.error("'stats socket': " + address.error());
        return;
    }
    s.address = *address;
    for (std::size_t i = 3; i < w.size(); i += 2) {
        const std::string& option = w[i];
        if (i + 1 >= w.size()) {
            ctx.error("'stats socket': '" + option + "' expects a value");
            return;
        }
        const std::string& value = w[i + 1];
        if (option == "process") {
            ctx.parse("stats socket process", value, parse_process_set, s.process);
        } else if (option == "level") {
            if (value == "user") {
                s.level = StatsLevel::user;
            } else if (value == "operator") {
                s.level = StatsLevel::operator_level;
            } else if (value == "admin") {
                s.level = StatsLevel::admin;
            } else {
                ctx.error("'stats socket': unknown level '" + value +
                          "' (expected user, operator or admin)");
            }
        } else if (option == "mode") {
            mode_t mode = 0;
            if (ctx.parse("stats socket mode", value, parse_octal_mode, mode)) {
                s.mode = mode;
            }
        } else if (option == "user") {
            s.user = value;
        } else if (option == "group") {
            s.group = value;
        } else if (option == "expose-fd") {
            // HAProxy's way to hand listeners to a new process on reload. tierlb's master
            // always keeps the listeners itself, so there is nothing to expose.
            if (value != "listeners") {
                ctx.error("'stats socket': 'expose-fd' expects 'listeners'");
            }
        } else {
            ctx.error("'stats socket': unknown option '" + option +
                      "' (expected process, level, mode, user, group or expose-fd)");
        }
    }
    g.stats_sockets.push_back(std::move(s));
}

void add_stats_http(ParseContext& ctx, Global& g, const Words& w) {
    if (w.size() != 3 && !(w.size() == 5 && w[3] == "process")) {
        ctx.error(
            "'stats http' expects an address and optionally 'process N' "
            "(e.g. 'stats http 127.0.0.1:8404 process 1')");
        return;
    }
    StatsHttp s;
    s.text = w[2];
    s.where = ctx.where();
    auto address = parse_address(w[2], AddressUse::bind);
    if (!address) {
        ctx.error("'stats http': " + address.error());
        return;
    }
    s.address = *address;
    if (w.size() == 5) {
        ctx.parse("stats http process", w[4], parse_process_set, s.process);
    }
    g.stats_http.push_back(std::move(s));
}

void set_stats(ParseContext& ctx, Global& g, const Words& w) {
    if (w.size() >= 2 && w[1] == "socket") {
        add_stats_socket(ctx, g, w);
    } else if (w.size() >= 2 && w[1] == "http") {
        add_stats_http(ctx, g, w);
    } else if (w.size() >= 2 && w[1] == "timeout") {
        if (ctx.expect_args(w, 2, 1, "stats timeout <time>")) {
            ctx.parse("stats timeout", w[2], parse_time, g.stats_timeout);
        }
    } else {
        ctx.error("'stats' expects 'socket', 'http' or 'timeout'");
    }
}

void add_log(ParseContext& ctx, Global& g, const Words& w) {
    if (w.size() >= 2 && w[1] == "global") {
        ctx.error(
            "'log global' is for proxy sections; in 'global' name a target "
            "(stdout, stderr, /dev/log or udp@IP:PORT)");
        return;
    }
    LogTarget target;
    if (parse_log_target(ctx, std::span<const std::string>(w).subspan(1), target)) {
        g.logs.push_back(std::move(target));
    }
}

template <std::string Global::*Field>
void set_string(ParseContext& ctx, Global& g, const Words& w) {
    if (ctx.expect_args(w, 1, 1, w[0] + " <value>")) {
        g.*Field = w[1];
    }
}

// "user NAME" / "group NAME", remembering where for `tierlb -c` to name an unknown one.
template <std::string Global::*Field, Location Global::*Where>
void set_account(ParseContext& ctx, Global& g, const Words& w) {
    if (ctx.expect_args(w, 1, 1, w[0] + " <name>")) {
        g.*Field = w[1];
        g.*Where = ctx.where();
    }
}

void set_ticket_keys(ParseContext& ctx, Global& g, const Words& w) {
    if (ctx.expect_args(w, 1, 1, "tls-ticket-keys <file>")) {
        g.tls_ticket_keys = w[1];
        g.tls_ticket_keys_where = ctx.where();
    }
}

// "ssl-default-bind-options" takes a list of HAProxy's bind TLS options.
void set_ssl_bind_options(ParseContext& ctx, Global& g, const Words& w) {
    TlsOptions& o = g.ssl_default_bind_options;
    for (std::size_t i = 1; i < w.size(); ++i) {
        const std::string& opt = w[i];
        if (opt == "ssl-min-ver" || opt == "ssl-max-ver") {
            if (i + 1 >= w.size()) {
                ctx.error("'ssl-default-bind-options': '" + opt + "' expects a TLS version");
                return;
            }
            TlsVersion v{};
            if (ctx.parse(opt, w[++i], parse_tls_version, v)) {
                (opt == "ssl-min-ver" ? o.min_version : o.max_version) = v;
            }
        } else if (opt == "no-tls-tickets") {
            o.no_tls_tickets = true;
        } else if (opt == "prefer-client-ciphers") {
            o.prefer_client_ciphers = true;
        } else if (opt == "no-sslv3" || opt == "no-tlsv10" || opt == "no-tlsv11") {
            // Already off: tierlb never enables anything below TLSv1.2.
        } else if (opt == "no-tlsv12") {
            o.min_version = TlsVersion::tlsv13;
        } else if (opt == "no-tlsv13") {
            o.max_version = TlsVersion::tlsv12;
        } else if (opt == "force-tlsv12" || opt == "force-tlsv13") {
            o.min_version = o.max_version =
                opt == "force-tlsv12" ? TlsVersion::tlsv12 : TlsVersion::tlsv13;
        } else {
            ctx.error("'ssl-default-bind-options': unknown option '" + opt +
                      "' (expected ssl-min-ver, ssl-max-ver, no-tls-tickets, "
                      "prefer-client-ciphers, no-tlsv12, no-tlsv13, force-tlsv12, force-tlsv13)");
        }
    }
}

void set_daemon(ParseContext& ctx, Global& g, const Words& w) {
    if (ctx.expect_args(w, 1, 0, "daemon")) {
        g.daemon = true;
    }
}

void accept_master_worker(ParseContext& ctx, Global&, const Words& w) {
    ctx.expect_args(w, 1, 0, "master-worker");  // tierlb always runs a master
}

void reject_nbproc(ParseContext& ctx, Global&, const Words&) {
    ctx.error(
        "'nbproc' is not supported (HAProxy removed it in 2.5): name processes on bind "
        "lines with 'process N', or with 'bind-process N' in a section");
}

constexpr GlobalKeyword global_keywords[] = {
    {"maxconn", set_maxconn},
    {"nbthread", set_nbthread},
    {"cpu-map", set_cpu_map},
    {"tune.maxaccept", set_maxaccept},
    {"tune.ssl.idle-offload", set_idle_offload},
    {"tune.dispatcher.sched-batch", set_dispatcher_sched_batch},
    {"hard-stop-after", set_hard_stop_after},
    {"stats", set_stats},
    {"log", add_log},
    {"user", set_account<&Global::user, &Global::user_where>},
    {"group", set_account<&Global::group, &Global::group_where>},
    {"tls-ticket-keys", set_ticket_keys},
    {"ssl-default-bind-ciphers", set_string<&Global::ssl_default_bind_ciphers>},
    {"ssl-default-bind-ciphersuites", set_string<&Global::ssl_default_bind_ciphersuites>},
    {"ssl-default-bind-options", set_ssl_bind_options},
    {"crt-base", set_string<&Global::crt_base>},
    {"ca-base", set_string<&Global::ca_base>},
    {"pidfile", set_string<&Global::pidfile>},
    {"daemon", set_daemon},
    {"master-worker", accept_master_worker},
    {"nbproc", reject_nbproc},
};

}  // namespace

std::vector<std::string_view> global_keyword_names() {
    std::vector<std::string_view> names;
    for (const auto& k : global_keywords) {
        names.push_back(k.name);
    }
    return names;
}

void parse_global_keyword(ParseContext& ctx, Global& global, const Words& words) {
    for (const auto& k : global_keywords) {
        if (k.name == words[0]) {
            k.handler(ctx, global, words);
            return;
        }
    }
    ctx.error("unknown keyword '" + words[0] + "' in 'global' section" +
              did_you_mean(words[0], global_keyword_names()));
}

}  // namespace tierlb::config
