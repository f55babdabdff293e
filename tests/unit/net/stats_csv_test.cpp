#include "common/net/stats_csv.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "stats_fixture.hpp"

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
using tierlb::net::Clock;
using tierlb::net::csv_field;
using tierlb::net::show_stat;
using tierlb::net::stat_header;
using tierlb::net::StatOptions;

namespace {

// Copied from HAProxy 2.6's output (/work/reference/haproxy-2.6-stats-output.txt).
const std::string haproxy_header =
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,"
    "wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,"
    "lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,"
    "hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,"
    "cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,"
    "ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,"
    "check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,"
    "conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,"
    "srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,"
    "used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,"
    "agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,"
    "h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,"
    "h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,"
    "h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,"
    "h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,"
    "h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n";

const std::string ref_frontend =
    "disp,FRONTEND,,,0,0,9985,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,,,,,,,,0,0,0,,,0,"
    "0,0,0,,,,,,,,,,,,,,,,,,,,,tcp,,0,0,0,,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,"
    "0,0,0,0,0,0,0,0,0,0,0,";
const std::string ref_w1_down =
    "disp,w1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,1,1,,1,2,1,,0,,2,0,,0,L4CON,,0,,,,,,,,,,,0,"
    "0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,3,0,,,,127.0.0.1:23457,"
    ",tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,";
const std::string ref_w1_maint =
    "disp,w1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,1,1,1,1,,1,2,1,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,"
    ",,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:23457,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,"
    "0,0,,,,,,,,,,,,,,,,,,,,,,";
const std::string ref_w2 =
    "disp,w2,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,1,,,1,2,2,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,"
    ",,-1,,,0,0,0,0,,,,,,,,,,,,unix,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,"
    ",,,,,,,,,,,,,,";
const std::string ref_backend =
    "disp,BACKEND,0,0,0,0,999,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,1,0,,1,2,0,,0,,1,0,,0,,,,,,,,,,,,,,0,"
    "0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,tcp,leastconn,,,,,,,0,0,0,,,,,0,0,0,0,0,,,,,1,0,0,0,-,0,0,"
    "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,";

// Column numbers, as in the header.
constexpr std::size_t c_scur = 4, c_smax = 5, c_slim = 6, c_stot = 7, c_bin = 8, c_bout = 9,
                      c_status = 17, c_weight = 18, c_act = 19, c_bck = 20, c_lastchg = 23,
                      c_downtime = 24, c_iid = 27, c_sid = 28, c_lbtot = 30, c_type = 32,
                      c_lastsess = 55, c_addr = 73, c_need_conn_est = 98, c_uweight = 99;

// The lines of an answer, header and trailing empty line excluded.
std::vector<std::string> lines_of(const std::string& csv) {
    auto lines = split(csv, '\n');
    REQUIRE(!lines.empty());
    REQUIRE(lines.front() + "\n" == stat_header());
    lines.erase(lines.begin());
    return lines;
}

std::vector<std::string> fields_of(const std::string& line) {
    auto fields = split(line, ',');
    REQUIRE(fields.size() == 128);
    return fields;
}

// The line with columns that depend on when and how the process runs replaced by "*":
// lastchg and downtime (time), iid (HAProxy numbers proxies from 2), need_conn_est (an
// estimate tierlb does not make).
std::string masked(const std::string& line) {
    auto fields = fields_of(line);
    for (auto c : {c_lastchg, c_downtime, c_iid, c_need_conn_est}) {
        fields[c] = "*";
    }
    std::string out;
    for (const auto& f : fields) {
        out += f + ",";
    }
    return out;
}

CheckState refused_check() {
    const auto t0 = Clock::now();
    CheckState state(CheckParams{2, 3, 2000ms, 0ms, 0ms}, t0);
    state.record(CheckOutcome{CheckStatus::l4con, 0ms, "Connection refused", 0}, t0);
    return state;
}

std::string field(const std::string& csv, std::size_t line, std::size_t column) {
    return fields_of(lines_of(csv).at(line)).at(column);
}

}  // namespace

TEST_CASE("the header is HAProxy 2.6's, byte for byte", "[stats][csv]") {
    CHECK(stat_header() == haproxy_header);
}

