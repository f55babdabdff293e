#include "common/health/check_state.hpp"

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
using tierlb::health::MaintenanceEntry;
using tierlb::health::Transition;

namespace {

const Clock::time_point t0{};

Clock::time_point at(std::chrono::seconds s) {
    return t0 + s;
}

// Three distinct intervals, so that every expectation names which one applies.
CheckParams params_2_3() {
    CheckParams p;
    p.rise = 2;
    p.fall = 3;
    p.inter = 2000ms;
    p.fastinter = 500ms;
    p.downinter = 7000ms;
    return p;
}

CheckOutcome outcome(CheckStatus status, std::string info = {}) {
    return CheckOutcome{status, 3ms, std::move(info), 0};
}

// One check of a sequence and what must hold right after it.
struct Step {
    CheckStatus status;
    bool up;
    unsigned health;
    std::chrono::milliseconds interval;
    bool report;
    Transition transition;
    std::uint64_t chkfail;
    std::uint64_t chkdown;
};

constexpr auto ok = CheckStatus::l4ok;
constexpr auto refused = CheckStatus::l4con;
constexpr auto timeout = CheckStatus::l4tout;
constexpr auto none = Transition::none;
constexpr auto down = Transition::went_down;
constexpr auto up = Transition::went_up;

void run(CheckState& state, const std::vector<Step>& steps) {
    int second = 1;
    for (const auto& step : steps) {
        CAPTURE(second);
        CheckEvent event = state.record(outcome(step.status), at(std::chrono::seconds{second++}));
        CHECK(state.up() == step.up);
        CHECK(state.health() == step.health);
        CHECK(event.health == step.health);
        CHECK(state.next_interval() == step.interval);
        CHECK(event.report == step.report);
        CHECK(event.transition == step.transition);
        CHECK(state.failed_checks() == step.chkfail);
        CHECK(state.down_transitions() == step.chkdown);
        CHECK(state.last_status() == step.status);
    }
}

}  // namespace

TEST_CASE("a new server is UP with health rise and checked at fastinter", "[health]") {
    CheckState state(params_2_3(), t0);
    CHECK(state.up());
    CHECK_FALSE(state.in_maintenance());
    CHECK(state.health() == 2);
    CHECK(state.max_health() == 4);
    // health rise < rise+fall-1: HAProxy's srv_getinter picks fastinter until the first pass.
    CHECK(state.next_interval() == 500ms);
    CHECK(state.last_status() == CheckStatus::ini);
    CHECK_FALSE(state.last_duration().has_value());
    CHECK(state.failed_checks() == 0);
    CHECK(state.down_transitions() == 0);
    CHECK(state.last_change() == t0);
    CHECK(state.downtime(at(100s)) == 0s);
}

TEST_CASE("sequences of outcomes with rise 2 fall 3", "[health]") {
    CheckState state(params_2_3(), t0);

    SECTION("a first failure marks the server DOWN at once") {
        run(state, {
                       {refused, false, 0, 7000ms, true, down, 1, 1},
                       // Fully DOWN: the same failure again changes nothing, is not counted.
                       {refused, false, 0, 7000ms, false, none, 1, 1},
                       // A different failure status is reported, still not counted.
                       {timeout, false, 0, 7000ms, true, none, 1, 1},
                       {ok, false, 1, 500ms, true, none, 1, 1},
                       {ok, true, 4, 2000ms, true, up, 1, 1},
                       {ok, true, 4, 2000ms, false, none, 1, 1},
                   });
    }

    SECTION("a first success makes the server fully UP without a transition") {
        run(state, {
                       {ok, true, 4, 2000ms, true, none, 0, 0},
                       {ok, true, 4, 2000ms, false, none, 0, 0},
                   });
    }

    SECTION("fully UP, the third consecutive failure marks it DOWN") {
        run(state, {
                       {ok, true, 4, 2000ms, true, none, 0, 0},
                       {refused, true, 3, 500ms, true, none, 1, 0},
                       {refused, true, 2, 500ms, true, none, 2, 0},
                       {refused, false, 0, 7000ms, true, down, 3, 1},
                       {refused, false, 0, 7000ms, false, none, 3, 1},
                   });
    }

    SECTION("alternating results while UP never take it DOWN") {
        run(state, {
                       {ok, true, 4, 2000ms, true, none, 0, 0},
                       {refused, true, 3, 500ms, true, none, 1, 0},
                       {ok, true, 4, 2000ms, true, none, 1, 0},
                       {refused, true, 3, 500ms, true, none, 2, 0},
                       {ok, true, 4, 2000ms, true, none, 2, 0},
                       {refused, true, 3, 500ms, true, none, 3, 0},
                   });
    }

    SECTION("alternating results while DOWN never bring it UP; each failure is counted") {
        run(state, {
                       {refused, false, 0, 7000ms, true, down, 1, 1},
                       {ok, false, 1, 500ms, true, none, 1, 1},
                       {refused, false, 0, 7000ms, true, none, 2, 1},
                       {ok, false, 1, 500ms, true, none, 2, 1},
                       {refused, false, 0, 7000ms, true, none, 3, 1},
                   });
    }

    SECTION("a failure while UP but not fully UP only lowers the counter") {
        run(state, {
                       {ok, true, 4, 2000ms, true, none, 0, 0},
                       {refused, true, 3, 500ms, true, none, 1, 0},
                       {refused, true, 2, 500ms, true, none, 2, 0},
                       {ok, true, 4, 2000ms, true, none, 2, 0},
                   });
    }
}

