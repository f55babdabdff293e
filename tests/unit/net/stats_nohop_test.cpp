// What the stats show and change of an accept-balance bind (no-hop mode): a row per process
// of its group in show stat, the mode in show info, `set accept-balance`, and the counting a
// process does on its slot. The slot table is a plain one here: the eBPF program's part is
// tests/unit/common/nohop_pick_test.cpp, the kernel's tests/integration/test_no_hop.py.

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/net/nohop_member.hpp"
#include "common/net/stats_commands.hpp"
#include "common/net/stats_html.hpp"
#include "common/net/stats_metrics.hpp"
#include "common/net/stats_snapshot.hpp"
#include "common/nohop/slot_table.h"
#include "stats_fixture.hpp"

using stats_test::make_runtime;
using stats_test::StderrCapture;
using tierlb::config::StatsLevel;
using tierlb::net::execute_command;
using tierlb::net::NohopMember;
using tierlb::net::show_info;
using tierlb::net::stat_lines;
using tierlb::net::StatLine;

namespace {

const std::string config_text =
    "defaults\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n"
    "listen web\n"
    "    bind 127.0.0.1:0 process 2-4 accept-balance leastconn\n"
    "    server app 127.0.0.1:23461\n";

// The runtime of process 3, with the listener of the bind, in the group of processes 2-4 over
// TABLE (none: the bind fell back to SO_REUSEPORT for the reason given).
struct Group {
    std::unique_ptr<stats_test::Fixture> f = make_runtime(config_text);
    tierlb_nohop_table table{};

    explicit Group(bool active = true, std::string fallback = "") {
        table.slots = 3;
        for (int i = 0; i < 3; ++i) {
            table.slot[i].weight = 1;
            table.slot[i].up = 1;
        }
        table.slot[0].count = 4;
        table.slot[1].count = 5;
        table.slot[2].count = 4;
        table.slot[1].selected = 17;
        f->runtime.state.number = 3;
        auto listener = std::make_unique<tierlb::net::ListenerRuntime>();
        listener->config = &f->config->proxies.front().binds.front();
        listener->frontend = &f->frontend("web");
        listener->bound = *tierlb::parse_address("127.0.0.1:4433", tierlb::AddressUse::bind);
        if (active) {
            listener->nohop = NohopMember::on_table(table, 1, {2, 3, 4});
        } else {
            listener->nohop_fallback = std::move(fallback);
        }
        f->runtime.listeners.push_back(std::move(listener));
    }
    std::vector<StatLine> rows() const {
        std::vector<StatLine> out;
        for (auto& line : stat_lines(f->runtime)) {
            if (line["type"] == "3") {
                out.push_back(line);
            }
        }
        return out;
    }
    std::string run(const std::string& command, StatsLevel level = StatsLevel::admin) {
        return execute_command(f->runtime, command, level);
    }
    NohopMember& member() { return *f->runtime.listeners.front()->nohop; }
};

}  // namespace

TEST_CASE("show stat: a listener row per process of the group, after the FRONTEND", "[nohop]") {
    Group g;
    const auto lines = stat_lines(g.f->runtime);
    REQUIRE(lines.size() >= 4);
    CHECK(lines[0]["svname"] == "FRONTEND");
    const auto rows = g.rows();
    REQUIRE(rows.size() == 3);
    const std::vector<std::string> names{"sock-1@p2", "sock-1@p3", "sock-1@p4"};
    for (std::size_t i = 0; i < 3; ++i) {
        INFO(i);
        CHECK(rows[i]["pxname"] == "web");
        CHECK(rows[i]["svname"] == names[i]);
        CHECK(rows[i]["pid"] == std::to_string(i + 2));
        CHECK(rows[i]["sid"] == "1");
        CHECK(rows[i]["status"] == "UP");
        CHECK(rows[i]["weight"] == "1");
        CHECK(rows[i]["addr"] == "127.0.0.1:4433");
    }
    CHECK(rows[0]["scur"] == "4");
    CHECK(rows[1]["scur"] == "5");
    CHECK(rows[1]["lbtot"] == "17");
    SECTION("states") {
        g.table.slot[0].up = 0;
        g.table.slot[1].admin = TIERLB_NOHOP_MAINT;
        g.table.slot[2].weight = 0;
        const auto now = g.rows();
        CHECK(now[0]["status"] == "DOWN");
        CHECK(now[1]["status"] == "MAINT");
        CHECK(now[2]["status"] == "DRAIN");
    }
    SECTION("left out by a type filter without listeners, and from the metrics") {
        CHECK(g.run("show stat web 7 -1").find("sock-1@p") == std::string::npos);
        CHECK(g.run("show stat web 8 -1").find("sock-1@p3") != std::string::npos);
        const auto snapshot = tierlb::net::take_snapshot(g.f->runtime, {}, {});
        CHECK(tierlb::net::metrics_text(snapshot).find("sock-1@p") == std::string::npos);
        CHECK(tierlb::net::stats_page(snapshot).find("sock-1@p3") != std::string::npos);
    }
}

