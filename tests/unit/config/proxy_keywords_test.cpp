// Every keyword of defaults/frontend/backend/listen sections, accepted and rejected forms.

#include <catch2/catch.hpp>
#include <functional>

#include "support.hpp"

using namespace tierlb::config;
using std::chrono::milliseconds;
using test_support::in_listen;
using test_support::load;

TEST_CASE("proxy keywords: accepted forms", "[config][proxy]") {
    struct Case {
        const char* line;
        std::function<bool(const Proxy&)> check;
    };
    auto c = GENERATE(values<Case>({
        {"mode tcp", [](const Proxy&) { return true; }},
        {"balance leastconn", [](const Proxy& p) { return p.balance == Balance::leastconn; }},
        {"balance roundrobin", [](const Proxy& p) { return p.balance == Balance::roundrobin; }},
        {"balance source", [](const Proxy& p) { return p.balance == Balance::source; }},
        {"balance first", [](const Proxy& p) { return p.balance == Balance::first; }},
        {"maxconn 100", [](const Proxy& p) { return p.maxconn == 100; }},
        {"maxconn 0", [](const Proxy& p) { return p.maxconn == 0; }},
        {"timeout connect 5s",
         [](const Proxy& p) { return p.timeouts.connect == milliseconds(5000); }},
        {"timeout client 2h",
         [](const Proxy& p) { return p.timeouts.client == milliseconds(7200000); }},
        {"timeout server 30", [](const Proxy& p) { return p.timeouts.server == milliseconds(30); }},
        {"timeout check 1s", [](const Proxy& p) { return p.timeouts.check == milliseconds(1000); }},
        {"timeout queue 1m",
         [](const Proxy& p) { return p.timeouts.queue == milliseconds(60000); }},
        {"timeout tunnel 1d",
         [](const Proxy& p) { return p.timeouts.tunnel == milliseconds(86400000); }},
        {"timeout client-fin 1s",
         [](const Proxy& p) { return p.timeouts.client_fin == milliseconds(1000); }},
        {"timeout server-fin 2s",
         [](const Proxy& p) { return p.timeouts.server_fin == milliseconds(2000); }},
        {"timeout client-hs 5s",
         [](const Proxy& p) { return p.timeouts.client_hs == milliseconds(5000); }},
        {"retries 5", [](const Proxy& p) { return p.retries == 5; }},
        {"option redispatch", [](const Proxy& p) { return p.redispatch; }},
        {"option tcplog", [](const Proxy& p) { return p.tcplog; }},
        {"option dontlognull", [](const Proxy& p) { return p.dontlognull; }},
        {"option tcpka", [](const Proxy& p) { return p.tcpka_client && p.tcpka_server; }},
        {"option clitcpka", [](const Proxy& p) { return p.tcpka_client && !p.tcpka_server; }},
        {"option srvtcpka", [](const Proxy& p) { return p.tcpka_server && !p.tcpka_client; }},
        {"no option redispatch", [](const Proxy& p) { return !p.redispatch; }},
        {"log global", [](const Proxy& p) { return p.log_global; }},
        {"log stdout local0", [](const Proxy& p) { return p.logs.size() == 1; }},
        {"no log", [](const Proxy& p) { return !p.log_global && p.logs.empty(); }},
        {"default-server check inter 5s",
         [](const Proxy&
                p) { return p.default_server.check && p.default_server.inter.count() == 5000; }},
        {"bind-process 1",
         [](const Proxy& p) { return p.bind_process->numbers() == std::vector{1}; }},
    }));
    CAPTURE(c.line);
    auto loaded = load(in_listen(c.line));
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(c.check(loaded.proxy("l")));
}

