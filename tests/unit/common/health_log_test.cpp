#include "common/health/health_log.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using tierlb::health::CheckEvent;
using tierlb::health::CheckOutcome;
using tierlb::health::CheckParams;
using tierlb::health::CheckState;
using tierlb::health::CheckStatus;
using tierlb::health::Clock;
using tierlb::health::LogLevel;
using tierlb::health::LogLine;
using tierlb::health::LogOptions;
using tierlb::health::MaintenanceEntry;
using tierlb::health::ServerCounts;
using tierlb::health::ServerLogInfo;
using tierlb::health::Transition;

namespace {

const Clock::time_point t0{};

const CheckOutcome refused{CheckStatus::l4con, 0ms, "Connection refused", 0};
const CheckOutcome passed{CheckStatus::l4ok, 0ms, "", 0};

const ServerLogInfo bs{"B", "S"};

std::vector<std::string> texts(const std::vector<LogLine>& lines) {
    std::vector<std::string> out;
    for (const auto& line : lines) {
        out.push_back(line.text);
    }
    return out;
}

}  // namespace

TEST_CASE("status R/F counts failures left while UP, successes made while DOWN", "[health]") {
    struct Case {
        unsigned health;
        unsigned rise;
        unsigned fall;
        bool zero_weight;
        const char* text;
    };
    auto c = GENERATE(values<Case>({
        {4, 2, 3, false, "3/3 UP"},
        {3, 2, 3, false, "2/3 UP"},
        {2, 2, 3, false, "1/3 UP"},
        {1, 2, 3, false, "1/2 DOWN"},
        {0, 2, 3, false, "0/2 DOWN"},
        {4, 2, 3, true, "3/3 DRAIN"},
        {0, 2, 3, true, "0/2 DOWN"},
        {1, 1, 1, false, "1/1 UP"},
        {0, 1, 1, false, "0/1 DOWN"},
    }));
    CAPTURE(c.health, c.rise, c.fall, c.zero_weight);
    CHECK(tierlb::health::health_status(c.health, c.rise, c.fall, c.zero_weight) == c.text);
}

TEST_CASE("a whole sequence logs what HAProxy logs, with log-health-checks", "[health]") {
    CheckState state(CheckParams{}, t0);
    const ServerCounts one_left{1, 0, 0, 0, 0};
    const ServerCounts two_online{2, 0, 0, 0, 0};
    struct Step {
        CheckOutcome outcome;
        ServerCounts after;
        std::vector<std::string> lines;
    };
    const std::vector<Step> steps = {
        {passed,
         two_online,
         {"Health check for server B/S succeeded, reason: Layer4 check passed, check duration: "
          "0ms, status: 3/3 UP."}},
        // Fully UP, same status: silent.
        {passed, two_online, {}},
        {refused,
         two_online,
         {"Health check for server B/S failed, reason: Layer4 connection problem, info: "
          "\"Connection refused\", check duration: 0ms, status: 2/3 UP."}},
        {refused,
         two_online,
         {"Health check for server B/S failed, reason: Layer4 connection problem, info: "
          "\"Connection refused\", check duration: 0ms, status: 1/3 UP."}},
        {refused,
         one_left,
         {"Health check for server B/S failed, reason: Layer4 connection problem, info: "
          "\"Connection refused\", check duration: 0ms, status: 0/2 DOWN.",
          "Server B/S is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 "
          "requeued, 0 remaining in queue."}},
        // Fully DOWN, same status: silent.
        {refused, one_left, {}},
        // Fully DOWN, another status: logged although the health stays 0.
        {CheckOutcome{CheckStatus::l4tout, 2001ms, "", 0},
         one_left,
         {"Health check for server B/S failed, reason: Layer4 timeout, check duration: 2001ms, "
          "status: 0/2 DOWN."}},
        {passed,
         one_left,
         {"Health check for server B/S succeeded, reason: Layer4 check passed, check duration: "
          "0ms, status: 1/2 DOWN."}},
        {passed,
         two_online,
         {"Health check for server B/S succeeded, reason: Layer4 check passed, check duration: "
          "0ms, status: 3/3 UP.",
          "Server B/S is UP. 2 active and 0 backup servers online. 0 sessions requeued, 0 total "
          "in queue."}},
    };
    int second = 1;
    for (const auto& step : steps) {
        CAPTURE(second);
        auto event = state.record(step.outcome, t0 + std::chrono::seconds{second++});
        CHECK(texts(check_log_lines(bs, event, step.after)) == step.lines);
    }
}

