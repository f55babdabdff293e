// Bind and server lines: every option, accepted and rejected.

#include <catch2/catch.hpp>
#include <functional>

#include "support.hpp"

using namespace tierlb::config;
using test_support::load;

namespace {

// BIND_LINE lands on line 2 of a listen section.
test_support::Loaded load_bind(const std::string& bind_line) {
    return load("listen l\n    " + bind_line +
                "\n    timeout client 1h\n    server s 127.0.0.1:9\n");
}

// SERVER_LINE lands on line 4.
test_support::Loaded load_server(const std::string& server_line) {
    return load("listen l\n    bind 127.0.0.1:0\n    timeout client 1h\n    " + server_line + "\n");
}

}  // namespace

TEST_CASE("bind options: accepted forms", "[config][bind]") {
    struct Case {
        const char* line;
        std::function<bool(const Bind&)> check;
    };
    auto c = GENERATE(values<Case>({
        {"bind :1234",
         [](const Bind& b) {
             return b.address.to_string() == "0.0.0.0:1234" &&
                    b.processes.numbers() == std::vector{1};
         }},
        {"bind abns@p2 process 2 accept-proxy",
         [](const Bind& b) {
             return b.accept_proxy && b.processes.numbers() == std::vector{2} &&
                    b.address.family() == tierlb::AddressFamily::abns;
         }},
        {"bind :443 ssl crt a.pem crt b.pem alpn h2,http/1.1",
         [](const Bind& b) {
             return b.ssl && b.crts == std::vector<std::string>{"a.pem", "b.pem"} &&
                    b.alpn == std::vector<std::string>{"h2", "http/1.1"};
         }},
        {"bind :443 ssl crt-list list.txt", [](const Bind& b) { return b.crt_list == "list.txt"; }},
        {"bind :443 ssl crt a.pem",
         [](const Bind& b) {
             return b.tls.min_version == TlsVersion::tlsv12 && !b.tls.max_version;
         }},
        {"bind :443 ssl crt a.pem ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3",
         [](const Bind& b) {
             return b.tls.min_version == TlsVersion::tlsv13 &&
                    b.tls.max_version == TlsVersion::tlsv13;
         }},
        {"bind :443 ssl crt a.pem ciphers ECDHE ciphersuites TLS_AES_256_GCM_SHA384",
         [](const Bind& b) {
             return b.ciphers == "ECDHE" && b.ciphersuites == "TLS_AES_256_GCM_SHA384";
         }},
        {"bind :443 ssl crt a.pem no-tls-tickets prefer-client-ciphers",
         [](const Bind& b) { return b.tls.no_tls_tickets && b.tls.prefer_client_ciphers; }},
        {"bind :443 defer-accept ssl crt a.pem",
         [](const Bind& b) { return b.defer_accept && b.ssl; }},
        {"bind :80", [](const Bind& b) { return !b.defer_accept; }},
        {"bind :80 maxconn 50 backlog 1024 name public id 7",
         [](const Bind& b) {
             return b.maxconn == 50u && b.backlog == 1024u && b.name == "public" && b.id == 7;
         }},
        {"bind /tmp/t.sock mode 600 user nobody group nogroup",
         [](const Bind& b) {
             return b.mode == 0600u && b.user == "nobody" && b.group == "nogroup";
         }},
        {"bind abns@w2 process 2 accept-proxy uid 1000 gid 1001",
         [](const Bind& b) { return b.uid == 1000u && b.gid == 1001u; }},
        {"bind abns@w1 process 2 accept-handoff ssl crt a.pem",
         [](const Bind& b) { return b.accept_handoff && b.ssl; }},
        {"bind :443 process 2-3 accept-balance leastconn",
         [](const Bind& b) {
             return b.accept_balance_leastconn && b.processes.numbers() == std::vector{2, 3};
         }},
        {"bind [::1]:0",
         [](const Bind& b) { return b.address.family() == tierlb::AddressFamily::ipv6; }},
    }));
    CAPTURE(c.line);
    auto loaded = load_bind(c.line);
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(c.check(loaded.proxy("l").binds.at(0)));
}

