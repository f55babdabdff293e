// The throttle of repeatable warnings: one line per period, with the count of those unlogged.

#include "common/log/throttle.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using tierlb::log::Throttle;

TEST_CASE("throttle: the first of each period is logged with the count left unlogged",
          "[log][throttle]") {
    Throttle throttle(10s);
    const auto t0 = Throttle::Clock::time_point{} + 1h;
    CHECK(throttle.allow(t0) == std::optional<std::uint64_t>(0));
    for (int i = 1; i <= 5; ++i) {
        CHECK_FALSE(throttle.allow(t0 + i * 1s).has_value());
    }
    CHECK_FALSE(throttle.allow(t0 + 9999ms).has_value());
    CHECK(throttle.allow(t0 + 10s) == std::optional<std::uint64_t>(6));
    // A quiet spell: the next one is logged at once, with nothing left over.
    CHECK(throttle.allow(t0 + 1h) == std::optional<std::uint64_t>(0));
    CHECK_FALSE(throttle.allow(t0 + 1h + 1ms).has_value());
}