TEST_CASE("show info says which mode the kernel uses", "[nohop]") {
    CHECK(show_info(Group().f->runtime).find("\nAcceptBalance: eBPF leastconn\n") !=
          std::string::npos);
    Group fallback(false, "the kernel refused the eBPF program: Operation not permitted");
    CHECK(show_info(fallback.f->runtime)
              .find("\nAcceptBalance: SO_REUSEPORT (the kernel refused the eBPF program: "
                    "Operation not permitted)\n") != std::string::npos);
    CHECK(show_info(make_runtime("listen a\n    bind :0\n    server s 127.0.0.1:1\n")->runtime)
              .find("AcceptBalance") == std::string::npos);
}

TEST_CASE("set accept-balance changes a process's weight and state in the shared table",
          "[nohop]") {
    Group g;
    StderrCapture capture;
    CHECK(g.run("set accept-balance web/sock-1@p4 weight 0") == "\n");
    CHECK(g.table.slot[2].weight == 0);
    CHECK(g.run("set accept-balance web/sock-1@p2 weight 256") == "\n");
    CHECK(g.table.slot[0].weight == 256);
    CHECK(g.run("set accept-balance web/sock-1@p3 state drain") == "\n");
    CHECK(g.table.slot[1].admin == TIERLB_NOHOP_DRAIN);
    CHECK(g.run("set accept-balance web/sock-1@p3 state maint") == "\n");
    CHECK(g.table.slot[1].admin == TIERLB_NOHOP_MAINT);
    CHECK(g.run("set accept-balance web/sock-1@p3 state ready") == "\n");
    CHECK(g.table.slot[1].admin == TIERLB_NOHOP_READY);
    CHECK(capture.text().find("accept-balance web/sock-1@p4: weight set to 0") !=
          std::string::npos);

    struct Row {
        std::string command;
        std::string answer;
    };
    const auto row =
        GENERATE(Row{"set accept-balance web/sock-1@p4 weight 257",
                     "Absolute weight can only be between 0 and 256 inclusive.\n\n"},
                 Row{"set accept-balance web/sock-1@p4 weight -1",
                     "Absolute weight can only be between 0 and 256 inclusive.\n\n"},
                 Row{"set accept-balance web/sock-1@p4 state up",
                     "'set accept-balance <row> state' expects 'ready', 'drain' and 'maint'.\n\n"},
                 Row{"set accept-balance web/sock-1@p5 weight 1",
                     "No such accept-balance row (see show stat: <frontend>/<bind>@p<N>).\n\n"},
                 Row{"set accept-balance other/sock-1@p2 weight 1",
                     "No such accept-balance row (see show stat: <frontend>/<bind>@p<N>).\n\n"},
                 Row{"set accept-balance web/sock-1@p2 colour 1",
                     "usage: set accept-balance <frontend>/<bind>@p<N> weight <0-256> | state "
                     "ready|drain|maint\n\n"});
    INFO(row.command);
    CHECK(g.run(row.command) == row.answer);
    CHECK(g.run("set accept-balance web/sock-1@p4 weight 3", StatsLevel::operator_level) ==
          "Permission denied\n\n");
}

TEST_CASE("a process takes its ended connections off its own slot, never below 0", "[nohop]") {
    Group g;
    NohopMember& m = g.member();
    CHECK(m.slot() == 1);
    m.connection_started();  // the program counted it: nothing to add
    CHECK(g.table.slot[1].count == 5);
    m.connection_ended();
    CHECK(g.table.slot[1].count == 4);
    m.adjust(-10);
    CHECK(g.table.slot[1].count == 0);
    m.connection_ended();
    CHECK(g.table.slot[1].count == 0);
    m.adjust(3);
    CHECK(g.table.slot[1].count == 3);
    CHECK(g.table.slot[1].retired == 0);
    CHECK(g.table.slot[0].count == 4);  // the others' slots are theirs
}

TEST_CASE(
    "a superseded process keeps its connections in its slot's count and declares them "
    "retired; a failed reload gives the slot back",
    "[nohop]") {
    Group g;  // slot 1 counts 5: the process holds 5
    NohopMember& m = g.member();
    m.supersede(5, false);
    CHECK(m.superseded());
    CHECK(g.table.slot[1].count == 5);
    CHECK(g.table.slot[1].retired == 5);
    m.supersede(5, false);  // once
    CHECK(g.table.slot[1].retired == 5);
    // It still accepts what the program placed before the new process listened.
    m.connection_started();
    g.table.slot[1].count += 1;  // (the program counted it at its SYN)
    CHECK(g.table.slot[1].retired == 6);
    m.connection_ended();
    m.connection_ended();
    CHECK(g.table.slot[1].count == 4);
    CHECK(g.table.slot[1].retired == 4);
    CHECK(m.retired_part() == 4);
    // Another generation declares its own part in the same slot: parts add up.
    g.table.slot[1].retired += 7;
    m.resume();
    CHECK_FALSE(m.superseded());
    CHECK(g.table.slot[1].retired == 7);
    CHECK(m.retired_part() == 0);
    m.connection_ended();
    CHECK(g.table.slot[1].count == 3);
    CHECK(g.table.slot[1].retired == 7);
    // Superseded for good (a soft stop): no resume after that.
    m.supersede(3, true);
    m.resume();
    CHECK(m.superseded());
    CHECK(g.table.slot[1].retired == 10);
    for (int i = 0; i < 3; ++i) {
        m.connection_ended();
    }
    CHECK(g.table.slot[1].retired == 7);
    CHECK(m.retired_part() == 0);
}
