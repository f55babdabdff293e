// The idle wheel: entries called back at (or just after) their deadlines, re-scheduled ones
// moved, cancelled ones never called.

#include "common/net/idle_wheel.hpp"

#include <catch2/catch.hpp>
#include <vector>

using namespace tierlb::net;

namespace {

struct Probe : IdleEntry {
    Probe() : IdleEntry(&Probe::tick) {}
    static void tick(IdleEntry* e, IdleWheel&, Clock::time_point now) {
        auto* p = static_cast<Probe*>(e);
        p->called_at.push_back(now);
    }
    std::vector<Clock::time_point> called_at;
};

void run_for(asio::io_context& io, std::chrono::milliseconds d) {
    io.run_for(d);
    io.restart();
}

}  // namespace

TEST_CASE("idle wheel: deadlines fire once, not before, cancelled ones never", "[net][wheel]") {
    asio::io_context io;
    IdleWheel& wheel = IdleWheel::of(io.get_executor());
    Probe soon, later, cancelled;
    const auto start = Clock::now();
    wheel.schedule(soon, start + std::chrono::milliseconds(150));
    wheel.schedule(later, start + std::chrono::milliseconds(450));
    wheel.schedule(cancelled, start + std::chrono::milliseconds(150));
    wheel.cancel(cancelled);
    CHECK(wheel.size() == 2);
    run_for(io, std::chrono::milliseconds(320));
    REQUIRE(soon.called_at.size() == 1);
    CHECK(soon.called_at[0] >= start + std::chrono::milliseconds(150));
    CHECK(later.called_at.empty());
    run_for(io, std::chrono::milliseconds(400));
    REQUIRE(later.called_at.size() == 1);
    CHECK(later.called_at[0] >= start + std::chrono::milliseconds(450));
    CHECK(cancelled.called_at.empty());
    CHECK(wheel.size() == 0);
}

TEST_CASE("idle wheel: a deadline beyond one turn of the wheel waits its turn", "[net][wheel]") {
    asio::io_context io;
    IdleWheel& wheel = IdleWheel::of(io.get_executor());
    Probe far;
    // One turn is 51.2 s; a deadline 60 s away shares a slot with one 8.8 s away. The wheel
    // calls it then, and the owner (here: the test) finds the deadline not reached.
    const auto start = Clock::now();
    wheel.schedule(far, start + std::chrono::seconds(60));
    run_for(io, std::chrono::milliseconds(300));
    CHECK(far.called_at.empty());
    wheel.cancel(far);
}