TEST_CASE("a listen is a FRONTEND line, its servers, then a BACKEND line", "[stats][csv]") {
    auto f = make_runtime(reference_config);
    const auto lines = lines_of(show_stat(f->runtime));
    REQUIRE(lines.size() == 4);
    const std::vector<std::pair<std::string, std::string>> expected{
        {"FRONTEND", "0"}, {"w1", "2"}, {"w2", "2"}, {"BACKEND", "1"}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto fields = fields_of(lines[i]);
        CHECK(fields[0] == "disp");
        CHECK(fields[1] == expected[i].first);
        CHECK(fields[c_type] == expected[i].second);
        CHECK(lines[i].back() == ',');
    }
    CHECK(fields_of(lines[1])[c_sid] == "1");
    CHECK(fields_of(lines[2])[c_sid] == "2");
    CHECK(fields_of(lines[3])[c_sid] == "0");
}

TEST_CASE("lines match HAProxy's field by field for the reference configuration", "[stats][csv]") {
    auto f = make_runtime(reference_config);
    f->runtime.state.connections.set_limit(9985);  // what HAProxy derived from ulimit -n
    BackendRuntime& disp = f->backend("disp");
    auto check = refused_check();
    disp.set_up(0, false);  // what the checker does on its DOWN transition
    StatOptions options;
    options.checks = [&](const BackendRuntime&, std::size_t server) -> std::optional<CheckState> {
        if (server == 0) {
            return check;
        }
        return std::nullopt;
    };

    SECTION("w1 down after a refused check") {
        const auto lines = lines_of(show_stat(f->runtime, options));
        CHECK(masked(lines[0]) == masked(ref_frontend));
        CHECK(masked(lines[1]) == masked(ref_w1_down));
        CHECK(masked(lines[2]) == masked(ref_w2));
        CHECK(masked(lines[3]) == masked(ref_backend));
    }
    SECTION("w1 in maintenance: the check's outcome columns are blank") {
        disp.set_admin(0, AdminState::maint);
        check.enter_maintenance(Clock::now());
        const auto lines = lines_of(show_stat(f->runtime, options));
        CHECK(masked(lines[1]) == masked(ref_w1_maint));
        CHECK(masked(lines[3]) == masked(ref_backend));
    }
}

TEST_CASE("counters follow the runtime", "[stats][csv]") {
    auto f = make_runtime(reference_config);
    BackendRuntime& disp = f->backend("disp");
    auto& fe = f->frontend("disp");
    REQUIRE(disp.take_server(0));
    tierlb::net::add(disp.server(0).stats.selected);
    tierlb::net::add(disp.server(0).stats.traffic.bytes_in, 120);
    tierlb::net::add(disp.server(0).stats.traffic.bytes_out, 4096);
    disp.traffic().opened();
    tierlb::net::add(disp.selected());
    fe.stats.traffic.opened();
    fe.stats.traffic.opened();
    fe.stats.traffic.closed();
    StatOptions options;
    options.wall_now = std::chrono::system_clock::now();
    disp.server(0).stats.last_session.store(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                       (*options.wall_now - 7s).time_since_epoch())
                                       .count()));

    const auto csv = show_stat(f->runtime, options);
    struct Case {
        std::size_t line;
        std::size_t column;
        const char* value;
    };
    auto c = GENERATE(values<Case>({
        {0, c_scur, "1"},
        {0, c_smax, "2"},
        {0, c_stot, "2"},
        {1, c_scur, "1"},
        {1, c_smax, "1"},
        {1, c_stot, "1"},
        {1, c_lbtot, "1"},
        {1, c_bin, "120"},
        {1, c_bout, "4096"},
        {1, c_lastsess, "7"},
        {2, c_scur, "0"},
        {2, c_lastsess, "-1"},
        {3, c_scur, "1"},
        {3, c_stot, "1"},
        {3, c_lbtot, "1"},
        {3, c_lastsess, "7"},
        {3, c_weight, "2"},
        {3, c_act, "2"},
    }));
    INFO("line " << c.line << " column " << c.column);
    CHECK(field(csv, c.line, c.column) == c.value);
    disp.release(0);
    CHECK(field(show_stat(f->runtime), 1, c_scur) == "0");
}

TEST_CASE("server status strings", "[stats][csv]") {
    struct Case {
        AdminState admin;
        bool up;
        bool check;
        const char* status;
    };
    auto c = GENERATE(values<Case>({
        {AdminState::ready, true, false, "no check"},
        {AdminState::ready, true, true, "UP"},
        {AdminState::drain, true, false, "DRAIN"},
        {AdminState::drain, true, true, "DRAIN"},
        {AdminState::maint, true, false, "MAINT"},
        {AdminState::maint, false, true, "MAINT"},
        {AdminState::ready, false, true, "DOWN"},
        {AdminState::drain, false, true, "DOWN"},
    }));
    auto f = make_runtime(reference_config);
    BackendRuntime& disp = f->backend("disp");
    const std::size_t server = c.check ? 0 : 1;  // w1 has `check`, w2 not
    disp.set_admin(server, c.admin);
    disp.set_up(server, c.up);
    CHECK(field(show_stat(f->runtime), 1 + server, c_status) == c.status);
}

