// Keywords of defaults, frontend, backend and listen sections (INTERFACE.md section 4). Each
// keyword names the sections that take it; a keyword in a section that cannot take it is an
// error, except timeouts, which HAProxy only warns about.

#include "config/parse_context.hpp"

namespace tierlb::config {

namespace {

// Which sections take a keyword.
enum Sections : unsigned {
    in_defaults = 1,
    in_frontend = 2,
    in_backend = 4,
    in_listen = 8,
    frontend_side = in_defaults | in_frontend | in_listen,
    backend_side = in_defaults | in_backend | in_listen,
    everywhere = in_defaults | in_frontend | in_backend | in_listen,
};

unsigned section_bit(ProxyKind kind) {
    switch (kind) {
        case ProxyKind::defaults:
            return in_defaults;
        case ProxyKind::frontend:
            return in_frontend;
        case ProxyKind::backend:
            return in_backend;
        case ProxyKind::listen:
            return in_listen;
    }
    return 0;
}

struct ProxyKeyword {
    std::string_view name;
    unsigned sections;
    void (*handler)(ParseContext&, Proxy&, const Words&);
};

void set_mode(ParseContext& ctx, Proxy&, const Words& w) {
    if (!ctx.expect_args(w, 1, 1, "mode tcp")) {
        return;
    }
    if (w[1] == "http") {
        ctx.error("'mode http' is not supported: tierlb forwards TCP only (use 'mode tcp')");
    } else if (w[1] != "tcp") {
        ctx.error("'mode': unknown mode '" + w[1] + "' (expected tcp)");
    }
}

void set_balance(ParseContext& ctx, Proxy& p, const Words& w) {
    if (!ctx.expect_args(w, 1, 1, "balance leastconn|roundrobin|source|first")) {
        return;
    }
    if (w[1] == "roundrobin") {
        p.balance = Balance::roundrobin;
    } else if (w[1] == "leastconn") {
        p.balance = Balance::leastconn;
    } else if (w[1] == "source") {
        p.balance = Balance::source;
    } else if (w[1] == "first") {
        p.balance = Balance::first;
    } else {
        ctx.error("'balance': unknown algorithm '" + w[1] +
                  "' (expected leastconn, roundrobin, source or first)");
    }
}

void set_maxconn(ParseContext& ctx, Proxy& p, const Words& w) {
    if (ctx.expect_args(w, 1, 1, "maxconn <number>")) {
        ctx.parse(
            "maxconn", w[1], [](auto v) { return parse_uint(v, 0, 10'000'000); }, p.maxconn);
    }
}

void set_retries(ParseContext& ctx, Proxy& p, const Words& w) {
    if (ctx.expect_args(w, 1, 1, "retries <number>")) {
        ctx.parse(
            "retries", w[1], [](auto v) { return parse_uint(v, 0, 100); }, p.retries);
    }
}

struct TimeoutName {
    std::string_view name;
    std::optional<Duration> Timeouts::*field;
    bool frontend_side;  // else backend side
};

constexpr TimeoutName timeout_names[] = {
    {"client", &Timeouts::client, true},       {"client-fin", &Timeouts::client_fin, true},
    {"client-hs", &Timeouts::client_hs, true}, {"connect", &Timeouts::connect, false},
    {"server", &Timeouts::server, false},      {"server-fin", &Timeouts::server_fin, false},
    {"check", &Timeouts::check, false},        {"queue", &Timeouts::queue, false},
    {"tunnel", &Timeouts::tunnel, false},
};

void set_timeout(ParseContext& ctx, Proxy& p, const Words& w) {
    if (w.size() < 2) {
        ctx.error("'timeout' expects a name and a time (e.g. 'timeout client 1h')");
        return;
    }
    for (const auto& t : timeout_names) {
        if (t.name != w[1]) {
            continue;
        }
        Duration d{};
        if (!ctx.expect_args(w, 2, 1, "timeout " + w[1] + " <time>") ||
            !ctx.parse("timeout " + w[1], w[2], parse_time, d)) {
            return;
        }
        p.timeouts.*t.field = d;
        if ((t.frontend_side && !p.has_frontend() && p.kind != ProxyKind::defaults) ||
            (!t.frontend_side && !p.has_backend() && p.kind != ProxyKind::defaults)) {
            ctx.warning("'timeout " + w[1] + "' is ignored in a '" +
                        std::string(to_string(p.kind)) + "' section");
        }
        return;
    }
    std::vector<std::string_view> names;
    for (const auto& t : timeout_names) {
        names.push_back(t.name);
    }
    ctx.error("'timeout': unknown timeout '" + w[1] +
              "' (expected client, client-fin, client-hs, connect, server, server-fin, check, "
              "queue or tunnel)" +
              did_you_mean(w[1], names));
}

// "option X" and "no option X".
void set_option(ParseContext& ctx, Proxy& p, const Words& w, bool enable) {
    const std::size_t first = enable ? 1 : 2;
    if (w.size() != first + 1) {
        ctx.error("'option' expects one name (e.g. 'option redispatch')");
        return;
    }
    const std::string& name = w[first];
    struct OptionName {
        std::string_view name;
        bool Proxy::*field;
        unsigned sections;
    };
    static constexpr OptionName options[] = {
        {"redispatch", &Proxy::redispatch, backend_side},
        {"tcplog", &Proxy::tcplog, frontend_side},
        {"dontlognull", &Proxy::dontlognull, frontend_side},
        {"clitcpka", &Proxy::tcpka_client, frontend_side},
        {"srvtcpka", &Proxy::tcpka_server, backend_side},
    };
    if (name == "tcpka") {  // both sides
        p.tcpka_client = p.tcpka_server = enable;
        return;
    }
    for (const auto& o : options) {
        if (o.name == name) {
            if ((o.sections & section_bit(p.kind)) == 0) {
                ctx.error("'option " + name + "' is not allowed in a '" +
                          std::string(to_string(p.kind)) + "' section");
                return;
            }
            p.*o.field = enable;
            return;
        }
    }
    if (name == "httplog" || name == "forwardfor" || name.rfind("http", 0) == 0) {
        ctx.error("'option " + name + "' needs 'mode http', which tierlb does not support");
        return;
    }
    ctx.error("'option': unknown option '" + name +
              "' (expected redispatch, tcplog, dontlognull, tcpka, clitcpka or srvtcpka)" +
              did_you_mean(
                  name, {"redispatch", "tcplog", "dontlognull", "tcpka", "clitcpka", "srvtcpka"}));
}

void enable_option(ParseContext& ctx, Proxy& p, const Words& w) {
    set_option(ctx, p, w, true);
}

// "no option X" and "no log".
void set_no(ParseContext& ctx, Proxy& p, const Words& w) {
    if (w.size() >= 2 && w[1] == "option") {
        set_option(ctx, p, w, false);
    } else if (w.size() == 2 && w[1] == "log") {
        p.log_global = false;
        p.logs.clear();
    } else {
        ctx.error("'no' expects 'option NAME' or 'log'");
    }
}

void add_log(ParseContext& ctx, Proxy& p, const Words& w) {
    if (w.size() == 2 && w[1] == "global") {
        p.log_global = true;
        return;
    }
    LogTarget target;
    if (parse_log_target(ctx, std::span<const std::string>(w).subspan(1), target)) {
        p.logs.push_back(std::move(target));
    }
}

void set_default_backend(ParseContext& ctx, Proxy& p, const Words& w) {
    if (ctx.expect_args(w, 1, 1, "default_backend <backend name>")) {
        p.default_backend = w[1];
        p.default_backend_where = ctx.where();
    }
}

void set_bind_process(ParseContext& ctx, Proxy& p, const Words& w) {
    ProcessSet set;
    if (ctx.expect_args(w, 1, 1, "bind-process <process set>") &&
        ctx.parse("bind-process", w[1], parse_process_set, set)) {
        p.bind_process = set;
    }
}

void add_bind(ParseContext& ctx, Proxy& p, const Words& w) {
    parse_bind_line(ctx, p, w);
}
void add_server(ParseContext& ctx, Proxy& p, const Words& w) {
    parse_server_line(ctx, p, w);
}
void set_default_server(ParseContext& ctx, Proxy& p, const Words& w) {
    parse_default_server_line(ctx, p, w);
}

constexpr ProxyKeyword proxy_keywords[] = {
    {"mode", everywhere, set_mode},
    {"balance", backend_side, set_balance},
    {"maxconn", frontend_side, set_maxconn},
    {"timeout", everywhere, set_timeout},
    {"retries", backend_side, set_retries},
    {"option", everywhere, enable_option},
    {"no", everywhere, set_no},
    {"log", everywhere, add_log},
    {"default-server", backend_side, set_default_server},
    {"default_backend", frontend_side, set_default_backend},
    {"bind-process", everywhere, set_bind_process},
    {"bind", in_frontend | in_listen, add_bind},
    {"server", in_backend | in_listen, add_server},
};

}  // namespace

std::vector<std::string_view> proxy_keyword_names() {
    std::vector<std::string_view> names;
    for (const auto& k : proxy_keywords) {
        names.push_back(k.name);
    }
    return names;
}

void parse_proxy_keyword(ParseContext& ctx, Proxy& proxy, const Words& words) {
    for (const auto& k : proxy_keywords) {
        if (k.name != words[0]) {
            continue;
        }
        if ((k.sections & section_bit(proxy.kind)) == 0) {
            ctx.error("'" + words[0] + "' is not allowed in a '" +
                      std::string(to_string(proxy.kind)) + "' section");
            return;
        }
        k.handler(ctx, proxy, words);
        return;
    }
    ctx.error("unknown keyword '" + words[0] + "' in '" + std::string(to_string(proxy.kind)) +
              "' section" + did_you_mean(words[0], proxy_keyword_names()));
}

}  // namespace tierlb::config
