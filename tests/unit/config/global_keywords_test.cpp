// Every keyword of the global section, accepted and rejected forms.

#include <catch2/catch.hpp>
#include <functional>

#include "support.hpp"

using namespace tierlb::config;
using test_support::load;

namespace {

// LINE lands on line 2, after "global"; a minimal valid listen follows.
test_support::Loaded load_global(const std::string& line) {
    return load("global\n    " + line +
                "\nlisten l\n    bind 127.0.0.1:0\n    timeout client 1h\n    server s "
                "127.0.0.1:9\n");
}

}  // namespace

TEST_CASE("global keywords: accepted forms", "[config][global]") {
    struct Case {
        const char* line;
        std::function<bool(const Global&)> check;
    };
    auto c = GENERATE(values<Case>({
        {"maxconn 5000", [](const Global& g) { return g.maxconn == 5000u; }},
        {"nbthread 4", [](const Global& g) { return g.nbthread == 4; }},
        {"cpu-map 1 0",
         [](const Global& g) {
             return g.cpu_maps.size() == 1 && g.cpu_maps[0].cpus == std::vector<int>{0};
         }},
        {"cpu-map 2-3 0-1 4",
         [](const Global& g) {
             return g.cpu_maps[0].process.numbers() == std::vector<int>{2, 3} &&
                    g.cpu_maps[0].cpus == std::vector<int>{0, 1, 4};
         }},
        {"tune.maxaccept 16", [](const Global& g) { return g.tune_maxaccept == 16; }},
        {"tune.maxaccept -1", [](const Global& g) { return g.tune_maxaccept == 0xffffffffu; }},
        {"tune.ssl.idle-offload off", [](const Global& g) { return !g.tune_ssl_idle_offload; }},
        {"tune.ssl.idle-offload on", [](const Global& g) { return g.tune_ssl_idle_offload; }},
        {"tune.dispatcher.sched-batch off",
         [](const Global& g) { return !g.tune_dispatcher_sched_batch; }},
        {"tune.dispatcher.sched-batch on",
         [](const Global& g) { return g.tune_dispatcher_sched_batch; }},
        {"hard-stop-after 30s",
         [](const Global& g) { return g.hard_stop_after == std::chrono::seconds(30); }},
        {"stats socket /run/t.sock",
         [](const Global& g) {
             const auto& s = g.stats_sockets.at(0);
             return s.address.to_string() == "unix@/run/t.sock" &&
                    s.level == StatsLevel::operator_level &&
                    s.process.numbers() == std::vector{1} && !s.mode;
         }},
        {"stats socket abns@stats process 1 level admin mode 600 expose-fd listeners",
         [](const Global& g) {
             const auto& s = g.stats_sockets.at(0);
             return s.level == StatsLevel::admin && s.mode == 0600u &&
                    s.address.family() == tierlb::AddressFamily::abns;
         }},
        {"stats socket 127.0.0.1:9999 level user",
         [](const Global& g) { return g.stats_sockets.at(0).level == StatsLevel::user; }},
        {"stats http 127.0.0.1:8404",
         [](const Global& g) { return g.stats_http.at(0).address.port() == 8404; }},
        {"stats timeout 1m",
         [](const Global& g) { return g.stats_timeout == std::chrono::minutes(1); }},
        {"log stdout",
         [](const Global& g) {
             return g.logs.at(0).kind == LogTarget::Kind::stdout_stream &&
                    g.logs[0].facility == 16 && g.logs[0].max_level == 7;
         }},
        {"log stderr format raw daemon",
         [](const Global& g) {
             return g.logs.at(0).kind == LogTarget::Kind::stderr_stream &&
                    g.logs[0].format == "raw" && g.logs[0].facility == 3;
         }},
        {"log /dev/log local2 info",
         [](const Global& g) {
             const auto& l = g.logs.at(0);
             return l.kind == LogTarget::Kind::unix_datagram &&
                    l.address->to_string() == "unix@/dev/log" && l.facility == 18 &&
                    l.max_level == 6;
         }},
        {"log udp@127.0.0.1:5514 len 2048 local0 notice err",
         [](const Global& g) {
             const auto& l = g.logs.at(0);
             return l.kind == LogTarget::Kind::udp && l.address->port() == 5514 &&
                    l.max_length == 2048 && l.max_level == 5 && l.min_level == 3;
         }},
        {"log 10.0.0.1 local0",
         [](const Global& g) { return g.logs.at(0).address->to_string() == "10.0.0.1:514"; }},
        {"log udp@[::1] local0",
         [](const Global& g) { return g.logs.at(0).address->to_string() == "[::1]:514"; }},
        {"user haproxy", [](const Global& g) { return g.user == "haproxy"; }},
        {"group haproxy", [](const Global& g) { return g.group == "haproxy"; }},
        {"tls-ticket-keys /etc/keys",
         [](const Global& g) { return g.tls_ticket_keys == "/etc/keys"; }},
        {"ssl-default-bind-ciphers ECDHE+AESGCM",
         [](const Global& g) { return g.ssl_default_bind_ciphers == "ECDHE+AESGCM"; }},
        {"ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256",
         [](const Global& g) {
             return g.ssl_default_bind_ciphersuites == "TLS_AES_128_GCM_SHA256";
         }},
        {"ssl-default-bind-options ssl-min-ver TLSv1.3 no-tls-tickets",
         [](const Global& g) {
             return g.ssl_default_bind_options.min_version == TlsVersion::tlsv13 &&
                    g.ssl_default_bind_options.no_tls_tickets;
         }},
        {"ssl-default-bind-options no-sslv3 no-tlsv10 no-tlsv11 no-tlsv13",
         [](const Global& g) {
             return g.ssl_default_bind_options.max_version == TlsVersion::tlsv12;
         }},
        {"crt-base /etc/certs", [](const Global& g) { return g.crt_base == "/etc/certs"; }},
        {"daemon", [](const Global& g) { return g.daemon; }},
        {"pidfile /run/t.pid", [](const Global& g) { return g.pidfile == "/run/t.pid"; }},
        {"master-worker", [](const Global&) { return true; }},
    }));
    CAPTURE(c.line);
    auto loaded = load_global(c.line);
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(c.check(loaded.config->global));
}

