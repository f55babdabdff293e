#include "common/net/stats_info.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "stats_fixture.hpp"
#include "tierlb/version.hpp"

using namespace std::chrono_literals;
using stats_test::make_runtime;
using stats_test::reference_config;
using stats_test::split;
using tierlb::balance::AdminState;
using tierlb::health::CheckOutcome;
using tierlb::health::CheckParams;
using tierlb::health::CheckState;
using tierlb::health::CheckStatus;
using tierlb::net::BackendRuntime;
using tierlb::net::CliActivity;
using tierlb::net::Clock;
using tierlb::net::info_uptime;
using tierlb::net::proc_header;
using tierlb::net::proc_row;
using tierlb::net::proc_uptime;
using tierlb::net::show_info;
using tierlb::net::show_proc;
using tierlb::net::show_servers_state;

namespace {

// The keys of HAProxy 2.6's `show info`, in its order (reference output).
const std::vector<std::string> haproxy_info_keys{"Name",
                                                 "Version",
                                                 "Release_date",
                                                 "Nbthread",
                                                 "Nbproc",
                                                 "Process_num",
                                                 "Pid",
                                                 "Uptime",
                                                 "Uptime_sec",
                                                 "Memmax_MB",
                                                 "PoolAlloc_MB",
                                                 "PoolUsed_MB",
                                                 "PoolFailed",
                                                 "Ulimit-n",
                                                 "Maxsock",
                                                 "Maxconn",
                                                 "Hard_maxconn",
                                                 "CurrConns",
                                                 "CumConns",
                                                 "CumReq",
                                                 "MaxSslConns",
                                                 "CurrSslConns",
                                                 "CumSslConns",
                                                 "Maxpipes",
                                                 "PipesUsed",
                                                 "PipesFree",
                                                 "ConnRate",
                                                 "ConnRateLimit",
                                                 "MaxConnRate",
                                                 "SessRate",
                                                 "SessRateLimit",
                                                 "MaxSessRate",
                                                 "SslRate",
                                                 "SslRateLimit",
                                                 "MaxSslRate",
                                                 "SslFrontendKeyRate",
                                                 "SslFrontendMaxKeyRate",
                                                 "SslFrontendSessionReuse_pct",
                                                 "SslBackendKeyRate",
                                                 "SslBackendMaxKeyRate",
                                                 "SslCacheLookups",
                                                 "SslCacheMisses",
                                                 "CompressBpsIn",
                                                 "CompressBpsOut",
                                                 "CompressBpsRateLim",
                                                 "Tasks",
                                                 "Run_queue",
                                                 "Idle_pct",
                                                 "node",
                                                 "Stopping",
                                                 "Jobs",
                                                 "Unstoppable Jobs",
                                                 "Listeners",
                                                 "ActivePeers",
                                                 "ConnectedPeers",
                                                 "DroppedLogs",
                                                 "BusyPolling",
                                                 "FailedResolutions",
                                                 "TotalBytesOut",
                                                 "TotalSplicdedBytesOut",
                                                 "BytesOutRate",
                                                 "DebugCommandsIssued",
                                                 "CumRecvLogs",
                                                 "Build info",
                                                 "Memmax_bytes",
                                                 "PoolAlloc_bytes",
                                                 "PoolUsed_bytes",
                                                 "Start_time_sec",
                                                 "Tainted"};

struct Info {
    std::vector<std::string> keys;
    std::map<std::string, std::string> values;
};

Info parse_info(const std::string& text) {
    Info info;
    REQUIRE(!text.empty());
    REQUIRE(text.back() == '\n');
    for (const auto& line : split(text, '\n')) {
        const auto colon = line.find(": ");
        REQUIRE(colon != std::string::npos);
        info.keys.push_back(line.substr(0, colon));
        info.values[line.substr(0, colon)] = line.substr(colon + 2);
    }
    return info;
}

CheckState refused_check() {
    const auto t0 = Clock::now();
    CheckState state(CheckParams{2, 3, 2000ms, 0ms, 0ms}, t0);
    state.record(CheckOutcome{CheckStatus::l4con, 0ms, "Connection refused", 0}, t0);
    return state;
}

// A servers-state line with its be_id (HAProxy numbers proxies from 2) and its
// srv_time_since_last_change replaced by "*".
std::string masked_state(const std::string& line) {
    auto words = split(line, ' ');
    REQUIRE(words.size() == 25);
    words[0] = "*";
    words[9] = "*";
    std::string out;
    for (const auto& w : words) {
        out += (out.empty() ? "" : " ") + w;
    }
    return out;
}

const std::string haproxy_state_header =
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
    "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
    "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

}  // namespace

