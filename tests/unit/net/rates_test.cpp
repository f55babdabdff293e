#include "common/net/counters.hpp"

#include <catch2/catch.hpp>
#include <chrono>

using namespace std::chrono_literals;
using tierlb::net::EventRate;
using tierlb::net::SlidingAverage;

namespace {

// A point on the steady clock SECONDS (fractional) after its epoch.
EventRate::Clock::time_point at(double seconds) {
    return EventRate::Clock::time_point(
        std::chrono::duration_cast<EventRate::Clock::duration>(
            std::chrono::duration<double>(seconds)));
}

}  // namespace

TEST_CASE("event rate: the last second's events, the previous second's weighted", "[rates]") {
    EventRate rate;
    CHECK(rate.per_second(at(100.0)) == 0);
    for (int i = 0; i < 10; ++i) {
        rate.add(at(100.1));
    }
    CHECK(rate.per_second(at(100.5)) == 10);
    // A quarter into the next second, three quarters of the previous one still count.
    CHECK(rate.per_second(at(101.25)) == 7);
    // Events in the new second add to what is left of the old one.
    for (int i = 0; i < 4; ++i) {
        rate.add(at(101.5));
    }
    CHECK(rate.per_second(at(101.5)) == 9);  // 4 + 10 * 0.5
    CHECK(rate.per_second(at(102.5)) == 2);  // 4 * 0.5
    CHECK(rate.per_second(at(103.1)) == 0);
    CHECK(rate.max() == 10);
    // After a quiet second, the old count is not carried.
    rate.add(at(110.2));
    CHECK(rate.per_second(at(110.6)) == 1);
    CHECK(rate.max() == 10);
}

TEST_CASE("event rate: a late clock reading counts in the second already under way",
          "[rates]") {
    EventRate rate;
    rate.add(at(200.9));
    rate.add(at(201.1));
    rate.add(at(200.95));  // another thread's older reading
    CHECK(rate.per_second(at(201.2)) == 2);  // 2 in second 201 + 1 * 0.8 of 200
}

TEST_CASE("sliding average: all values while few, then about the last 1024", "[rates]") {
    SlidingAverage average;
    CHECK(average.average() == 0);
    average.add(10);
    average.add(20);
    average.add(30);
    CHECK(average.average() == 20);
    CHECK(average.max() == 30);
    for (int i = 0; i < 20000; ++i) {
        average.add(500);
    }
    // The early values have faded out of the window.
    CHECK(average.average() >= 499);
    CHECK(average.average() <= 501);
    CHECK(average.max() == 500);
}
