#include "common/net/stats_commands.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "stats_fixture.hpp"
#include "tierlb/version.hpp"

using stats_test::make_runtime;
using stats_test::split;
using stats_test::StderrCapture;
using tierlb::config::StatsLevel;
using tierlb::net::execute_command;
using tierlb::net::execute_line;
using tierlb::net::find_command_end;
using tierlb::net::split_words;
using tierlb::net::StatsSession;

namespace {

// The sections HAProxy 2.6 was run with to record the answers and log lines below.
const std::string config_text =
    "defaults\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n"
    "frontend fe\n    bind 127.0.0.1:0\n    maxconn 100\n    default_backend be\n"
    "backend be\n"
    "    server s1 127.0.0.1:23461 maxconn 10 weight 5\n"
    "    server s2 127.0.0.1:23462 backup\n"
    "    server s3 127.0.0.1:23463 disabled id 7\n"
    "    server s4 [::1]:23464 weight 0\n"
    "listen disp\n    bind 127.0.0.1:0\n    balance leastconn\n"
    "    server w1 127.0.0.1:23457 check\n    server w2 abns@xyz send-proxy\n"
    "listen src\n    bind 127.0.0.1:0\n    balance source\n"
    "    server a 127.0.0.1:23491 weight 4\n";

const std::string help_tail =
    "  help [<command>]                        : list matching or all commands\n"
    "  prompt                                  : toggle interactive mode with prompt\n"
    "  quit                                    : disconnect\n";

// HAProxy's stderr lines with its pid replaced by ours.
std::string from_haproxy(const std::string& lines) {
    std::string out;
    for (const auto& line : split(lines, '\n')) {
        const auto open = line.find('(');
        const auto close = line.find(')');
        out += line.substr(0, open + 1) + std::to_string(::getpid()) + line.substr(close) + "\n";
    }
    return out;
}

std::string status_of(tierlb::net::ProcessRuntime& runtime, const std::string& server) {
    for (const auto& line : split(execute_command(runtime, "show stat", StatsLevel::admin), '\n')) {
        const auto fields = split(line, ',');
        if (fields.size() > 17 && fields[0] + "/" + fields[1] == server) {
            return fields[17];
        }
    }
    return "(none)";
}

}  // namespace

TEST_CASE("commands end at an unescaped line feed or semicolon", "[stats][commands]") {
    struct Case {
        const char* buffer;
        std::size_t end;
    };
    auto c = GENERATE(values<Case>({
        {"show info\n", 9},
        {"a;b\n", 1},
        {"a\\;b;c", 4},
        {"a\\\nb\n", 4},
        {"show info", std::string::npos},
        {"", std::string::npos},
        {"\n", 0},
    }));
    CHECK(find_command_end(c.buffer) == c.end);
}

TEST_CASE("words are split on blanks, backslashes escape", "[stats][commands]") {
    struct Case {
        const char* command;
        std::vector<std::string> words;
    };
    auto c = GENERATE(values<Case>({
        {"show stat", {"show", "stat"}},
        {"  show \t  stat  ", {"show", "stat"}},
        {"a\\ b c", {"a b", "c"}},
        {"a\\\\b", {"a\\b"}},
        {"a\\;b", {"a;b"}},
        {"", {}},
        {" \t ", {}},
    }));
    CHECK(split_words(c.command) == c.words);
}

