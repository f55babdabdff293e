// Fuzzes the decoder of hand-off mode's control messages, the bytes a worker or a dispatcher
// reads from its peer's datagrams: arbitrary bytes must never crash it or be misread, and a
// message it accepts must be the one its datagram encodes (encoding it again gives the same
// message back, in a datagram of the same size that fits the receiver's buffer).

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "common/handoff/message.hpp"
#include "fuzz_assert.hpp"

namespace handoff = tierlb::handoff;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> datagram(data, size);
    const auto decoded = handoff::decode(datagram);
    if (!decoded) {
        FUZZ_ASSERT(!decoded.error().empty());
        return 0;
    }
    // Every message has a fixed size: nothing is accepted with bytes missing or left over.
    const std::vector<std::uint8_t> again = handoff::encode(*decoded);
    FUZZ_ASSERT(again.size() == size);
    FUZZ_ASSERT(again.size() <= handoff::max_message);
    const auto back = handoff::decode(again);
    FUZZ_ASSERT(back.has_value() && *back == *decoded);
    // The head (version, type, length) is what was received; only the bytes a message does
    // not use (an absent address, the padding of an IPv4 one) may differ in the body.
    FUZZ_ASSERT(std::equal(again.begin(), again.begin() + 4, datagram.begin()));
    return 0;
}