TEST_CASE("bind options: rejected forms", "[config][bind]") {
    struct Case {
        const char* line;
        const char* reason;
    };
    auto c = GENERATE(values<Case>({
        {"bind", "'bind' expects an address"},
        {"bind 127.0.0.1", "missing port"},
        {"bind :80 sll", "unknown option 'sll'; did you mean 'ssl'?"},
        {"bind :80 process", "'process' expects a value"},
        {"bind :80 process 65", "invalid process set"},
        {"bind :443 ssl", "'ssl' needs a certificate: add 'crt FILE' or 'crt-list FILE'"},
        {"bind :443 ssl crt a.pem ssl-min-ver TLSv1.1", "it is insecure"},
        {"bind :443 ssl crt a.pem ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2",
         "'ssl-min-ver' is above 'ssl-max-ver'"},
        {"bind :443 ssl crt a.pem alpn h2,,x", "invalid protocol list"},
        {"bind :80 maxconn 0", "expected an integer from 1"},
        {"bind :80 backlog x", "invalid number 'x'"},
        {"bind :80 mode 600", "'mode', 'user', 'group', 'uid' and 'gid' apply to unix sockets"},
        {"bind :80 user nobody", "apply to unix sockets only"},
        {"bind :80 uid 0", "apply to unix sockets only"},
        {"bind abns@x uid -1", "invalid number '-1'"},
        {"bind abns@x user nobody uid 65534", "'user' and 'uid' (or 'group' and 'gid')"},
        {"bind :80 accept-handoff", "'accept-handoff' needs a unix or abns@ address"},
        {"bind abns@x accept-handoff accept-proxy", "'accept-handoff' and 'accept-proxy' conflict"},
        {"bind abns@x accept-balance leastconn", "'accept-balance' needs a TCP address"},
        {"bind :80 accept-balance roundrobin", "unknown algorithm 'roundrobin'"},
        {"bind abns@x process 2-3", "cannot be shared by several processes"},
        {"bind :80 id 0", "expected an integer from 1"},
    }));
    CAPTURE(c.line);
    auto loaded = load_bind(c.line);
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(2, c.reason));
}

TEST_CASE("accept-weight: the weight of each process of an accept-balance group",
          "[config][bind]") {
    struct Case {
        const char* options;
        std::vector<std::uint32_t> weights;  // of processes 2, 3, 4, 5
    };
    auto c = GENERATE(values<Case>({
        {"", {1, 1, 1, 1}},
        {"accept-weight 2:3", {3, 1, 1, 1}},
        {"accept-weight 2:3 accept-weight 4-5:0", {3, 1, 0, 0}},
        {"accept-weight 2,5:256", {256, 1, 1, 256}},
        // The last one naming a process wins: a default for all, then exceptions.
        {"accept-weight all:2 accept-weight 3:5", {2, 5, 2, 2}},
        {"accept-weight 3:5 accept-weight all:2", {2, 2, 2, 2}},
        // odd and even: those of the bind's processes.
        {"accept-weight odd:4", {1, 4, 1, 4}},
        {"accept-weight even:0", {0, 1, 0, 1}},
    }));
    CAPTURE(c.options);
    auto loaded =
        load_bind(std::string("bind :443 process 2-5 accept-balance leastconn ") + c.options);
    INFO(loaded.text());
    REQUIRE(loaded.config);
    const Bind& b = loaded.proxy("l").binds.at(0);
    std::vector<std::uint32_t> weights;
    for (int p : b.processes.numbers()) {
        weights.push_back(b.accept_weight_of(p));
    }
    CHECK(weights == c.weights);
}