TEST_CASE("errors are answered with HAProxy's texts", "[stats][commands]") {
    auto f = make_runtime(config_text);
    struct Case {
        const char* command;
        const char* answer;
    };
    // Recorded from HAProxy 2.6 (answers include the empty line that ends them; the two
    // messages without a final line feed are HAProxy's too).
    auto c = GENERATE(values<Case>({
        {"set server be/s1 weight 300",
         "Absolute weight can only be between 0 and 256 inclusive.\n\n"},
        {"set server be/s1 weight abc", "Empty weight string empty or preceded by garbage\n"},
        {"set server be/s1 weight 5x", "Trailing garbage in weight string\n"},
        {"set server be/s1 weight 50%x", "Trailing garbage in weight string\n"},
        {"set server be/s1 weight -5%", "Relative weight must be positive.\n\n"},
        {"set server be/s1 weight", "Require <weight> or <weight%>.\n\n"},
        {"set server be/nope state ready", "No such server.\n\n"},
        {"set server nope/s1 state ready", "No such backend.\n\n"},
        {"set server be state ready", "Require 'backend/server'.\n\n"},
        {"set server be/s1 state bogus",
         "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"},
        {"set server be/s1 state",
         "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"},
        {"get weight be", "Require 'backend/server'.\n\n"},
        {"get weight nope/s1", "No such backend.\n\n"},
        {"get weight be/nope", "No such server.\n\n"},
        {"get weight be/s1", "5 (initial 5)\n\n"},
        {"get weight be/s1 extra", "5 (initial 5)\n\n"},
        {"get weight #2/#7", "1 (initial 1)\n\n"},
        {"disable server be/nope", "No such server.\n\n"},
        {"disable server nope", "Require 'backend/server'.\n\n"},
        {"disable server", "Require 'backend/server'.\n\n"},
        {"show servers state nope", "Can't find backend.\n\n"},
        {"show stat nope -1 -1", "No such proxy.\n\n"},
        {"set server src/a weight 2",
         "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"},
        {"set server src/a weight 50%",
         "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"},
        {"set server src/a weight 0", "\n"},
        {"set server src/a weight 100%", "\n"},
        {"show cli level", "admin\n\n"},
        {"show cli level\r", "admin\n\n"},
        {"show backend", "# name\nbe\ndisp\nsrc\n\n"},
        {"set server be/s1", "usage: set server <backend>/<server> state | weight\n\n"},
    }));
    INFO(c.command);
    CHECK(execute_command(f->runtime, c.command, StatsLevel::admin) == c.answer);
}

TEST_CASE("show version answers tierlb's version", "[stats][commands]") {
    auto f = make_runtime(config_text);
    CHECK(execute_command(f->runtime, "show version", StatsLevel::user) ==
          std::string(tierlb::version_string) + "\n\n");
}

TEST_CASE("weights: absolute, or a percentage of the initial weight", "[stats][commands]") {
    struct Case {
        const char* request;
        const char* weight;
    };
    auto c = GENERATE(values<Case>({
        {"50%", "2 (initial 5)"},
        {"200%", "10 (initial 5)"},
        {"1000%", "50 (initial 5)"},
        {"30000%", "256 (initial 5)"},
        {"0%", "0 (initial 5)"},
        {"0", "0 (initial 5)"},
        {"3", "3 (initial 5)"},
        {"256", "256 (initial 5)"},
        {"+7", "7 (initial 5)"},
    }));
    auto f = make_runtime(config_text);
    for (const char* form : {"set server be/s1 weight ", "set weight be/s1 "}) {
        CHECK(execute_command(f->runtime, std::string(form) + c.request, StatsLevel::admin) ==
              "\n");
        CHECK(execute_command(f->runtime, "get weight be/s1", StatsLevel::admin) ==
              std::string(c.weight) + "\n\n");
    }
}

TEST_CASE("changing state needs level admin", "[stats][commands]") {
    auto level = GENERATE(StatsLevel::operator_level, StatsLevel::user);
    auto command = GENERATE(as<std::string>{}, "set server be/s1 state maint",
                            "set server be/s1 weight 2", "set server nope", "disable server be/s1",
                            "enable server be/s3", "set weight be/s1 3", "set server");
    auto f = make_runtime(config_text);
    CHECK(execute_command(f->runtime, command, level) == "Permission denied\n\n");
    CHECK(status_of(f->runtime, "be/s1") == "no check");
    CHECK(status_of(f->runtime, "be/s3") == "MAINT");
    CHECK(execute_command(f->runtime, "get weight be/s1", level) == "5 (initial 5)\n\n");
}

TEST_CASE("state changes show in show stat", "[stats][commands]") {
    auto f = make_runtime(config_text);
    struct Case {
        const char* command;
        const char* server;
        const char* status;
    };
    auto c = GENERATE(values<Case>({
        {"set server be/s1 state drain", "be/s1", "DRAIN"},
        {"set server be/s1 state maint", "be/s1", "MAINT"},
        {"disable server be/s1", "be/s1", "MAINT"},
        {"enable server be/s3", "be/s3", "no check"},
        {"set server be/s3 state ready", "be/s3", "no check"},
        {"set server disp/w1 state drain", "disp/w1", "DRAIN"},
        {"set server disp/w1 state maint", "disp/w1", "MAINT"},
    }));
    REQUIRE(execute_command(f->runtime, c.command, StatsLevel::admin) == "\n");
    CHECK(status_of(f->runtime, c.server) == c.status);
}