TEST_CASE("without log-health-checks only transitions log, with their reason", "[health]") {
    CheckState state(CheckParams{}, t0);
    const LogOptions quiet{false};
    const ServerCounts one_left{1, 0, 0, 0, 0};

    auto first = state.record(refused, t0 + 1s);
    REQUIRE(first.transition == Transition::went_down);
    auto down = check_log_lines(bs, first, one_left, quiet);
    REQUIRE(down.size() == 1);
    CHECK(down[0].level == LogLevel::alert);
    CHECK(down[0].text ==
          "Server B/S is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", "
          "check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 "
          "requeued, 0 remaining in queue.");

    auto rising = state.record(passed, t0 + 2s);
    CHECK(rising.report);
    CHECK(check_log_lines(bs, rising, one_left, quiet).empty());

    auto back = state.record(passed, t0 + 3s);
    auto up = check_log_lines(bs, back, ServerCounts{2, 0, 0, 0, 0}, quiet);
    REQUIRE(up.size() == 1);
    CHECK(up[0].level == LogLevel::notice);
    CHECK(up[0].text ==
          "Server B/S is UP, reason: Layer4 check passed, check duration: 0ms. 2 active and 0 "
          "backup servers online. 0 sessions requeued, 0 total in queue.");
}

TEST_CASE("server lines match lines HAProxy printed in the field", "[health]") {
    // Copied from HAProxy 2.x logs quoted in public bug reports and runbooks.
    SECTION("timeout, no info, sessions still open") {
        CheckOutcome timeout{CheckStatus::l4tout, 2002ms, "", 0};
        CHECK(server_down_line(ServerLogInfo{"redis_backend", "redis"}, &timeout,
                               ServerCounts{0, 0, 10, 0, 0}) ==
              "Server redis_backend/redis is DOWN, reason: Layer4 timeout, check duration: "
              "2002ms. 0 active and 0 backup servers left. 10 sessions active, 0 requeued, 0 "
              "remaining in queue.");
    }
    SECTION("connection refused") {
        CheckOutcome con{CheckStatus::l4con, 1ms, "Connection refused", 0};
        CHECK(server_down_line(ServerLogInfo{"mysqlro-back", "mysql4"}, &con, ServerCounts{}) ==
              "Server mysqlro-back/mysql4 is DOWN, reason: Layer4 connection problem, info: "
              "\"Connection refused\", check duration: 1ms. 0 active and 0 backup servers left. "
              "0 sessions active, 0 requeued, 0 remaining in queue.");
    }
    SECTION("layer 7 statuses print their code") {
        CheckOutcome l7{CheckStatus::l7ok, 10ms, "", 200};
        CHECK(server_up_line(ServerLogInfo{"rest-ra-backend", "local_5008"}, &l7,
                             ServerCounts{8, 0, 0, 0, 0}) ==
              "Server rest-ra-backend/local_5008 is UP, reason: Layer7 check passed, code: 200, "
              "check duration: 10ms. 8 active and 0 backup servers online. 0 sessions requeued, "
              "0 total in queue.");
    }
}

TEST_CASE("backup servers are named as such, and a backend left on backups says so", "[health]") {
    const ServerLogInfo backup{"B", "S2", true};
    CheckEvent event;
    event.outcome = refused;
    event.report = true;
    event.transition = Transition::went_down;
    event.health = 0;
    event.rise = 2;
    event.fall = 3;
    CHECK(texts(check_log_lines(backup, event, ServerCounts{0, 1, 3, 2, 1})) ==
          std::vector<std::string>{
              "Health check for backup server B/S2 failed, reason: Layer4 connection problem, "
              "info: \"Connection refused\", check duration: 0ms, status: 0/2 DOWN.",
              "Backup Server B/S2 is DOWN. 0 active and 1 backup servers left. Running on "
              "backup. 3 sessions active, 2 requeued, 1 remaining in queue."});
    CHECK(server_up_line(ServerLogInfo{"B", "S"}, nullptr, ServerCounts{0, 2, 0, 4, 5}) ==
          "Server B/S is UP. 0 active and 2 backup servers online. Running on backup. 4 "
          "sessions requeued, 5 total in queue.");
}

TEST_CASE("a server with weight 0 shows DRAIN in its check lines", "[health]") {
    CheckState state(CheckParams{}, t0);
    auto event = state.record(passed, t0 + 1s);
    ServerLogInfo drained{"B", "S"};
    drained.zero_weight = true;
    CHECK(check_line(drained, event) ==
          "Health check for server B/S succeeded, reason: Layer4 check passed, check duration: "
          "0ms, status: 3/3 DRAIN.");
}

