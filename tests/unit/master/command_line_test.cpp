#include "master/command_line.hpp"

#include <catch2/catch.hpp>

using tierlb::master::CommandLine;
using tierlb::master::parse_command_line;
using Action = CommandLine::Action;

TEST_CASE("command lines of INTERFACE.md section 1", "[master][cli]") {
    SECTION("master mode with several files") {
        auto cl = parse_command_line({"-f", "a.cfg", "-f", "conf.d"});
        REQUIRE(cl.has_value());
        CHECK(cl->action == Action::run_master);
        CHECK(cl->files == std::vector<std::string>{"a.cfg", "conf.d"});
    }
    SECTION("check") {
        auto cl = parse_command_line({"-c", "-f", "a.cfg"});
        REQUIRE(cl.has_value());
        CHECK(cl->action == Action::check);
    }
    SECTION("one process alone") {
        auto cl = parse_command_line({"-f", "a.cfg", "--process", "3"});
        REQUIRE(cl.has_value());
        CHECK(cl->action == Action::run_process);
        CHECK(cl->process == 3);
    }
    SECTION("daemon with pidfile, master CLI, debug") {
        auto cl = parse_command_line(
            {"-D", "-p", "/run/t.pid", "-S", "/run/m.sock", "-d", "-f", "a.cfg"});
        REQUIRE(cl.has_value());
        CHECK(cl->action == Action::run_master);
        CHECK(cl->daemon);
        CHECK(cl->pidfile == "/run/t.pid");
        CHECK(cl->master_cli == "/run/m.sock");
        CHECK(cl->verbosity == tierlb::master::Verbosity::debug);
    }
    SECTION("version needs no file") {
        for (const char* flag : {"-v", "--version", "-vv"}) {
            auto cl = parse_command_line({flag});
            REQUIRE(cl.has_value());
            CHECK(cl->action == Action::version);
        }
    }
    SECTION("quiet") {
        CHECK(parse_command_line({"-q", "-f", "x"})->verbosity == tierlb::master::Verbosity::quiet);
    }
}

TEST_CASE("bad command lines say what is wrong", "[master][cli]") {
    struct Case {
        std::vector<std::string> args;
        const char* reason;
    };
    auto c = GENERATE(values<Case>({
        {{}, "no configuration file"},
        {{"-c"}, "no configuration file"},
        {{"-f"}, "'-f' expects a value"},
        {{"-f", "-c"}, "'-f' expects a value"},
        {{"-f", "a", "--process", "0"}, "expected an integer from 1 to 64"},
        {{"-f", "a", "--process", "65"}, "expected an integer from 1 to 64"},
        {{"-f", "a", "--bogus"}, "unknown argument '--bogus'"},
        {{"-f", "a", "--process", "2", "-D"}, "cannot be combined with -D"},
    }));
    auto cl = parse_command_line(c.args);
    REQUIRE_FALSE(cl.has_value());
    CHECK_THAT(cl.error(), Catch::Contains(c.reason));
}

TEST_CASE("the version names tierlb, OpenSSL and Boost", "[master][cli]") {
    const auto text = tierlb::master::version_text(false);
    CHECK_THAT(text, Catch::StartsWith("tierlb version 0."));
    CHECK_THAT(text, Catch::Contains("OpenSSL 3."));
    CHECK_THAT(text, Catch::Contains("Boost: 1.81.0"));
}
