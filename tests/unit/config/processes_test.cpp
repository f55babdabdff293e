// Process assignment (INTERFACE.md section 2).

#include <catch2/catch.hpp>

#include "support.hpp"

using namespace tierlb::config;
using test_support::load;

namespace {
const char* seed = R"(
listen dispatcher
   bind :1234 process 1
   balance leastconn
   timeout client 1h
   server process2 abns@p2 send-proxy check
   server process3 abns@p3 send-proxy check
listen worker
   bind abns@p2 process 2 accept-proxy ssl crt /path/site.pem
   bind abns@p3 process 3 accept-proxy ssl crt /path/site.pem
   timeout client 1h
   server app 127.0.0.1:8080
)";
}  // namespace

TEST_CASE("the seed configuration runs in processes 1, 2 and 3", "[config][processes]") {
    auto loaded = load(seed);
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(loaded.config->processes == std::vector<int>{1, 2, 3});
    CHECK(loaded.proxy("dispatcher").processes.numbers() == std::vector<int>{1});
    const Proxy& worker = loaded.proxy("worker");
    CHECK(worker.processes.numbers() == std::vector<int>{2, 3});
    CHECK(worker.binds[0].processes.numbers() == std::vector<int>{2});
    CHECK(worker.binds[1].processes.numbers() == std::vector<int>{3});
    CHECK(loaded.proxy("dispatcher").servers[1].address.to_string() == "abns@p3");
    CHECK(loaded.diagnostics.error_count() == 0);
}

TEST_CASE("a section with no process runs in process 1", "[config][processes]") {
    auto loaded = load("listen l\n bind :0\n timeout client 1h\n server s 127.0.0.1:1\n");
    REQUIRE(loaded.config);
    CHECK(loaded.config->processes == std::vector<int>{1});
    CHECK(loaded.proxy("l").binds[0].processes.numbers() == std::vector<int>{1});
}

TEST_CASE("bind-process applies to the binds without 'process'", "[config][processes]") {
    auto loaded = load(R"(
listen l
    bind-process 4
    bind :0
    bind :1 process 5
    timeout client 1h
    server s 127.0.0.1:1
)");
    REQUIRE(loaded.config);
    CHECK(loaded.proxy("l").binds[0].processes.numbers() == std::vector<int>{4});
    CHECK(loaded.proxy("l").binds[1].processes.numbers() == std::vector<int>{5});
    CHECK(loaded.config->processes == std::vector<int>{4, 5});
}

TEST_CASE("'all' means every process the configuration uses", "[config][processes]") {
    auto loaded = load(R"(
listen a
    bind :0 process 2
    bind :1 process 5
    timeout client 1h
    server s 127.0.0.1:1
listen shared
    bind :2 process all
    timeout client 1h
    server s 127.0.0.1:1
)");
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(loaded.proxy("shared").binds[0].processes.numbers() == std::vector<int>{2, 5});
    CHECK(loaded.config->processes == std::vector<int>{2, 5});
}

TEST_CASE("a backend runs where its frontends run", "[config][processes]") {
    auto loaded = load(R"(
frontend f1
    bind :0 process 2
    timeout client 1h
    default_backend b
frontend f2
    bind :1 process 3-4
    timeout client 1h
    default_backend b
backend b
    server s 127.0.0.1:1
backend unused
    bind-process 6
    server s 127.0.0.1:1
)");
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(loaded.proxy("b").processes.numbers() == std::vector<int>{2, 3, 4});
    CHECK(loaded.proxy("unused").processes.numbers() == std::vector<int>{6});
    CHECK(loaded.config->processes == std::vector<int>{2, 3, 4, 6});
}

TEST_CASE("stats sockets name their process", "[config][processes]") {
    auto loaded = load(R"(
global
    stats socket /tmp/a.sock process 2
listen l
    bind :0 process 1
    timeout client 1h
    server s 127.0.0.1:1
)");
    REQUIRE(loaded.config);
    CHECK(loaded.config->processes == std::vector<int>{1, 2});
    CHECK(loaded.config->global.stats_sockets[0].process.numbers() == std::vector<int>{2});
}