TEST_CASE("show info has HAProxy's keys in HAProxy's order", "[stats][info]") {
    auto f = make_runtime(reference_config);
    const Info info = parse_info(show_info(f->runtime));
    CHECK(info.keys == haproxy_info_keys);
}

TEST_CASE("show info values", "[stats][info]") {
    auto f = make_runtime(
        "global\n    maxconn 500\n    nbthread 2\n"
        "    stats socket /tmp/x.sock level admin process 1\n"
        "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "listen l\n    bind 127.0.0.1:0 process 1-2\n    server s 127.0.0.1:1\n");
    f->runtime.state.started = Clock::now() - 3725s;
    f->runtime.state.connections.enter();
    tierlb::net::add(f->runtime.state.total_connections, 41);
    tierlb::net::add(f->backend("l").traffic().bytes_in, 100);
    tierlb::net::add(f->frontend("l").stats.traffic.bytes_out, 20);
    const Info info = parse_info(show_info(f->runtime, CliActivity{1, 5}));
    auto c = GENERATE(values<std::pair<const char*, std::string>>({
        {"Name", "tierlb"},
        {"Version", tierlb::version_string},
        {"Build info", tierlb::version_string},
        {"Nbthread", "2"},
        {"Nbproc", "2"},
        {"Process_num", "1"},
        {"Pid", std::to_string(::getpid())},
        {"Uptime", "0d 1h02m05s"},
        {"Uptime_sec", "3725"},
        {"Maxconn", "500"},
        {"Hard_maxconn", "500"},
        {"CurrConns", "1"},
        {"CumConns", "46"},
        {"Listeners", "1"},  // no ListenerRuntime here: the stats socket only
        {"Jobs", "3"},       // listeners + connections + the asking client
        {"TotalBytesOut", "120"},
        {"Stopping", "0"},
        {"Tainted", "0"},
    }));
    INFO(c.first);
    CHECK(info.values.at(c.first) == c.second);
}

TEST_CASE("uptimes are written as HAProxy writes them", "[stats][info]") {
    struct Case {
        long long seconds;
        const char* info;
        const char* proc;
    };
    auto c = GENERATE(values<Case>({
        {0, "0d 0h00m00s", "0d00h00m00s"},
        {1, "0d 0h00m01s", "0d00h00m01s"},
        {3725, "0d 1h02m05s", "0d01h02m05s"},
        {90061, "1d 1h01m01s", "1d01h01m01s"},
    }));
    CHECK(info_uptime(std::chrono::seconds(c.seconds)) == c.info);
    CHECK(proc_uptime(std::chrono::seconds(c.seconds)) == c.proc);
}

TEST_CASE("show proc is the master CLI's table", "[stats][info]") {
    CHECK(proc_header() ==
          "#<PID>          <type>          <reloads>       <uptime>        <version>      \n");
    // The master's own rows, as HAProxy 2.6 printed them.
    CHECK(proc_row(22437, "master", "0 [failed: 0]", 2s, "2.6.12-1+deb12u4") ==
          "22437           master          0 [failed: 0]   0d00h00m02s     2.6.12-1+deb12u4\n");
    CHECK(proc_row(22440, "worker", "0", 2s, "2.6.12-1+deb12u4") ==
          "22440           worker          0               0d00h00m02s     2.6.12-1+deb12u4\n");
    auto f = make_runtime(reference_config);
    const auto lines = split(show_proc(f->runtime), '\n');
    REQUIRE(lines.size() == 2);
    CHECK(lines[1].rfind(std::to_string(::getpid()) + " ", 0) == 0);
    CHECK(lines[1].find(" worker ") != std::string::npos);
}

TEST_CASE("show servers state matches HAProxy's lines", "[stats][info]") {
    auto f = make_runtime(reference_config);
    BackendRuntime& disp = f->backend("disp");
    auto check = refused_check();
    const tierlb::net::CheckLookup checks = [&](const BackendRuntime&, std::size_t) {
        return std::optional<CheckState>(check);
    };
    disp.set_up(0, false);

    const auto text = show_servers_state(f->runtime, "", checks);
    REQUIRE(text.rfind(haproxy_state_header, 0) == 0);
    const auto lines = split(text.substr(haproxy_state_header.size()), '\n');
    REQUIRE(lines.size() == 2);
    CHECK(masked_state(lines[0]) ==
          masked_state("2 disp 1 w1 127.0.0.1 0 0 1 1 1 8 2 0 6 0 0 0 - 23457 - 0 0 - - 0"));
    CHECK(masked_state(lines[1]) ==
          masked_state("2 disp 2 w2 - 2 0 1 1 1 1 0 2 0 0 0 0 - 0 - 0 0 - - 0"));

    SECTION("after set server disp/w1 state maint and weight 50%") {
        disp.set_admin(0, AdminState::maint);
        disp.set_weight(0, 0);
        check.enter_maintenance(Clock::now());
        const auto after = split(show_servers_state(f->runtime, "disp", checks), '\n');
        REQUIRE(after.size() == 4);
        CHECK(masked_state(after[2]) ==
              masked_state("2 disp 1 w1 127.0.0.1 0 1 0 1 1 8 2 0 14 0 0 0 - 23457 - 0 0 - - 0"));
    }
    SECTION("an unknown backend") {
        CHECK(show_servers_state(f->runtime, "nope") == "Can't find backend.\n");
    }
}

TEST_CASE("servers state flags as HAProxy sets them", "[stats][info]") {
    // Observed on HAProxy 2.6: a `disabled` server is 5 (CMAINT|FMAINT) with its check state
    // PAUSED, 4 once enabled; drain is 8; IPv6 addresses go without brackets.
    auto f = make_runtime(
        "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "backend be\n"
        "    server s1 127.0.0.1:23461 maxconn 10 weight 5\n"
        "    server s3 127.0.0.1:23463 disabled id 7\n"
        "    server s4 [::1]:23464 weight 0\n");
    BackendRuntime& be = f->backend("be");
    auto lines = split(show_servers_state(f->runtime, ""), '\n');
    REQUIRE(lines.size() == 5);
    CHECK(masked_state(lines[2]) ==
          masked_state("3 be 1 s1 127.0.0.1 2 0 5 5 31 1 0 2 0 0 0 0 - 23461 - 0 0 - - 0"));
    CHECK(masked_state(lines[3]) ==
          masked_state("3 be 7 s3 127.0.0.1 0 5 1 1 31 1 0 0 8 0 0 1 - 23463 - 0 0 - - 0"));
    // HAProxy numbered s4 4 (its next id advances past explicit ones too); tierlb's
    // configuration gives it 2.
    CHECK(masked_state(lines[4]) ==
          masked_state("3 be 2 s4 ::1 2 0 0 0 31 1 0 2 0 0 0 0 - 23464 - 0 0 - - 0"));
    be.set_admin(0, AdminState::drain);
    be.set_admin(1, AdminState::ready);
    lines = split(show_servers_state(f->runtime, "be"), '\n');
    CHECK(split(lines[2], ' ')[6] == "8");
    CHECK(split(lines[3], ' ')[6] == "4");
    CHECK(split(lines[3], ' ')[5] == "2");
    CHECK(split(lines[3], ' ')[12] == "0");  // HAProxy: only a check restores the health
}
