// "server NAME ADDR [options]" and "default-server [options]" (INTERFACE.md section 4). A
// server starts from its section's default-server options, which start from those of the
// defaults section; its own options are applied on top, in order.

#include "config/parse_context.hpp"

namespace tierlb::config {

namespace {

using Values = std::span<const std::string>;

struct ServerKeyword {
    std::string_view name;
    std::size_t values;  // words after the keyword
    void (*apply)(ParseContext&, ServerOptions&, Values);
};

template <bool ServerOptions::*Field, bool Value>
void set_flag(ParseContext&, ServerOptions& o, Values) {
    o.*Field = Value;
}

template <SendProxy Version>
void set_send_proxy(ParseContext&, ServerOptions& o, Values) {
    o.send_proxy = Version;
}

// send-proxy-v2-ssl and send-proxy-v2-ssl-cn: a v2 header with the SSL TLV (and its CN).
template <bool WithCommonName>
void set_send_proxy_ssl(ParseContext&, ServerOptions& o, Values) {
    o.send_proxy = SendProxy::v2;
    o.proxy_v2.ssl = true;
    o.proxy_v2.cert_cn = o.proxy_v2.cert_cn || WithCommonName;
}

// "proxy-v2-options ssl,cert-cn,...": added to what the v2 header carries; each SSL detail
// implies the SSL TLV, as in HAProxy. It does not turn send-proxy-v2 on by itself.
void set_proxy_v2_options(ParseContext& ctx, ServerOptions& o, Values v) {
    ProxyV2Options& p = o.proxy_v2;
    std::string_view rest = v[0];
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        const std::string_view option = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        bool* detail = option == "cert-cn"      ? &p.cert_cn
                       : option == "ssl-cipher" ? &p.ssl_cipher
                       : option == "cert-sig"   ? &p.cert_sig
                       : option == "cert-key"   ? &p.cert_key
                                                : nullptr;
        if (detail != nullptr) {
            *detail = true;
            p.ssl = true;
        } else if (option == "ssl") {
            p.ssl = true;
        } else if (option == "authority") {
            p.authority = true;
        } else if (option == "crc32c") {
            p.crc32c = true;
        } else if (option == "unique-id") {
            ctx.error(
                "'proxy-v2-options': 'unique-id' is not supported (tierlb has no "
                "unique-id-format)");
        } else {
            ctx.error("'proxy-v2-options': '" + std::string(option) +
                      "' : proxy v2 option not implemented (expected ssl, cert-cn, ssl-cipher, "
                      "cert-sig, cert-key, authority or crc32c)");
        }
    }
}

template <Duration ServerOptions::*Field>
void set_time(ParseContext& ctx, ServerOptions& o, Values v) {
    Duration d{};
    if (ctx.parse("server", v[0], parse_time, d)) {
        if (d.count() == 0) {
            ctx.error("check intervals must be greater than 0, got '" + v[0] + "'");
            return;
        }
        o.*Field = d;
    }
}

template <std::optional<Duration> ServerOptions::*Field>
void set_optional_time(ParseContext& ctx, ServerOptions& o, Values v) {
    Duration d{};
    if (ctx.parse("server", v[0], parse_time, d)) {
        if (d.count() == 0) {
            ctx.error("check intervals must be greater than 0, got '" + v[0] + "'");
            return;
        }
        o.*Field = d;
    }
}

template <std::uint32_t ServerOptions::*Field, std::uint32_t Min, std::uint32_t Max>
void set_number(ParseContext& ctx, ServerOptions& o, Values v) {
    ctx.parse(
        "server", v[0], [](auto t) { return parse_uint(t, Min, Max); }, o.*Field);
}

void set_verify(ParseContext& ctx, ServerOptions& o, Values v) {
    if (v[0] == "none" || v[0] == "required") {
        o.verify_required = v[0] == "required";
    } else {
        ctx.error("'verify': unknown value '" + v[0] + "' (expected none or required)");
    }
}

void set_ca_file(ParseContext&, ServerOptions& o, Values v) {
    o.ca_file = v[0];
}

void reject_ssl(ParseContext& ctx, ServerOptions&, Values) {
    ctx.error(
        "'ssl' on a server is not supported: tierlb forwards plain TCP to servers (use "
        "'check-ssl' to check a TLS worker)");
}

constexpr ServerKeyword server_keywords[] = {
    {"send-proxy", 0, set_send_proxy<SendProxy::v1>},
    {"send-proxy-v2", 0, set_send_proxy<SendProxy::v2>},
    {"send-proxy-v2-ssl", 0, set_send_proxy_ssl<false>},
    {"send-proxy-v2-ssl-cn", 0, set_send_proxy_ssl<true>},
    {"proxy-v2-options", 1, set_proxy_v2_options},
    {"no-send-proxy", 0, set_send_proxy<SendProxy::none>},
    {"no-send-proxy-v2", 0, set_send_proxy<SendProxy::none>},
    {"check", 0, set_flag<&ServerOptions::check, true>},
    {"no-check", 0, set_flag<&ServerOptions::check, false>},
    {"inter", 1, set_time<&ServerOptions::inter>},
    {"fastinter", 1, set_optional_time<&ServerOptions::fastinter>},
    {"downinter", 1, set_optional_time<&ServerOptions::downinter>},
    {"rise", 1, set_number<&ServerOptions::rise, 1, 1000>},
    {"fall", 1, set_number<&ServerOptions::fall, 1, 1000>},
    {"weight", 1, set_number<&ServerOptions::weight, 0, 256>},
    {"maxconn", 1, set_number<&ServerOptions::maxconn, 0, 10'000'000>},
    {"maxqueue", 1, set_number<&ServerOptions::maxqueue, 0, 10'000'000>},
    {"backup", 0, set_flag<&ServerOptions::backup, true>},
    {"no-backup", 0, set_flag<&ServerOptions::backup, false>},
    {"disabled", 0, set_flag<&ServerOptions::disabled, true>},
    {"enabled", 0, set_flag<&ServerOptions::disabled, false>},
    {"check-send-proxy", 0, set_flag<&ServerOptions::check_send_proxy, true>},
    {"no-check-send-proxy", 0, set_flag<&ServerOptions::check_send_proxy, false>},
    {"check-ssl", 0, set_flag<&ServerOptions::check_ssl, true>},
    {"no-check-ssl", 0, set_flag<&ServerOptions::check_ssl, false>},
    {"verify", 1, set_verify},
    {"ca-file", 1, set_ca_file},
    {"handoff", 0, set_flag<&ServerOptions::handoff, true>},
    {"no-handoff", 0, set_flag<&ServerOptions::handoff, false>},
    {"ssl", 0, reject_ssl},
};

std::vector<std::string_view> server_keyword_names() {
    std::vector<std::string_view> names{"id"};
    for (const auto& k : server_keywords) {
        names.push_back(k.name);
    }
    return names;
}

// Applies the options in WORDS from FIRST on; "id" is taken only when ID is not null.
void apply_options(ParseContext& ctx, const Words& words, std::size_t first, std::string_view line,
                   ServerOptions& options, std::uint32_t* id) {
    for (std::size_t i = first; i < words.size();) {
        if (words[i] == "id" && id != nullptr) {
            if (i + 1 >= words.size()) {
                ctx.error("'" + std::string(line) + "': 'id' expects a value");
                return;
            }
            ctx.parse(
                "id", words[i + 1], [](auto t) { return parse_uint(t, 1, 1'000'000); }, *id);
            i += 2;
            continue;
        }
        const ServerKeyword* keyword = nullptr;
        for (const auto& k : server_keywords) {
            if (k.name == words[i]) {
                keyword = &k;
            }
        }
        if (keyword == nullptr) {
            ctx.error("'" + std::string(line) + "': unknown option '" + words[i] + "'" +
                      did_you_mean(words[i], server_keyword_names()));
            return;
        }
        if (keyword->values > 0 && i + keyword->values >= words.size()) {
            ctx.error("'" + std::string(line) + "': '" + words[i] + "' expects a value");
            return;
        }
        keyword->apply(ctx, options, Values(words).subspan(i + 1, keyword->values));
        i += 1 + keyword->values;
    }
}

}  // namespace

void parse_server_line(ParseContext& ctx, Proxy& proxy, const Words& words) {
    if (words.size() < 3) {
        ctx.error("'server' expects a name and an address (e.g. 'server app 127.0.0.1:8080')");
        return;
    }
    Server server;
    server.name = words[1];
    server.address_text = words[2];
    server.where = ctx.where();
    server.options = proxy.default_server;
    auto address = parse_address(words[2], AddressUse::connect);
    if (!address) {
        ctx.error("'server " + words[1] + "': " + address.error());
        return;
    }
    server.address = *address;
    apply_options(ctx, words, 3, "server " + words[1], server.options, &server.id);
    proxy.servers.push_back(std::move(server));
}

void parse_default_server_line(ParseContext& ctx, Proxy& proxy, const Words& words) {
    apply_options(ctx, words, 1, "default-server", proxy.default_server, nullptr);
}

}  // namespace tierlb::config