TEST_CASE("checked servers in transition show HAProxy's R/F counts", "[stats][csv]") {
    auto f = make_runtime(reference_config);
    auto check = refused_check();  // DOWN, health 0
    StatOptions options;
    options.checks = [&](const BackendRuntime&, std::size_t) -> std::optional<CheckState> {
        return check;
    };
    f->backend("disp").set_up(0, false);
    CHECK(field(show_stat(f->runtime, options), 1, c_status) == "DOWN");
    check.record(CheckOutcome{CheckStatus::l4ok, 1ms, "", 0}, Clock::now());
    CHECK(field(show_stat(f->runtime, options), 1, c_status) == "DOWN 1/2");
}

TEST_CASE("BACKEND weight, act, bck and status", "[stats][csv]") {
    auto f = make_runtime(
        "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "frontend fe\n    bind 127.0.0.1:0\n    maxconn 100\n    default_backend be\n"
        "backend be\n"
        "    server a 127.0.0.1:1 weight 5 maxconn 10\n"
        "    server b 127.0.0.1:2 backup weight 3\n"
        "    server c 127.0.0.1:3 backup weight 7\n"
        "backend empty\n");
    BackendRuntime& be = f->backend("be");
    const auto backend_field = [&](std::size_t column) {
        return field(show_stat(f->runtime), 4, column);
    };
    CHECK(backend_field(c_status) == "UP");
    CHECK(backend_field(c_weight) == "5");
    CHECK(backend_field(c_act) == "1");
    CHECK(backend_field(c_bck) == "2");
    CHECK(backend_field(c_slim) == "10");  // a tenth of the frontend's maxconn
    CHECK(field(show_stat(f->runtime), 0, c_slim) == "100");
    CHECK(field(show_stat(f->runtime), 1, c_slim) == "10");
    CHECK(field(show_stat(f->runtime), 2, c_slim) == "");
    CHECK(field(show_stat(f->runtime), 2, c_act) == "0");
    CHECK(field(show_stat(f->runtime), 2, c_bck) == "1");

    be.set_admin(0, AdminState::drain);  // no active server: the first backup carries it
    CHECK(backend_field(c_weight) == "3");
    CHECK(backend_field(c_uweight) == "3");
    CHECK(backend_field(c_act) == "0");
    be.set_admin(1, AdminState::maint);
    be.set_admin(2, AdminState::maint);
    CHECK(backend_field(c_status) == "DOWN");
    CHECK(backend_field(c_weight) == "0");

    // A backend without servers is UP, without downtime, and its slim is 1.
    const auto empty = fields_of(lines_of(show_stat(f->runtime)).at(5));
    CHECK(empty[1] == "BACKEND");
    CHECK(empty[c_status] == "UP");
    CHECK(empty[c_downtime] == "");
    CHECK(empty[c_slim] == "1");
}

TEST_CASE("addresses are for operators and admins only", "[stats][csv]") {
    auto f = make_runtime(reference_config);
    StatOptions options;
    CHECK(field(show_stat(f->runtime, options), 1, c_addr) == "127.0.0.1:23457");
    CHECK(field(show_stat(f->runtime, options), 2, c_addr) == "unix");
    options.show_addresses = false;
    CHECK(field(show_stat(f->runtime, options), 1, c_addr) == "");
}

TEST_CASE("filters: proxy, type, server, up, no-maint", "[stats][csv]") {
    auto f = make_runtime(
        "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "listen a\n    bind 127.0.0.1:0\n    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2\n"
        "    server s3 127.0.0.1:3 check\n"
        "listen b\n    bind 127.0.0.1:0\n    server t1 127.0.0.1:4\n");
    f->backend("a").set_admin(0, AdminState::maint);
    f->backend("a").set_up(2, false);
    const auto names = [&](const StatOptions& options) {
        std::string out;
        for (const auto& line : lines_of(show_stat(f->runtime, options))) {
            const auto fields = fields_of(line);
            out += fields[0] + "/" + fields[1] + " ";
        }
        return out;
    };
    StatOptions options;
    CHECK(names(options) == "a/FRONTEND a/s1 a/s2 a/s3 a/BACKEND b/FRONTEND b/t1 b/BACKEND ");
    options.filter.proxy_id = 2;
    CHECK(names(options) == "b/FRONTEND b/t1 b/BACKEND ");
    options.filter.proxy_id = 1;
    options.filter.types = 4;
    options.filter.server_id = 2;
    CHECK(names(options) == "a/s2 ");
    options.filter = {};
    options.filter.no_maint = true;
    CHECK(names(options) == "a/FRONTEND a/s2 a/s3 a/BACKEND b/FRONTEND b/t1 b/BACKEND ");
    CHECK(field(show_stat(f->runtime, options), 3, c_status) == "UP (1/3)");
    options.filter.up_only = true;
    CHECK(names(options) == "a/FRONTEND a/s2 a/BACKEND b/FRONTEND b/t1 b/BACKEND ");
}