TEST_CASE("global keywords: rejected forms name the line and the reason", "[config][global]") {
    struct Case {
        const char* line;
        const char* reason;
    };
    auto c = GENERATE(values<Case>({
        {"maxconn", "'maxconn' expects 1 argument"},
        {"maxconn 0", "expected an integer from 1"},
        {"maxconn lots", "'maxconn': invalid number 'lots'"},
        {"nbthread 65", "expected an integer from 1 to 64"},
        {"nbthread 1 2", "'nbthread' expects 1 argument"},
        {"cpu-map 1", "expects a process set and a CPU set"},
        {"cpu-map 1/2 0", "thread sets and 'auto:' are not supported"},
        {"cpu-map 0 1", "invalid process set"},
        {"cpu-map 1 x", "invalid CPU set"},
        {"tune.maxaccept 0", "expected an integer from 1"},
        {"tune.ssl.idle-offload yes", "expects 'on' or 'off', not 'yes'"},
        {"tune.ssl.idle-offload", "'tune.ssl.idle-offload' expects 1 argument"},
        {"tune.dispatcher.sched-batch batch", "expects 'on' or 'off', not 'batch'"},
        {"hard-stop-after soon", "invalid time 'soon'"},
        {"stats socket", "'stats socket' expects an address"},
        {"stats socket /run/t.sock level root", "unknown level 'root'"},
        {"stats socket /run/t.sock mode 999", "invalid mode '999'"},
        {"stats socket /run/t.sock process", "'process' expects a value"},
        {"stats socket /run/t.sock bogus 1", "unknown option 'bogus'"},
        {"stats socket /run/t.sock expose-fd all", "'expose-fd' expects 'listeners'"},
        {"stats socket udp@1.2.3.4:5", "unsupported address family 'udp@'"},
        {"stats http", "'stats http' expects an address"},
        {"stats http 127.0.0.1", "missing port"},
        {"stats bogus", "'stats' expects 'socket', 'http' or 'timeout'"},
        {"log", "'log' expects a target"},
        {"log global", "'log global' is for proxy sections"},
        {"log stdout local9", "unknown facility 'local9'"},
        {"log stdout local0 loud", "unknown max level 'loud'"},
        {"log stdout format json local0", "unknown format 'json'"},
        {"log stdout len 10 local0", "expected an integer from 80 to 65535"},
        {"log stdout local0 info err debug", "unexpected word 'debug'"},
        {"log nowhere-host.invalid local0", "unknown target 'nowhere-host.invalid'"},
        {"user", "'user' expects 1 argument"},
        {"ssl-default-bind-options no-frobs", "unknown option 'no-frobs'"},
        {"ssl-default-bind-options ssl-min-ver TLSv1.0", "is not supported: it is insecure"},
        {"ssl-default-bind-options ssl-min-ver", "expects a TLS version"},
        {"daemon now", "'daemon' expects 0 arguments"},
        {"nbproc 4", "'nbproc' is not supported"},
        {"maxcon 100", "unknown keyword 'maxcon' in 'global' section; did you mean 'maxconn'?"},
        {"chroot /var/empty", "unknown keyword 'chroot' in 'global' section"},
    }));
    CAPTURE(c.line);
    auto loaded = load_global(c.line);
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(2, c.reason));
    CHECK(loaded.diagnostics.error_count() == 1);
}