TEST_CASE("rise and fall of 1 flip the state on every change of result", "[health]") {
    CheckParams p = params_2_3();
    p.rise = 1;
    p.fall = 1;
    CheckState state(p, t0);
    CHECK(state.health() == 1);
    CHECK(state.next_interval() == 2000ms);  // health 1 is already rise+fall-1
    run(state, {
                   {ok, true, 1, 2000ms, true, none, 0, 0},
                   {refused, false, 0, 7000ms, true, down, 1, 1},
                   {ok, true, 1, 2000ms, true, up, 1, 1},
               });
}

TEST_CASE("rise 3 fall 2 counts the way up and the way down separately", "[health]") {
    CheckParams p = params_2_3();
    p.rise = 3;
    p.fall = 2;
    CheckState state(p, t0);
    CHECK(state.health() == 3);
    run(state, {
                   {refused, false, 0, 7000ms, true, down, 1, 1},
                   {ok, false, 1, 500ms, true, none, 1, 1},
                   {ok, false, 2, 500ms, true, none, 1, 1},
                   {ok, true, 4, 2000ms, true, up, 1, 1},
                   {refused, true, 3, 500ms, true, none, 2, 1},
                   {refused, false, 0, 7000ms, true, down, 3, 2},
               });
}

TEST_CASE("fastinter and downinter default to inter", "[health]") {
    CheckParams p;
    p.inter = 3000ms;
    CheckState state(p, t0);
    CHECK(state.next_interval() == 3000ms);
    state.record(outcome(CheckStatus::l4con), at(1s));
    CHECK(state.health() == 0);
    CHECK(state.next_interval() == 3000ms);
    state.record(outcome(CheckStatus::l4ok), at(2s));
    CHECK(state.health() == 1);
    CHECK(state.next_interval() == 3000ms);
}

TEST_CASE("downtime adds up every DOWN period, the current one up to now", "[health]") {
    CheckState state(params_2_3(), t0);
    CHECK(state.downtime(at(9s)) == 0s);

    // First DOWN period: 10s .. 30s (a fresh server has health rise: one failure is enough).
    CHECK(state.record(outcome(refused), at(10s)).transition == Transition::went_down);
    CHECK(state.last_change() == at(10s));
    CHECK(state.downtime(at(15s)) == 5s);
    state.record(outcome(ok), at(25s));
    CHECK(state.downtime(at(28s)) == 18s);
    CHECK(state.record(outcome(ok), at(30s)).transition == Transition::went_up);
    CHECK(state.last_change() == at(30s));
    CHECK(state.downtime(at(90s)) == 20s);

    // Second DOWN period from 104s, still open.
    state.record(outcome(refused), at(100s));
    state.record(outcome(refused), at(102s));
    CHECK(state.last_change() == at(30s));
    CHECK(state.record(outcome(refused), at(104s)).transition == Transition::went_down);
    CHECK(state.last_change() == at(104s));
    CHECK(state.downtime(at(110s)) == 26s);
    state.record(outcome(ok), at(120s));
    CHECK(state.downtime(at(125s)) == 41s);
    state.record(outcome(ok), at(130s));
    CHECK(state.downtime(at(200s)) == 46s);
    CHECK(state.down_transitions() == 2);

    // A clock reading older than the last change adds nothing rather than going negative.
    state.record(outcome(refused), at(300s));
    state.record(outcome(refused), at(301s));
    state.record(outcome(refused), at(302s));
    CHECK(state.downtime(at(250s)) == 46s);
}