TEST_CASE("state and weight changes are logged as HAProxy logs them", "[stats][commands]") {
    auto f = make_runtime(config_text);
    StatsSession session;
    session.level = StatsLevel::admin;
    const auto run = [&](const std::string& commands) {
        StderrCapture capture;
        execute_line(f->runtime, session, commands);
        return capture.text();
    };
    SECTION("first HAProxy session") {
        CHECK(run("set server be/s1 state drain;set server be/s2 state maint;"
                  "disable server be/s4;enable server be/s3;set server be/s1 weight 50%") ==
              from_haproxy(
                  "[WARNING]  (22021) : Server be/s1 enters drain state. 0 active and 1 backup "
                  "servers online. Running on backup. 0 sessions requeued, 0 total in queue.\n"
                  "[WARNING]  (22021) : Backup Server be/s2 is going DOWN for maintenance. 0 "
                  "active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining "
                  "in queue.\n"
                  "[ALERT]    (22021) : backend 'be' has no server available!\n"
                  "[WARNING]  (22021) : Server be/s4 is going DOWN for maintenance. 0 active and "
                  "0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.\n"
                  "[WARNING]  (22021) : Server be/s3 is UP/READY (leaving forced maintenance).\n"
                  "[WARNING]  (22021) : Server be/s1 remains in forced drain mode.\n"));
    }
    SECTION("second HAProxy session") {
        CHECK(run("set server be/s1 state ready;set server be/s1 state drain;"
                  "set server be/s1 state drain;set server be/s1 state maint;"
                  "set server be/s1 state maint;set server be/s1 weight 2;"
                  "set server be/s1 state drain;set server be/s1 state ready;"
                  "enable server be/s1;disable server be/s1;disable server be/s1;"
                  "enable server be/s1;set server be/s2 state drain;"
                  "set server be/s2 state maint;set server be/s2 state ready") ==
              from_haproxy(
                  "[WARNING]  (24236) : Server be/s1 enters drain state. 0 active and 1 backup "
                  "servers online. Running on backup. 0 sessions requeued, 0 total in queue.\n"
                  "[WARNING]  (24236) : Server be/s1 is going DOWN for maintenance. 0 active and "
                  "1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 "
                  "remaining in queue.\n"
                  "[WARNING]  (24236) : Server be/s1 is UP/DRAIN (leaving forced maintenance).\n"
                  "[WARNING]  (24236) : Server be/s1 remains in forced drain mode.\n"
                  "[WARNING]  (24236) : Server be/s1 is UP (leaving forced drain).\n"
                  "[WARNING]  (24236) : Server be/s1 is going DOWN for maintenance. 0 active and "
                  "1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 "
                  "remaining in queue.\n"
                  "[WARNING]  (24236) : Server be/s1 is UP/READY (leaving forced maintenance).\n"
                  "[WARNING]  (24236) : Backup Server be/s2 enters drain state. 1 active and 0 "
                  "backup servers online. 0 sessions requeued, 0 total in queue.\n"
                  "[WARNING]  (24236) : Backup Server be/s2 is going DOWN for maintenance. 1 "
                  "active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining "
                  "in queue.\n"
                  "[WARNING]  (24236) : Backup Server be/s2 is UP/READY (leaving forced "
                  "maintenance).\n"));
    }
}

TEST_CASE("several commands on a line, prompt and quit", "[stats][commands]") {
    auto f = make_runtime(config_text);
    const std::string version = tierlb::version_string;
    struct Case {
        std::string line;
        std::string answer;
    };
    auto c = GENERATE_COPY(values<Case>({
        {"get weight be/s1;get weight be/s2", "5 (initial 5)\n\n1 (initial 1)\n\n"},
        {"show cli level\nshow cli level\n", "admin\n\nadmin\n\n"},
        {"prompt;show cli level;prompt;show cli level", "\n> admin\n\n> \nadmin\n\n"},
        {"show cli level;quit;show cli level", "admin\n\n"},
        {"quit", ""},
        {"prompt\nquit\n", "\n> "},
        {"operator;show cli level;set server be/s1 state maint",
         "\noperator\n\nPermission denied\n\n"},
        {"user;show cli level;operator", "\nuser\n\nPermission denied\n\n"},
    }));
    CHECK(execute_command(f->runtime, c.line, StatsLevel::admin) == c.answer);
}

