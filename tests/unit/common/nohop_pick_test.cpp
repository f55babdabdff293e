// The choice the eBPF program of accept-balance makes (common/nohop/slot_table.h), run here
// as plain C++: the same function the kernel runs. The model below places connections the way
// the program does (pick, then count) and closes them the way the processes do.

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

#include "common/nohop/slot_table.h"

namespace {

tierlb_nohop_table table_of(std::vector<std::uint32_t> counts) {
    tierlb_nohop_table t{};
    t.slots = static_cast<std::uint32_t>(counts.size());
    for (std::size_t i = 0; i < counts.size(); ++i) {
        t.slot[i].count = counts[i];
        t.slot[i].weight = 1;
        t.slot[i].up = 1;
    }
    return t;
}

int pick(const tierlb_nohop_table& t, std::uint32_t start = 0, std::uint64_t skip = 0) {
    std::uint32_t seen = 0;
    return tierlb_nohop_pick(&t, start, skip, &seen);
}

// What the program does with a connection: the pick, counted on the chosen slot.
int place(tierlb_nohop_table& t, std::uint32_t start) {
    std::uint32_t seen = 0;
    const int slot = tierlb_nohop_pick(&t, start, 0, &seen);
    if (slot >= 0) {
        REQUIRE(seen == t.slot[slot].count);
        ++t.slot[slot].count;
        ++t.slot[slot].selected;
    }
    return slot;
}

std::uint32_t spread(const tierlb_nohop_table& t) {
    std::uint32_t lo = t.slot[0].count;
    std::uint32_t hi = lo;
    for (std::uint32_t i = 1; i < t.slots; ++i) {
        lo = std::min(lo, t.slot[i].count);
        hi = std::max(hi, t.slot[i].count);
    }
    return hi - lo;
}

}  // namespace

TEST_CASE("nohop pick: the slot with the fewest connections", "[nohop]") {
    struct Row {
        std::vector<std::uint32_t> counts;
        int expected;
    };
    const auto row =
        GENERATE(Row{{3, 1, 2}, 1}, Row{{0, 5}, 0}, Row{{7, 7, 6, 7}, 2}, Row{{4, 4, 4, 0}, 3});
    auto t = table_of(row.counts);
    CHECK(pick(t) == row.expected);
}

TEST_CASE("nohop pick: equal counts go to the first slot met from the start", "[nohop]") {
    auto t = table_of({2, 2, 2});
    CHECK(pick(t, 0) == 0);
    CHECK(pick(t, 1) == 1);
    CHECK(pick(t, 2) == 2);
    CHECK(pick(t, 5) == 2);  // any start, modulo the slots
    t.slot[1].count = 3;
    CHECK(pick(t, 1) == 2);
}

TEST_CASE(
    "nohop pick: slots down, drained, in maintenance, of weight 0 or skipped are never "
    "chosen",
    "[nohop]") {
    auto t = table_of({5, 0, 5});
    SECTION("down") {
        t.slot[1].up = 0;
    }
    SECTION("drain") {
        t.slot[1].admin = TIERLB_NOHOP_DRAIN;
    }
    SECTION("maint") {
        t.slot[1].admin = TIERLB_NOHOP_MAINT;
    }
    SECTION("weight 0") {
        t.slot[1].weight = 0;
    }
    CHECK(pick(t, 1) == 2);
    CHECK(pick(t, 1, std::uint64_t{1} << 2) == 0);  // the socket of slot 2 went missing too
    CHECK(pick(t, 0, 0b101) == -1);
}

TEST_CASE("nohop pick: nothing to choose from", "[nohop]") {
    auto t = table_of({1, 1});
    SECTION("every slot down") {
        t.slot[0].up = 0;
        t.slot[1].up = 0;
    }
    SECTION("every slot drained") {
        t.slot[0].admin = TIERLB_NOHOP_DRAIN;
        t.slot[1].weight = 0;
    }
    SECTION("no slots") {
        t.slots = 0;
    }
    SECTION("more slots than the table has") {
        t.slots = TIERLB_NOHOP_MAX_SLOTS + 1;
    }
    CHECK(pick(t) == -1);
}

TEST_CASE("nohop pick: HAProxy's leastconn key with weights", "[nohop]") {
    CHECK(tierlb_nohop_key(0, 1) == 0);
    CHECK(tierlb_nohop_key(0, 256) == 0);
    CHECK(tierlb_nohop_key(1, 1) == 512);
    CHECK(tierlb_nohop_key(3, 2) == 512);
    // Weights 1 and 3: connections go 1:3 once both are loaded.
    auto t = table_of({0, 0});
    t.slot[1].weight = 3;
    for (std::uint32_t i = 0; i < 400; ++i) {
        place(t, i);
    }
    CHECK(t.slot[0].count == 100);
    CHECK(t.slot[1].count == 300);
}

TEST_CASE("nohop model: bursts, random closes and the gaps refilled one by one stay within one",
          "[nohop]") {
    const std::uint32_t slots = GENERATE(2u, 3u, 4u, 64u);
    std::mt19937 random(slots);
    std::vector<std::uint32_t> zeros(slots, 0);
    auto t = table_of(zeros);
    std::vector<int> open;  // the slot of each open connection
    for (int burst = 0; burst < 3; ++burst) {
        for (int i = 0; i < 30; ++i) {
            open.push_back(place(t, random()));
        }
        CHECK(spread(t) <= 1);
    }
    std::shuffle(open.begin(), open.end(), random);
    for (int i = 0; i < 40; ++i) {
        --t.slot[open.back()].count;  // the process takes it off as it ends
        open.pop_back();
    }
    // Each new connection goes to a slot with the fewest, until they are within one.
    while (spread(t) > 1) {
        std::uint32_t fewest = t.slot[0].count;
        for (std::uint32_t i = 1; i < slots; ++i) {
            fewest = std::min(fewest, t.slot[i].count);
        }
        const int slot = place(t, random());
        CHECK(t.slot[slot].count == fewest + 1);
        open.push_back(slot);
    }
    std::uint64_t selected = 0;
    for (std::uint32_t i = 0; i < slots; ++i) {
        selected += t.slot[i].selected;
    }
    CHECK(selected >= open.size());
}
