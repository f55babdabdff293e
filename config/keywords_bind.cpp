// "bind ADDR [options]": a listener of a frontend or listen section (INTERFACE.md section 4).

#include "config/parse_context.hpp"

namespace tierlb::config {

namespace {

using Values = std::span<const std::string>;

struct BindKeyword {
    std::string_view name;
    std::size_t values;  // words after the keyword
    void (*apply)(ParseContext&, Bind&, Values);
};

template <bool Bind::*Field>
void set_flag(ParseContext&, Bind& b, Values) {
    b.*Field = true;
}

template <std::string Bind::*Field>
void set_text(ParseContext&, Bind& b, Values v) {
    b.*Field = v[0];
}

void set_process(ParseContext& ctx, Bind& b, Values v) {
    ProcessSet set;
    if (ctx.parse("process", v[0], parse_process_set, set)) {
        b.process_option = set;
    }
}

void add_crt(ParseContext&, Bind& b, Values v) {
    b.crts.push_back(v[0]);
}

void set_alpn(ParseContext& ctx, Bind& b, Values v) {
    b.alpn.clear();
    std::string_view list = v[0];
    while (true) {
        const auto comma = list.find(',');
        const auto name = list.substr(0, comma);
        if (name.empty() || name.size() > 255) {
            ctx.error("'alpn': invalid protocol list '" + v[0] +
                      "' (expected comma-separated names such as 'h2,http/1.1')");
            return;
        }
        b.alpn.emplace_back(name);
        if (comma == std::string_view::npos) {
            return;
        }
        list.remove_prefix(comma + 1);
    }
}

void set_min_ver(ParseContext& ctx, Bind& b, Values v) {
    TlsVersion version{};
    if (ctx.parse("ssl-min-ver", v[0], parse_tls_version, version)) {
        b.tls.min_version = version;
    }
}

void set_max_ver(ParseContext& ctx, Bind& b, Values v) {
    TlsVersion version{};
    if (ctx.parse("ssl-max-ver", v[0], parse_tls_version, version)) {
        b.tls.max_version = version;
    }
}

void set_no_tls_tickets(ParseContext&, Bind& b, Values) {
    b.tls.no_tls_tickets = true;
}
void set_prefer_client_ciphers(ParseContext&, Bind& b, Values) {
    b.tls.prefer_client_ciphers = true;
}

void set_maxconn(ParseContext& ctx, Bind& b, Values v) {
    std::uint32_t value = 0;
    if (ctx.parse(
            "maxconn", v[0], [](auto t) { return parse_uint(t, 1, 10'000'000); }, value)) {
        b.maxconn = value;
    }
}

void set_backlog(ParseContext& ctx, Bind& b, Values v) {
    std::uint32_t value = 0;
    if (ctx.parse(
            "backlog", v[0], [](auto t) { return parse_uint(t, 1, 1'000'000); }, value)) {
        b.backlog = value;
    }
}

void set_id(ParseContext& ctx, Bind& b, Values v) {
    ctx.parse(
        "id", v[0], [](auto t) { return parse_uint(t, 1, 1'000'000); }, b.id);
}

void set_mode(ParseContext& ctx, Bind& b, Values v) {
    mode_t mode = 0;
    if (ctx.parse("mode", v[0], parse_octal_mode, mode)) {
        b.mode = mode;
    }
}

// HAProxy's numeric forms of "user" and "group" (ids without a name, in a container).
void set_uid(ParseContext& ctx, Bind& b, Values v) {
    std::uint32_t value = 0;
    if (ctx.parse(
            "uid", v[0], [](auto t) { return parse_uint(t, 0, 0x7fffffff); }, value)) {
        b.uid = value;
    }
}

void set_gid(ParseContext& ctx, Bind& b, Values v) {
    std::uint32_t value = 0;
    if (ctx.parse(
            "gid", v[0], [](auto t) { return parse_uint(t, 0, 0x7fffffff); }, value)) {
        b.gid = value;
    }
}

void set_accept_balance(ParseContext& ctx, Bind& b, Values v) {
    if (v[0] != "leastconn") {
        ctx.error("'accept-balance': unknown algorithm '" + v[0] + "' (expected leastconn)");
        return;
    }
    b.accept_balance_leastconn = true;
}

// "PROCESSES:WEIGHT": PROCESSES as `process` takes them (2, 2-5, 2,4, all, odd, even), WEIGHT
// 0..256 as a server's. One word, so that it reads as one setting; not "P/W", which HAProxy's
// `process` reads as process/thread. Whether PROCESSES are the bind's is checked once the
// bind's processes are known (validate.cpp).
void add_accept_weight(ParseContext& ctx, Bind& b, Values v) {
    const std::string_view text = v[0];
    const auto colon = text.rfind(':');
    const std::string usage = "'accept-weight': expected PROCESSES:WEIGHT such as '2-3:2' (";
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
        ctx.error(usage + "got '" + v[0] + "')");
        return;
    }
    const std::string_view processes = text.substr(0, colon);
    auto set = parse_process_set(processes);
    if (!set) {
        ctx.error("'accept-weight " + v[0] + "': " + set.error());
        return;
    }
    auto weight = parse_uint(text.substr(colon + 1), 0, 256);
    if (!weight) {
        ctx.error("'accept-weight " + v[0] + "': weight: " + weight.error());
        return;
    }
    const bool relative = processes == "all" || processes == "odd" || processes == "even";
    b.accept_weights.push_back({v[0], *set, relative, *weight});
}

constexpr BindKeyword bind_keywords[] = {
    {"process", 1, set_process},
    {"accept-proxy", 0, set_flag<&Bind::accept_proxy>},
    {"ssl", 0, set_flag<&Bind::ssl>},
    {"crt", 1, add_crt},
    {"crt-list", 1, set_text<&Bind::crt_list>},
    {"alpn", 1, set_alpn},
    {"ssl-min-ver", 1, set_min_ver},
    {"ssl-max-ver", 1, set_max_ver},
    {"ciphers", 1, set_text<&Bind::ciphers>},
    {"ciphersuites", 1, set_text<&Bind::ciphersuites>},
    {"no-tls-tickets", 0, set_no_tls_tickets},
    {"prefer-client-ciphers", 0, set_prefer_client_ciphers},
    {"maxconn", 1, set_maxconn},
    {"backlog", 1, set_backlog},
    {"defer-accept", 0, set_flag<&Bind::defer_accept>},
    {"name", 1, set_text<&Bind::name>},
    {"id", 1, set_id},
    {"mode", 1, set_mode},
    {"user", 1, set_text<&Bind::user>},
    {"group", 1, set_text<&Bind::group>},
    {"uid", 1, set_uid},
    {"gid", 1, set_gid},
    {"accept-handoff", 0, set_flag<&Bind::accept_handoff>},
    {"accept-balance", 1, set_accept_balance},
    {"accept-weight", 1, add_accept_weight},
};

const BindKeyword* find_bind_keyword(std::string_view name) {
    for (const auto& k : bind_keywords) {
        if (k.name == name) {
            return &k;
        }
    }
    return nullptr;
}

}  // namespace

