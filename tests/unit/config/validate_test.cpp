// Checks across sections: references, names, ids, addresses bound twice; and that every
// error of a file is reported with its line.

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support.hpp"

using namespace tierlb::config;
using test_support::load;

TEST_CASE("references to sections that do not exist", "[config][validate]") {
    auto loaded = load(R"(
frontend f
    bind :0
    timeout client 1h
    default_backend missing
frontend g
    bind :1
    timeout client 1h
    default_backend f
frontend h
    bind :2
    timeout client 1h
)");
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(5, "no backend or listen section named 'missing'"));
    CHECK(loaded.has(9, "'f' is a frontend, not a backend"));
    CHECK(loaded.has(10, "frontend 'h' has no 'default_backend'"));
}

TEST_CASE("names used twice", "[config][validate]") {
    auto loaded = load(R"(
listen app
    bind :0
    timeout client 1h
    server s 127.0.0.1:1 id 1
    server s 127.0.0.1:2
    server t 127.0.0.1:3 id 1
backend app
    server x 127.0.0.1:1
frontend app
    bind :1
    timeout client 1h
    default_backend app
)");
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(6, "server name 's' is already used at test.cfg:5"));
    CHECK(loaded.has(7, "server id '1' is already used at test.cfg:5"));
    CHECK(loaded.has(8, "backend 'app' has the same name as the listen 'app' at test.cfg:2"));
    CHECK(loaded.has(10, "frontend 'app' has the same name as the listen 'app'"));
}

TEST_CASE("a frontend and a backend may share a name", "[config][validate]") {
    auto loaded = load(R"(
frontend app
    bind :0
    timeout client 1h
    default_backend app
backend app
    server s 127.0.0.1:1
)");
    INFO(loaded.text());
    CHECK(loaded.config);
}

TEST_CASE("addresses bound twice", "[config][validate]") {
    auto loaded = load(R"(
listen a
    bind 127.0.0.1:8000
    bind abns@x process 2
    timeout client 1h
    server s 127.0.0.1:1
listen b
    bind 127.0.0.1:8000
    bind abns@x process 3
    bind 127.0.0.1:8001 process 2
    bind 127.0.0.1:8001 process 3
    bind 127.0.0.1:0
    timeout client 1h
    server s 127.0.0.1:1
)");
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(
        8, "address '127.0.0.1:8000' is already bound at test.cfg:3 in the same process"));
    CHECK(loaded.has(9, "address 'abns@x' is already bound at test.cfg:4"));
    // The same TCP address in two processes is a SO_REUSEPORT group: fine.
    CHECK_FALSE(loaded.has(11, "already bound"));
    // Port 0: the kernel picks a different port each time.
    CHECK_FALSE(loaded.has(12, "already bound"));
}

TEST_CASE("every error of a file is reported, each at its line", "[config][validate]") {
    // The acceptance case of issue [1]: an unknown keyword on line 7, a bad time on line 9.
    const char* text =
        "global\n"                          // 1
        "    maxconn 1000\n"                // 2
        "listen l\n"                        // 3
        "    bind :0\n"                     // 4
        "    balance leastconn\n"           // 5
        "    server s 127.0.0.1:1\n"        // 6
        "    frobnicate yes\n"              // 7
        "    timeout connect 5s\n"          // 8
        "    timeout client 10 minutes\n";  // 9
    auto loaded = load(text);
    INFO(loaded.text());
    CHECK_FALSE(loaded.config);
    CHECK(loaded.has(7, "unknown keyword 'frobnicate'"));
    CHECK(loaded.has(9, "'timeout client' expects 1 argument"));
    CHECK(loaded.diagnostics.error_count() == 2);
    CHECK_THAT(loaded.text(), Catch::Contains("test.cfg:7: unknown keyword 'frobnicate'"));
    CHECK_THAT(loaded.text(), Catch::Contains("test.cfg:9: "));
}

TEST_CASE("several files are read in order; a section ends with its file", "[config][files]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("tierlb-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "conf.d");
    auto write = [](const std::filesystem::path& path, const std::string& text) {
        std::ofstream(path) << text;
    };
    write(dir / "main.cfg", "global\n    maxconn 100\ndefaults\n    timeout client 1h\n");
    write(dir / "conf.d" / "20-b.cfg", "listen b\n    bind :1\n    server s 127.0.0.1:1\n");
    write(dir / "conf.d" / "10-a.cfg", "listen a\n    bind :0\n    server s 127.0.0.1:1\n");
    write(dir / "conf.d" / "ignored.txt", "this is not a configuration\n");
    write(dir / "bad.cfg", "    maxconn 5\n");

    Diagnostics diagnostics;
    auto config = load_files({(dir / "main.cfg").string(), (dir / "conf.d").string()}, diagnostics);
    REQUIRE(config);
    REQUIRE(config->proxies.size() == 2);
    CHECK(config->proxies[0].name == "a");  // the directory's files in name order
    CHECK(config->proxies[1].name == "b");
    CHECK(config->proxies[0].timeouts.client == std::chrono::hours(1));  // defaults carry over
    CHECK(config->global.maxconn == 100u);

    // A file starts outside any section, even after a file that ended inside one.
    Diagnostics second;
    CHECK_FALSE(load_files({(dir / "main.cfg").string(), (dir / "bad.cfg").string()}, second));
    std::ostringstream out;
    second.print(out);
    CHECK_THAT(out.str(), Catch::Contains("bad.cfg:1: 'maxconn' is outside of any section"));

    Diagnostics missing;
    CHECK_FALSE(load_files({(dir / "nope.cfg").string()}, missing));
    CHECK(missing.all().at(0).message.find("cannot open the file") != std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("warnings alone keep the configuration valid", "[config][validate]") {
    auto loaded = load("listen l\n bind :0\n");
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(loaded.has(1, "has no server"));
    CHECK(loaded.has(1, "has no 'timeout client'"));
    CHECK(loaded.diagnostics.error_count() == 0);
}

TEST_CASE("defer-accept on a unix socket is ignored with a warning", "[config][validate]") {
    auto loaded = load("listen l\n bind abns@w1 defer-accept\n bind :0 defer-accept\n");
    INFO(loaded.text());
    REQUIRE(loaded.config);
    CHECK(loaded.has(2, "'defer-accept' applies to TCP addresses only"));
    CHECK_FALSE(loaded.has(3, "'defer-accept'"));
    CHECK(loaded.diagnostics.error_count() == 0);
}
