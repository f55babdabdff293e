// When a process corrects its accept-balance count (common/nohop/drift.hpp): only a difference
// seen at two checks in a row, in one direction, by what persisted.

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "common/nohop/drift.hpp"

using tierlb::nohop::DriftCorrector;

namespace {

struct Check {
    std::uint32_t count;
    std::uint32_t expected;
    std::int64_t correction;
};

}  // namespace

TEST_CASE("nohop drift: corrections", "[nohop]") {
    struct Row {
        const char* what;
        std::vector<Check> checks;
    };
    const auto row = GENERATE(
        Row{"in step: nothing", {{5, 5, 0}, {5, 5, 0}, {9, 9, 0}}},
        Row{"a SYN counted, its handshake not done yet: seen once, left", {{6, 5, 0}, {6, 6, 0}}},
        Row{"three abandoned SYNs: seen twice, taken off", {{13, 10, 0}, {13, 10, -3}}},
        Row{"what persisted only: 5 then 2 over", {{15, 10, 0}, {12, 10, -2}, {10, 10, 0}}},
        Row{"under: added back", {{8, 10, 0}, {7, 10, 2}}},
        Row{"directions that change are no drift", {{12, 10, 0}, {8, 10, 0}, {12, 10, 0}}},
        Row{"after a correction, twice again",
            {{14, 10, 0}, {14, 10, -4}, {11, 10, 0}, {11, 10, -1}}},
        Row{"counts near zero", {{3, 0, 0}, {3, 0, -3}, {0, 0, 0}}});
    INFO(row.what);
    DriftCorrector drift;
    for (const Check& c : row.checks) {
        CHECK(drift.check(c.count, c.expected) == c.correction);
    }
}