void parse_bind_line(ParseContext& ctx, Proxy& proxy, const Words& words) {
    if (words.size() < 2) {
        ctx.error("'bind' expects an address (e.g. 'bind :443' or 'bind abns@p2')");
        return;
    }
    Bind bind;
    bind.where = ctx.where();
    bind.address_text = words[1];
    auto address = parse_address(words[1], AddressUse::bind);
    bool ok = address.has_value();
    if (ok) {
        bind.address = *address;
    } else {
        ctx.error("'bind': " + address.error());
    }
    for (std::size_t i = 2; i < words.size();) {
        const BindKeyword* k = find_bind_keyword(words[i]);
        if (k == nullptr) {
            std::vector<std::string_view> names;
            for (const auto& known : bind_keywords) {
                names.push_back(known.name);
            }
            ctx.error("'bind " + words[1] + "': unknown option '" + words[i] + "'" +
                      did_you_mean(words[i], names));
            return;
        }
        if (i + k->values >= words.size()) {
            ctx.error("'bind " + words[1] + "': '" + words[i] + "' expects a value");
            return;
        }
        k->apply(ctx, bind, Values(words).subspan(i + 1, k->values));
        i += 1 + k->values;
    }
    if (ok) {
        proxy.binds.push_back(std::move(bind));
    }
}

}  // namespace tierlb::config