TEST_CASE("the last check's status, duration and info are kept for show stat", "[health]") {
    CheckState state(params_2_3(), t0);
    state.record(CheckOutcome{CheckStatus::l4con, 12ms, "Connection refused", 0}, at(1s));
    CHECK(state.last_status() == CheckStatus::l4con);
    REQUIRE(state.last_duration().has_value());
    CHECK(*state.last_duration() == 12ms);
    CHECK(state.last_info() == "Connection refused");

    state.record(CheckOutcome{CheckStatus::l4tout, 2001ms, "", 0}, at(5s));
    CHECK(state.last_status() == CheckStatus::l4tout);
    CHECK(*state.last_duration() == 2001ms);
    CHECK(state.last_info().empty());
}

TEST_CASE("an info longer than HAProxy's buffer is cut to 127 bytes", "[health]") {
    CheckState state(params_2_3(), t0);
    auto event = state.record(outcome(refused, std::string(200, 'x')), at(1s));
    CHECK(event.outcome.info == std::string(127, 'x'));
    CHECK(state.last_info() == std::string(127, 'x'));
}

TEST_CASE("maintenance entered while UP counts as a DOWN transition", "[health]") {
    CheckState state(params_2_3(), t0);
    state.record(outcome(ok), at(1s));
    REQUIRE(state.health() == 4);

    CHECK(state.enter_maintenance(at(10s)) == MaintenanceEntry::was_up);
    CHECK(state.in_maintenance());
    CHECK_FALSE(state.up());
    CHECK(state.health() == 0);
    CHECK(state.down_transitions() == 1);
    CHECK(state.last_change() == at(10s));
    CHECK(state.enter_maintenance(at(11s)) == MaintenanceEntry::none);
    CHECK(state.down_transitions() == 1);

    // A check that was already running when maint was set finishes: it is dropped.
    auto late = state.record(outcome(ok), at(12s));
    CHECK_FALSE(late.report);
    CHECK(late.transition == Transition::none);
    CHECK(state.health() == 0);
    CHECK(state.last_status() == CheckStatus::l4ok);  // from the check at 1s
    CHECK(*state.last_duration() == 3ms);

    CHECK(state.downtime(at(40s)) == 30s);
    CHECK(state.leave_maintenance(at(40s)));
    CHECK_FALSE(state.leave_maintenance(at(41s)));
    CHECK_FALSE(state.in_maintenance());
    CHECK(state.up());
    // HAProxy: "start OK but check immediately": health rise, so one failure takes it DOWN.
    CHECK(state.health() == 2);
    CHECK(state.next_interval() == 500ms);
    CHECK(state.last_change() == at(40s));
    CHECK(state.downtime(at(50s)) == 30s);
    CHECK(state.record(outcome(refused), at(50s)).transition == Transition::went_down);
    CHECK(state.down_transitions() == 2);
}

TEST_CASE("maintenance entered while DOWN keeps the DOWN period going", "[health]") {
    CheckState state(params_2_3(), t0);
    state.record(outcome(refused), at(10s));
    REQUIRE_FALSE(state.up());

    CHECK(state.enter_maintenance(at(20s)) == MaintenanceEntry::was_down);
    CHECK(state.down_transitions() == 1);
    CHECK(state.last_change() == at(10s));
    CHECK(state.next_interval() == 7000ms);
    CHECK(state.leave_maintenance(at(30s)));
    CHECK(state.up());
    CHECK(state.downtime(at(60s)) == 20s);
}

TEST_CASE("a disabled server starts in maintenance, DOWN, health 0", "[health]") {
    CheckState state(params_2_3(), t0, true);
    CHECK(state.in_maintenance());
    CHECK_FALSE(state.up());
    CHECK(state.health() == 0);
    CHECK(state.down_transitions() == 0);
    CHECK(state.downtime(at(5s)) == 5s);
    CHECK(state.enter_maintenance(at(6s)) == MaintenanceEntry::none);
    CHECK(state.leave_maintenance(at(8s)));
    CHECK(state.up());
    CHECK(state.health() == 2);
    CHECK(state.downtime(at(20s)) == 8s);
}

