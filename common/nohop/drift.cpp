#include "common/nohop/drift.hpp"

#include <algorithm>
#include <cstdlib>

namespace tierlb::nohop {

std::int64_t DriftCorrector::check(std::uint32_t count, std::uint32_t expected) {
    const std::int64_t difference = std::int64_t{expected} - std::int64_t{count};
    const bool persisted = (difference > 0 && previous_ > 0) || (difference < 0 && previous_ < 0);
    if (!persisted) {
        previous_ = difference;
        return 0;
    }
    const std::int64_t size = std::min(std::llabs(difference), std::llabs(previous_));
    // Once corrected, a difference must be seen twice again before the next correction.
    previous_ = 0;
    return difference > 0 ? size : -size;
}

}  // namespace tierlb::nohop
