// The idle trim: the heap is trimmed once per quiet spell after connections came or went,
// never while they keep coming, never when nothing happened.

#include "common/net/idle_trim.hpp"

#include <catch2/catch.hpp>

using namespace tierlb::net;
using namespace std::chrono_literals;

namespace {

void run_for(asio::io_context& io, std::chrono::milliseconds d) {
    io.run_for(d);
    io.restart();
}

}  // namespace

TEST_CASE("idle trim: once after activity and a quiet period, never without activity",
          "[net][trim]") {
    asio::io_context io;
    ProcessState state;
    IdleTrim trim(io.get_executor(), state, 20ms);
    trim.start();

    run_for(io, 150ms);
    CHECK(trim.trims() == 0);  // nothing came or went

    // Connections keep arriving: each period sees activity, so no trim yet.
    for (int i = 0; i < 5; ++i) {
        state.total_connections += 1;
        run_for(io, 21ms);
    }
    // Then quiet: one trim, and only one however long it stays quiet.
    const auto deadline = Clock::now() + 2s;
    while (trim.trims() == 0 && Clock::now() < deadline) {
        run_for(io, 10ms);
    }
    REQUIRE(trim.trims() == 1);
    run_for(io, 150ms);
    CHECK(trim.trims() == 1);

    // A change of the current count alone (a close) is activity too.
    state.connections.enter();
    const auto second = Clock::now() + 2s;
    while (trim.trims() == 1 && Clock::now() < second) {
        run_for(io, 10ms);
    }
    CHECK(trim.trims() == 2);
    trim.stop();
}
