// defaults sections and default-server: what the sections after them start from.

#include <catch2/catch.hpp>

#include "support.hpp"

using namespace tierlb::config;
using std::chrono::milliseconds;
using test_support::load;
using namespace std::chrono_literals;

TEST_CASE("a proxy starts from the last defaults section before it", "[config][defaults]") {
    auto loaded = load(R"(
defaults
    balance leastconn
    timeout client 1h
    timeout connect 5s
    retries 5
    option redispatch
    log global
    maxconn 77
listen a
    bind :0
    server s 127.0.0.1:1
defaults
    timeout client 2h
listen b
    bind :0
    server s 127.0.0.1:1
)");
    INFO(loaded.text());
    REQUIRE(loaded.config);
    const Proxy& a = loaded.proxy("a");
    CHECK(a.balance == Balance::leastconn);
    CHECK(a.timeouts.client == milliseconds(3600000));
    CHECK(a.timeouts.connect == milliseconds(5000));
    CHECK(a.retries == 5);
    CHECK(a.redispatch);
    CHECK(a.log_global);
    CHECK(a.maxconn == 77);
    // A new defaults section resets everything to HAProxy's defaults first.
    const Proxy& b = loaded.proxy("b");
    CHECK(b.balance == Balance::roundrobin);
    CHECK(b.timeouts.client == milliseconds(7200000));
    CHECK_FALSE(b.timeouts.connect);
    CHECK(b.retries == 3);
    CHECK_FALSE(b.redispatch);
    CHECK_FALSE(b.log_global);
    CHECK(b.maxconn == 0);
}

TEST_CASE("a section overrides what defaults set", "[config][defaults]") {
    auto loaded = load(R"(
defaults
    balance leastconn
    option redispatch
    timeout client 1h
listen a
    balance first
    no option redispatch
    bind :0
    server s 127.0.0.1:1
)");
    REQUIRE(loaded.config);
    CHECK(loaded.proxy("a").balance == Balance::first);
    CHECK_FALSE(loaded.proxy("a").redispatch);
}

TEST_CASE("named defaults and 'from'", "[config][defaults]") {
    auto loaded = load(R"(
defaults tls
    timeout client 8h
    balance leastconn
defaults plain
    timeout client 1m
listen a from tls
    bind :0
    server s 127.0.0.1:1
listen b
    bind :1
    server s 127.0.0.1:1
defaults derived from tls
    retries 1
listen c
    bind :2
    server s 127.0.0.1:1
)");
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(loaded.proxy("a").timeouts.client == milliseconds(8h));
    CHECK(loaded.proxy("a").balance == Balance::leastconn);
    CHECK(loaded.proxy("b").timeouts.client == milliseconds(1min));  // the last defaults
    CHECK(loaded.proxy("b").balance == Balance::roundrobin);
    CHECK(loaded.proxy("c").timeouts.client == milliseconds(8h));
    CHECK(loaded.proxy("c").retries == 1);
}

TEST_CASE("default-server: defaults, then section, then the server line", "[config][defaults]") {
    auto loaded = load(R"(
defaults
    timeout client 1h
    default-server check inter 3s weight 10
backend b
    default-server send-proxy-v2 weight 20
    server s1 127.0.0.1:1
    server s2 127.0.0.1:2 weight 30 no-check
backend c
    server s3 127.0.0.1:3
frontend f
    bind :0
    default_backend b
)");
    INFO(loaded.text());
    REQUIRE(loaded.config);
    const auto& s1 = loaded.proxy("b").servers.at(0).options;
    CHECK(s1.check);
    CHECK(s1.inter == milliseconds(3000));
    CHECK(s1.weight == 20);
    CHECK(s1.send_proxy == SendProxy::v2);
    const auto& s2 = loaded.proxy("b").servers.at(1).options;
    CHECK_FALSE(s2.check);
    CHECK(s2.weight == 30);
    CHECK(s2.send_proxy == SendProxy::v2);
    // Another section gets only what the defaults section set.
    const auto& s3 = loaded.proxy("c").servers.at(0).options;
    CHECK(s3.check);
    CHECK(s3.weight == 10);
    CHECK(s3.send_proxy == SendProxy::none);
}

TEST_CASE("ssl-default-bind-* and crt-base complete the binds", "[config][defaults]") {
    auto loaded = load(R"(
listen l
    bind :443 ssl crt site.pem
    bind :444 ssl crt /abs/site.pem ciphers OWN ssl-min-ver TLSv1.2
    timeout client 1h
    server s 127.0.0.1:1 ca-file ca.pem
global
    crt-base /etc/tierlb/certs
    ca-base /etc/tierlb/ca
    ssl-default-bind-ciphers ECDHE+AESGCM
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256
    ssl-default-bind-options ssl-min-ver TLSv1.3 no-tls-tickets
)");
    INFO(loaded.text());
    REQUIRE(loaded.config);
    const auto& binds = loaded.proxy("l").binds;
    CHECK(binds[0].crts.at(0) == "/etc/tierlb/certs/site.pem");
    CHECK(binds[0].ciphers == "ECDHE+AESGCM");
    CHECK(binds[0].ciphersuites == "TLS_AES_128_GCM_SHA256");
    CHECK(binds[0].tls.min_version == TlsVersion::tlsv13);
    CHECK(binds[0].tls.no_tls_tickets);
    CHECK(binds[1].crts.at(0) == "/abs/site.pem");
    CHECK(binds[1].ciphers == "OWN");
    CHECK(binds[1].tls.min_version == TlsVersion::tlsv12);
    CHECK(loaded.proxy("l").servers[0].options.ca_file == "/etc/tierlb/ca/ca.pem");
}

TEST_CASE("environment variables in values", "[config][defaults]") {
    auto loaded = load(
        "listen l\n bind 127.0.0.1:${PORT}\n timeout client ${IDLE-1h}\n"
        " server s \"${BACKEND}\"\n",
        {{"PORT", "8443"}, {"BACKEND", "127.0.0.1:8080"}});
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(loaded.proxy("l").binds[0].address.port() == 8443);
    CHECK(loaded.proxy("l").timeouts.client == milliseconds(3600000));
    CHECK(loaded.proxy("l").servers[0].address.to_string() == "127.0.0.1:8080");
}