TEST_CASE("fields are quoted only when they must be", "[stats][csv]") {
    auto c = GENERATE(values<std::pair<const char*, const char*>>({
        {"Connection refused", "Connection refused"},
        {"", ""},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"two\nlines", "\"two\nlines\""},
    }));
    CHECK(csv_field(c.first) == c.second);
}

TEST_CASE("a frontend stopped by a soft stop is STOP", "[stats][csv]") {
    auto f = make_runtime(reference_config);
    CHECK(field(show_stat(f->runtime), 0, c_status) == "OPEN");
    f->frontend("disp").stopped = true;  // what the process does on SIGUSR1
    CHECK(field(show_stat(f->runtime), 0, c_status) == "STOP");
}

TEST_CASE("rates, aborted transfers and the times of the last sessions", "[stats][csv]") {
    auto f = make_runtime(reference_config);
    // Rates count per second of the steady clock: start early in one, so that the events and
    // their reading (well under a millisecond apart) fall in the same second.
    const auto millis_into_second = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   Clock::now().time_since_epoch())
                   .count() %
               1000;
    };
    while (millis_into_second() > 700) {
        std::this_thread::sleep_for(1ms);
    }
    BackendRuntime& disp = f->backend("disp");
    auto& fe = f->frontend("disp");
    for (int i = 0; i < 3; ++i) {
        fe.stats.traffic.opened();
    }
    fe.stats.traffic.entered();  // a connection that never became a session
    disp.traffic().opened();
    disp.server(0).stats.traffic.opened();
    // Ends: an abort by each side during the transfer, a normal one, and one that never
    // connected (no times, as in HAProxy), all on w1.
    disp.count_end(0, {'C', 'D', 0, 2, 100});
    disp.count_end(0, {'S', 'D', 4, 6, 300});
    disp.count_end(0, {'-', '-', 2, 1, 200});
    disp.count_end(0, {'S', 'C', 0, -1, 5000});
    disp.count_end(1, {'c', 'D', 0, 1, 1});  // a client timeout during the transfer (w2)

    const auto lines = tierlb::net::stat_lines(f->runtime);
    REQUIRE(lines.size() == 4);
    const auto& frontend = lines[0];
    const auto& w1 = lines[1];
    const auto& w2 = lines[2];
    const auto& backend = lines[3];
    // Within the second they happened in (the test takes far less than one).
    CHECK(frontend["rate"] == "3");
    CHECK(frontend["rate_max"] == "3");
    CHECK(frontend["conn_rate"] == "4");
    CHECK(frontend["conn_rate_max"] == "4");
    CHECK(w1["rate"] == "1");
    CHECK(backend["rate"] == "1");
    CHECK(w2["rate"] == "0");
    CHECK(w1["cli_abrt"] == "1");
    CHECK(w1["srv_abrt"] == "1");
    CHECK(w1["qtime"] == "2");  // (0 + 4 + 2) / 3
    CHECK(w1["ctime"] == "3");  // (2 + 6 + 1) / 3
    CHECK(w1["ttime"] == "200");
    CHECK(w1["rtime"] == "0");  // HTTP only
    CHECK(w1["qtime_max"] == "4");
    CHECK(w1["ctime_max"] == "6");
    CHECK(w1["ttime_max"] == "300");
    CHECK(w2["cli_abrt"] == "1");
    CHECK(w2["srv_abrt"] == "0");
    CHECK(w2["ttime"] == "1");
    CHECK(backend["cli_abrt"] == "2");
    CHECK(backend["srv_abrt"] == "1");
    CHECK(backend["ctime"] == "3");  // (2 + 6 + 1 + 1) / 4, rounded up
    CHECK(backend["ttime_max"] == "300");
}