TEST_CASE("first checks are spread evenly over the interval", "[health]") {
    struct Case {
        long long interval;
        std::size_t position;
        std::size_t count;
        long long delay;
    };
    auto c = GENERATE(values<Case>({
        {2000, 0, 4, 0},
        {2000, 1, 4, 500},
        {2000, 3, 4, 1500},
        {2000, 1, 3, 666},
        {2000, 0, 1, 0},
        {2000, 0, 0, 0},
    }));
    CAPTURE(c.interval, c.position, c.count);
    CHECK(tierlb::health::first_check_delay(std::chrono::milliseconds{c.interval}, c.position,
                                            c.count) == std::chrono::milliseconds{c.delay});
}

TEST_CASE("spread-checks moves the interval by up to the percentage", "[health]") {
    struct Case {
        long long interval;
        unsigned percent;
        double random01;
        long long result;
    };
    auto c = GENERATE(values<Case>({
        {2000, 10, 0.0, 2200},
        {2000, 10, 1.0, 1800},
        {2000, 10, 0.5, 2000},
        {2000, 10, 0.25, 2100},
        {2000, 0, 0.3, 2000},
        {2000, 50, 2.0, 1000},  // out-of-range draws are clamped
    }));
    CAPTURE(c.interval, c.percent, c.random01);
    CHECK(tierlb::health::spread_interval(std::chrono::milliseconds{c.interval}, c.percent,
                                          c.random01) == std::chrono::milliseconds{c.result});
}

TEST_CASE("force_down: DOWN at once, then rise checks bring it back", "[health]") {
    using namespace tierlb::health;
    const auto t0 = Clock::now();
    CheckParams params;
    params.rise = 2;
    params.fall = 3;
    CheckState state(params, t0);
    state.record({CheckStatus::l4ok, std::chrono::milliseconds(1), {}}, t0);
    REQUIRE(state.up());
    REQUIRE(state.health() == 4);
    auto event = state.force_down(
        {CheckStatus::l4con, std::chrono::milliseconds(0), "process 2 died (killed by signal 9)"},
        t0 + std::chrono::seconds(1));
    CHECK(event.transition == Transition::went_down);
    CHECK(event.health == 0);
    CHECK_FALSE(state.up());
    CHECK(state.down_transitions() == 1);
    CHECK(state.failed_checks() == 1);
    CHECK(state.last_info() == "process 2 died (killed by signal 9)");
    // Already down: forcing again changes nothing but the record.
    CHECK(state.force_down({CheckStatus::l4con, {}, "again"}, t0).transition == Transition::none);
    state.record({CheckStatus::l4ok, std::chrono::milliseconds(1), {}},
                 t0 + std::chrono::seconds(2));
    CHECK_FALSE(state.up());
    auto back = state.record({CheckStatus::l4ok, std::chrono::milliseconds(1), {}},
                             t0 + std::chrono::seconds(3));
    CHECK(back.transition == Transition::went_up);
    CHECK(state.up());
}

TEST_CASE("a check that could not run here (no descriptor) leaves the server as it was",
          "[health]") {
    CheckState s(params_2_3(), t0);
    s.record(outcome(CheckStatus::l4ok), at(1s));
    REQUIRE(s.health() == 4);
    CheckOutcome local = outcome(CheckStatus::sockerr, "Too many open files");
    local.local_error = true;
    // More than fall of them in a row: still UP, fully, with its last status and no chkfail.
    for (int i = 0; i < 5; ++i) {
        const CheckEvent e = s.record(local, at(std::chrono::seconds(2 + i)));
        CHECK(e.transition == Transition::none);
        CHECK_FALSE(e.report);
    }
    CHECK(s.up());
    CHECK(s.health() == 4);
    CHECK(s.failed_checks() == 0);
    CHECK(s.last_status() == CheckStatus::l4ok);
    CHECK(s.next_interval() == 2000ms);
    // The same outcome without the flag is a failure, as before.
    local.local_error = false;
    CHECK(s.record(local, at(10s)).report);
    CHECK(s.health() == 3);
}