TEST_CASE("accept-weight: rejected forms name the line", "[config][bind]") {
    struct Case {
        const char* line;
        const char* reason;
    };
    auto c = GENERATE(values<Case>({
        {"bind :443 process 2-5 accept-balance leastconn accept-weight 6:2",
         "bind ':443': 'accept-weight 6:2': process 6 is not among the bind's processes (2-5)"},
        {"bind :443 process 2-5 accept-balance leastconn accept-weight 1-7:2",
         "'accept-weight 1-7:2': processes 1,6-7 are not among the bind's processes (2-5)"},
        {"bind :443 process 2,4 accept-balance leastconn accept-weight odd:2",
         "'accept-weight odd:2': none of the bind's processes (2,4) is odd"},
        {"bind :443 process 2-5 accept-balance leastconn accept-weight 2:257",
         "'accept-weight 2:257': weight: "},
        {"bind :443 process 2-5 accept-balance leastconn accept-weight 2:-1",
         "'accept-weight 2:-1': weight: "},
        {"bind :443 process 2-5 accept-balance leastconn accept-weight 2",
         "expected PROCESSES:WEIGHT such as '2-3:2' (got '2')"},
        {"bind :443 process 2-5 accept-balance leastconn accept-weight :2",
         "expected PROCESSES:WEIGHT"},
        {"bind :443 process 2-5 accept-balance leastconn accept-weight 2:",
         "expected PROCESSES:WEIGHT"},
        {"bind :443 process 2-5 accept-balance leastconn accept-weight 2/1:2",
         "'accept-weight 2/1:2': invalid process set"},
        {"bind :443 process 2-5 accept-balance leastconn accept-weight 0:2", "invalid process set"},
        {"bind :443 process 2-5 accept-balance leastconn accept-weight",
         "'accept-weight' expects a value"},
        {"bind :443 process 2-5 accept-weight 2:3",
         "'accept-weight' needs 'accept-balance leastconn'"},
    }));
    CAPTURE(c.line);
    auto loaded = load_bind(c.line);
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(2, c.reason));
}

TEST_CASE("bind warnings do not make the configuration invalid", "[config][bind]") {
    auto loaded = load_bind("bind :80 crt a.pem");
    REQUIRE(loaded.config);
    CHECK(loaded.has(2, "ignored without 'ssl'"));
    auto single = load_bind("bind :80 accept-balance leastconn");
    REQUIRE(single.config);
    CHECK(single.has(2, "no effect on a listener of one process"));
}

TEST_CASE("server options: accepted forms", "[config][server]") {
    struct Case {
        const char* line;
        std::function<bool(const Server&)> check;
    };
    auto c = GENERATE(values<Case>({
        {"server app 127.0.0.1:8080",
         [](const Server& s) {
             const auto& o = s.options;
             return s.name == "app" && s.address.port() == 8080 && s.id == 1 &&
                    o.send_proxy == SendProxy::none && !o.check && o.inter.count() == 2000 &&
                    !o.fastinter && !o.downinter && o.rise == 2 && o.fall == 3 && o.weight == 1 &&
                    o.maxconn == 0 && o.maxqueue == 0 && !o.backup && !o.disabled &&
                    !o.verify_required && !o.handoff;
         }},
        {"server p2 abns@p2 send-proxy check",
         [](const Server& s) { return s.options.send_proxy == SendProxy::v1 && s.options.check; }},
        {"server p2 abns@p2 send-proxy-v2",
         [](const Server& s) { return s.options.send_proxy == SendProxy::v2; }},
        {"server p2 abns@p2 send-proxy-v2-ssl",
         [](const Server& s) {
             const auto& p = s.options.proxy_v2;
             return s.options.send_proxy == SendProxy::v2 && p.ssl && !p.cert_cn && !p.ssl_cipher &&
                    !p.cert_sig && !p.cert_key && !p.authority && !p.crc32c;
         }},
        {"server p2 abns@p2 send-proxy-v2-ssl-cn",
         [](const Server& s) {
             return s.options.send_proxy == SendProxy::v2 && s.options.proxy_v2.ssl &&
                    s.options.proxy_v2.cert_cn;
         }},
        {"server p2 abns@p2 send-proxy-v2 proxy-v2-options cert-sig,authority,crc32c",
         [](const Server& s) {
             const auto& p = s.options.proxy_v2;
             return s.options.send_proxy == SendProxy::v2 && p.ssl && p.cert_sig && p.authority &&
                    p.crc32c && !p.cert_key && !p.ssl_cipher && !p.cert_cn;
         }},
        {"server s 127.0.0.1:1 check inter 500ms fastinter 100 downinter 5s rise 1 fall 2",
         [](const Server& s) {
             const auto& o = s.options;
             return o.inter.count() == 500 && o.fastinter->count() == 100 &&
                    o.downinter->count() == 5000 && o.rise == 1 && o.fall == 2;
         }},
        {"server s 127.0.0.1:1 weight 0", [](const Server& s) { return s.options.weight == 0; }},
        {"server s 127.0.0.1:1 weight 256 maxconn 10 maxqueue 5",
         [](const Server& s) {
             return s.options.weight == 256 && s.options.maxconn == 10 && s.options.maxqueue == 5;
         }},
        {"server s 127.0.0.1:1 backup disabled",
         [](const Server& s) { return s.options.backup && s.options.disabled; }},
        {"server s abns@w check check-send-proxy check-ssl verify required ca-file ca.pem",
         [](const Server& s) {
             const auto& o = s.options;
             return o.check_send_proxy && o.check_ssl && o.verify_required && o.ca_file == "ca.pem";
         }},
        {"server s abns@w handoff check", [](const Server& s) { return s.options.handoff; }},
        {"server s 127.0.0.1:1 id 42", [](const Server& s) { return s.id == 42; }},
        {"server s 127.0.0.1:1 send-proxy no-send-proxy check no-check",
         [](const Server& s) {
             return s.options.send_proxy == SendProxy::none && !s.options.check;
         }},
        {"server s localhost:80", [](const Server& s) { return s.address.host() == "127.0.0.1"; }},
    }));
    CAPTURE(c.line);
    auto loaded = load_server(c.line);
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(c.check(loaded.proxy("l").servers.at(0)));
}