TEST_CASE("help lists tierlb's commands in HAProxy's layout", "[stats][commands]") {
    auto f = make_runtime(config_text);
    const auto help = execute_command(f->runtime, "help", StatsLevel::user);
    const auto lines = split(help, '\n');
    REQUIRE(lines.size() > 4);
    CHECK(lines.front() == "The following commands are valid at this level:");
    CHECK(help.find("  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy "
                    "and server\n") != std::string::npos);
    CHECK(help.find("  show info [desc|json|typed]*            : report information about the "
                    "running process\n") != std::string::npos);
    CHECK(help.find("  get weight <bk>/<srv>                   : report a server's current "
                    "weight\n") != std::string::npos);
    CHECK(help.substr(help.size() - help_tail.size() - 1) == help_tail + "\n");
    std::vector<std::string> listed(lines.begin() + 1, lines.end() - 4);  // help, prompt, quit, ""
    for (const auto& line : listed) {
        CHECK(line.substr(0, 2) == "  ");
        CHECK(line.find(": ") >= 42);
    }
    CHECK(std::is_sorted(listed.begin(), listed.end()));

    const auto show_only = execute_command(f->runtime, "help show", StatsLevel::user);
    for (const auto& line : split(show_only, '\n')) {
        if (line.rfind("  ", 0) == 0 && help_tail.find(line) == std::string::npos) {
            CHECK(line.rfind("  show ", 0) == 0);
        }
    }
}

TEST_CASE("unknown commands are answered with the closest ones", "[stats][commands]") {
    auto f = make_runtime(config_text);
    const auto answer = [&](const std::string& line) {
        return execute_command(f->runtime, line, StatsLevel::admin);
    };
    const std::string maybe =
        "Unknown command, but maybe one of the following ones is a "
        "better match:\n";
    const std::string only = "Unknown command. Please enter one of the following commands only:\n";
    CHECK(answer("").rfind(only, 0) == 0);
    CHECK(answer("").find("  show info ") != std::string::npos);
    CHECK(answer("bogus command").rfind(maybe, 0) == 0);
    CHECK(answer("shwo info").find("  show info ") != std::string::npos);
    const auto show_typo = answer("show sat");
    CHECK(show_typo.rfind(maybe, 0) == 0);
    CHECK(show_typo.find("  show stat ") != std::string::npos);
    for (const auto& line : split(show_typo, '\n')) {
        if (line.rfind("  ", 0) == 0 && help_tail.find(line) == std::string::npos) {
            CHECK(line.rfind("  show ", 0) == 0);
        }
    }
    CHECK(answer("show version;").find(std::string(tierlb::version_string) + "\n\n" + only) == 0);
    CHECK(answer("show cli\\ level").rfind(maybe, 0) == 0);
}

TEST_CASE("show stat through the command layer", "[stats][commands]") {
    auto f = make_runtime(config_text);
    const auto addr_of_w1 = [&](StatsLevel level) {
        for (const auto& line : split(execute_command(f->runtime, "show stat", level), '\n')) {
            const auto fields = split(line, ',');
            if (fields.size() > 73 && fields[1] == "w1") {
                return fields[73];
            }
        }
        return std::string("(none)");
    };
    CHECK(addr_of_w1(StatsLevel::admin) == "127.0.0.1:23457");
    CHECK(addr_of_w1(StatsLevel::operator_level) == "127.0.0.1:23457");
    CHECK(addr_of_w1(StatsLevel::user) == "");
    const auto text = execute_command(f->runtime, "show stat", StatsLevel::admin);
    CHECK(text.substr(text.size() - 3) == ",\n\n");
    const auto typed = execute_command(f->runtime, "show stat disp 4 2", StatsLevel::admin);
    CHECK(split(typed, '\n').size() == 3);
    CHECK(typed.find("\ndisp,w2,") != std::string::npos);
}