TEST_CASE("a draining server going DOWN is a notice, not an alert", "[health]") {
    CheckState state(CheckParams{}, t0);
    auto event = state.record(refused, t0 + 1s);
    ServerLogInfo draining{"B", "S"};
    draining.drain = true;
    auto lines = check_log_lines(draining, event, ServerCounts{});
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].level == LogLevel::notice);
    CHECK(lines[1].level == LogLevel::notice);
    CHECK(check_log_lines(bs, event, ServerCounts{})[1].level == LogLevel::alert);
}

TEST_CASE("the info is quoted the way HAProxy encodes it", "[health]") {
    CheckEvent event;
    event.outcome = CheckOutcome{CheckStatus::l6rsp, 5ms, "a\"b<c>\n\x01\xc3", 0};
    event.health = 3;
    event.rise = 2;
    event.fall = 3;
    CHECK(check_line(bs, event) ==
          "Health check for server B/S failed, reason: Layer6 invalid response, info: "
          "\"a<22>b<3C>c<3E><0A><01><C3>\", check duration: 5ms, status: 2/3 UP.");
}

TEST_CASE("maintenance and drain lines", "[health]") {
    CheckState state(CheckParams{}, t0);
    state.record(passed, t0 + 1s);
    const ServerCounts after{1, 0, 2, 0, 0};

    auto entry = state.enter_maintenance(t0 + 2s);
    auto line = maintenance_line(bs, entry, after);
    REQUIRE(line.has_value());
    CHECK(line->level == LogLevel::alert);
    CHECK(line->text ==
          "Server B/S is going DOWN for maintenance. 1 active and 0 backup servers left. 2 "
          "sessions active, 0 requeued, 0 remaining in queue.");
    CHECK_FALSE(maintenance_line(bs, state.enter_maintenance(t0 + 3s), after).has_value());

    CheckState down(CheckParams{}, t0);
    down.record(refused, t0 + 1s);
    auto while_down = maintenance_line(bs, down.enter_maintenance(t0 + 2s), after);
    REQUIRE(while_down.has_value());
    CHECK(while_down->level == LogLevel::notice);
    CHECK(while_down->text == "Server B/S was DOWN and now enters maintenance.");

    REQUIRE(state.leave_maintenance(t0 + 4s));
    CHECK(leave_maintenance_line(bs, state.up()) ==
          "Server B/S is UP/READY (leaving forced maintenance).");
    ServerLogInfo draining = bs;
    draining.drain = true;
    CHECK(leave_maintenance_line(draining, true) ==
          "Server B/S is UP/DRAIN (leaving forced maintenance).");

    CHECK(enter_drain_line(bs, true, ServerCounts{0, 0, 0, 0, 0}) ==
          "Server B/S enters drain state. 0 active and 0 backup servers online. 0 sessions "
          "requeued, 0 total in queue.");
    CHECK(enter_drain_line(bs, false, ServerCounts{1, 0, 0, 0, 0}) ==
          "Server B/S enters drain state. 1 active and 0 backup servers left. 0 sessions "
          "active, 0 requeued, 0 remaining in queue.");
    CHECK(leave_drain_line(bs, true) == "Server B/S is UP (leaving forced drain).");
    CHECK(leave_drain_line(bs, false) == "Server B/S is DOWN (leaving forced drain).");
}

TEST_CASE("show stat status follows the health counter", "[health]") {
    CheckState state(CheckParams{}, t0);
    // A fresh server has health rise: one failure from DOWN, shown as such.
    CHECK(show_stat_status(state, false) == "UP 1/3");
    state.record(passed, t0 + 1s);
    CHECK(show_stat_status(state, false) == "UP");
    CHECK(show_stat_status(state, true) == "DRAIN");
    state.record(refused, t0 + 2s);
    CHECK(show_stat_status(state, false) == "UP 2/3");
    CHECK(show_stat_status(state, true) == "DRAIN 2/3");
    state.record(refused, t0 + 3s);
    state.record(refused, t0 + 4s);
    CHECK(show_stat_status(state, false) == "DOWN");
    CHECK(show_stat_status(state, true) == "DOWN");
    state.record(passed, t0 + 5s);
    CHECK(show_stat_status(state, false) == "DOWN 1/2");
    state.enter_maintenance(t0 + 6s);
    CHECK(show_stat_status(state, false) == "MAINT");
}