TEST_CASE("proxy keywords: rejected forms name the line and the reason", "[config][proxy]") {
    struct Case {
        const char* line;
        const char* reason;
    };
    auto c = GENERATE(values<Case>({
        {"mode http", "'mode http' is not supported"},
        {"mode udp", "unknown mode 'udp'"},
        {"balance", "'balance' expects 1 argument"},
        {"balance uri", "unknown algorithm 'uri'"},
        {"balance static-rr", "expected leastconn, roundrobin, source or first"},
        {"maxconn -5", "invalid number '-5'"},
        {"timeout", "'timeout' expects a name and a time"},
        {"timeout client", "'timeout client' expects 1 argument"},
        {"timeout client 10x", "'timeout client': invalid time '10x'"},
        {"timeout http-request 5s", "unknown timeout 'http-request'"},
        {"timeout conect 5s", "did you mean 'connect'?"},
        {"retries many", "'retries': invalid number"},
        {"retries 101", "expected an integer from 0 to 100"},
        {"option httplog", "needs 'mode http'"},
        {"option forwardfor", "needs 'mode http'"},
        {"option redispach", "did you mean 'redispatch'?"},
        {"option", "'option' expects one name"},
        {"no", "'no' expects 'option NAME' or 'log'"},
        {"log", "'log' expects a target"},
        {"default-server chek", "unknown option 'chek'; did you mean 'check'?"},
        {"default_backend", "'default_backend' expects 1 argument"},
        {"bind-process 0", "invalid process set"},
        {"blance leastconn",
         "unknown keyword 'blance' in 'listen' section; did you mean 'balance'?"},
        {"use_backend x", "unknown keyword 'use_backend'"},
    }));
    CAPTURE(c.line);
    auto loaded = load(in_listen(c.line));
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(5, c.reason));
}

TEST_CASE("keywords are refused in sections that cannot take them", "[config][proxy]") {
    struct Case {
        const char* text;
        int line;
        const char* reason;
    };
    auto c = GENERATE(values<Case>({
        {"frontend f\n bind :0\n balance leastconn\n default_backend b\nbackend b\n", 3,
         "'balance' is not allowed in a 'frontend' section"},
        {"frontend f\n bind :0\n server s 127.0.0.1:1\n default_backend b\nbackend b\n", 3,
         "'server' is not allowed in a 'frontend' section"},
        {"backend b\n bind :0\n", 2, "'bind' is not allowed in a 'backend' section"},
        {"backend b\n default_backend x\n", 2,
         "'default_backend' is not allowed in a 'backend' section"},
        {"backend b\n maxconn 5\n", 2, "'maxconn' is not allowed in a 'backend' section"},
        {"defaults\n bind :0\n", 2, "'bind' is not allowed in a 'defaults' section"},
        {"defaults\n server s 127.0.0.1:1\n", 2, "'server' is not allowed in a 'defaults'"},
        {"frontend f\n option redispatch\n", 2,
         "'option redispatch' is not allowed in a 'frontend' section"},
        {"backend b\n option tcplog\n", 2, "'option tcplog' is not allowed in a 'backend'"},
        {"bind :80\n", 1, "'bind' is outside of any section"},
        {"global\n bind :80\n", 2, "unknown keyword 'bind' in 'global' section"},
        {"peers p\n peer a 127.0.0.1:1\n", 1, "'peers' sections are not supported"},
        {"global extra\n", 1, "'global' takes no argument"},
        {"listen\n", 1, "'listen' expects a name"},
        {"listen bad/name\n", 1, "invalid name 'bad/name'"},
        {"listen l from nowhere\n", 1, "no defaults section named 'nowhere'"},
    }));
    CAPTURE(c.text);
    auto loaded = load(c.text);
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(c.line, c.reason));
}

TEST_CASE("a timeout on the wrong side is only a warning, as in HAProxy", "[config][proxy]") {
    auto loaded = load(
        "frontend f\n bind :0\n timeout client 1h\n timeout server 5s\n"
        " default_backend b\nbackend b\n server s 127.0.0.1:1\n");
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(loaded.has(4, "'timeout server' is ignored in a 'frontend' section"));
}