TEST_CASE("server options: rejected forms", "[config][server]") {
    struct Case {
        const char* line;
        const char* reason;
    };
    auto c = GENERATE(values<Case>({
        {"server", "'server' expects a name and an address"},
        {"server s", "'server' expects a name and an address"},
        {"server s 127.0.0.1", "missing port"},
        {"server s :80", "missing host"},
        {"server s 127.0.0.1:1 chek", "unknown option 'chek'; did you mean 'check'?"},
        {"server s 127.0.0.1:1 inter", "'inter' expects a value"},
        {"server s 127.0.0.1:1 inter 0", "check intervals must be greater than 0"},
        {"server s 127.0.0.1:1 inter 2x", "invalid time '2x'"},
        {"server s 127.0.0.1:1 rise 0", "expected an integer from 1"},
        {"server s 127.0.0.1:1 weight 257", "expected an integer from 0 to 256"},
        {"server s 127.0.0.1:1 verify sometimes", "unknown value 'sometimes'"},
        {"server s 127.0.0.1:1 verify required", "'verify required' needs 'ca-file FILE'"},
        {"server s 127.0.0.1:1 ssl", "'ssl' on a server is not supported"},
        {"server s 127.0.0.1:1 send-proxy-v2 proxy-v2-options ssl,bogus",
         "'bogus' : proxy v2 option not implemented"},
        {"server s 127.0.0.1:1 send-proxy-v2 proxy-v2-options unique-id",
         "'unique-id' is not supported"},
        {"server s abns@w handoff send-proxy", "cannot be combined with 'send-proxy'"},
        {"server s 127.0.0.1:1 handoff", "'handoff' needs a unix or abns@ address"},
        {"server s abns@w handoff check-ssl", "'check-ssl' and 'check-send-proxy' do not apply"},
        {"server s 127.0.0.1:1 id x", "invalid number 'x'"},
    }));
    CAPTURE(c.line);
    auto loaded = load_server(c.line);
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(4, c.reason));
}

TEST_CASE("handoff: a TLS frontend's connections cannot be handed off", "[config][server]") {
    auto loaded = load(
        "listen l\n    bind 127.0.0.1:0 ssl crt a.pem\n    timeout client 1h\n"
        "    server w abns@w handoff\n");
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(4, "a TLS connection cannot be handed to another process"));
}

TEST_CASE("servers whose address is a bind here are workers", "[config][server]") {
    auto loaded = load(
        "listen d\n    bind 127.0.0.1:0\n    timeout client 1h\n"
        "    server a abns@a send-proxy\n    server b abns@b handoff\n"
        "    server c abns@c send-proxy\n    server x 127.0.0.1:9\n"
        "listen w\n    bind abns@a process 2 accept-proxy ssl crt a.pem\n"
        "    bind abns@b process 3 accept-handoff\n    bind abns@c process 4 accept-proxy\n"
        "    timeout client 1h\n    server app 127.0.0.1:8\n");
    INFO(loaded.text());
    REQUIRE(loaded.config);
    const auto& servers = loaded.config->proxies[0].servers;
    CHECK(servers[0].role == ServerRole::tls_worker);
    CHECK(servers[1].role == ServerRole::external);  // handed off, not relayed: no replay
    CHECK(servers[2].role == ServerRole::worker);
    CHECK(servers[3].role == ServerRole::external);
}
