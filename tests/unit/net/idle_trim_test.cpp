// The idle trim: the heap is trimmed once per quiet spell after connections came or went,
// never while they keep coming, never when nothing happened.

#include "common/net/idle_trim.hpp"

#include <catch2/catch.hpp>

using namespace tierlb::net;
using namespace std::chrono_literals;

TEST_CASE("idle trim: once after activity and a quiet period, never without activity",
          "[net][trim]") {
    asio::io_context io;
    ProcessState state;
    IdleTrim trim(io.get_executor(), state);

    trim.tick();
    trim.tick();
    CHECK(trim.trims() == 0);  // nothing came or went

    // Connections keep arriving: every period sees activity, so no trim yet.
    for (int i = 0; i < 5; ++i) {
        state.total_connections += 1;
        trim.tick();
    }
    CHECK(trim.trims() == 0);
    // Then a quiet period: one trim, and only one however long it stays quiet.
    trim.tick();
    CHECK(trim.trims() == 1);
    trim.tick();
    trim.tick();
    CHECK(trim.trims() == 1);

    // A change of the current count alone (a close) is activity too.
    state.connections.enter();
    trim.tick();
    CHECK(trim.trims() == 1);
    trim.tick();
    CHECK(trim.trims() == 2);
}

TEST_CASE("idle trim: the timer ticks on its own", "[net][trim]") {
    asio::io_context io;
    ProcessState state;
    IdleTrim trim(io.get_executor(), state, 10ms);
    trim.start();
    state.total_connections += 1;
    const auto deadline = Clock::now() + 5s;
    while (trim.trims() == 0 && Clock::now() < deadline) {
        io.run_for(10ms);
        io.restart();
    }
    CHECK(trim.trims() == 1);
    trim.stop();
}
