// Fuzzes the tls-ticket-keys file parser (worker/ticket_keys.cpp, HAProxy's format: base64
// keys of 48 or 80 bytes, one per line, '#' comments), the text TicketKeys::read_file and
// TicketKeys::decode (the master's copy to each process) read. Arbitrary text must be
// refused with a reason or give exactly the three keys in use, and:
//   - the keys are all of one size (AES-128 or AES-256), as the file's were;
//   - encoding them again gives three lines that decode to the same three keys;
//   - appending one more key rotates: the first key in use drops out, the new one is last
//     (HAProxy's rotation by appending a line and reloading).

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_assert.hpp"
#include "worker/ticket_keys.hpp"

using tierlb::worker::TicketKey;
using tierlb::worker::TicketKeys;

namespace {

bool same(const TicketKey& a, const TicketKey& b) {
    const std::size_t part = a.aes256 ? 32 : 16;
    return a.aes256 == b.aes256 && a.name == b.name &&
           std::equal(a.aes.begin(), a.aes.begin() + static_cast<long>(part), b.aes.begin()) &&
           std::equal(a.hmac.begin(), a.hmac.begin() + static_cast<long>(part), b.hmac.begin());
}

bool same(const std::vector<TicketKey>& a, const std::vector<TicketKey>& b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!same(a[i], b[i])) {
            return false;
        }
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto keys = TicketKeys::decode(text);
    if (!keys) {
        FUZZ_ASSERT(!keys.error().empty());
        return 0;
    }
    FUZZ_ASSERT(keys->size() == TicketKeys::in_use);
    for (const auto& key : *keys) {
        FUZZ_ASSERT(key.aes256 == keys->front().aes256);
    }

    const std::string encoded = TicketKeys::encode(*keys);
    FUZZ_ASSERT(std::count(encoded.begin(), encoded.end(), '\n') == 3);
    const auto again = TicketKeys::decode(encoded);
    FUZZ_ASSERT(again.has_value() && same(*again, *keys));

    // A fourth key of the same size, derived from the first so that runs are reproducible.
    TicketKey next = keys->front();
    for (auto& byte : next.name) {
        byte = static_cast<std::uint8_t>(byte ^ 0x5a);
    }
    const auto rotated = TicketKeys::decode(text + "\n" + TicketKeys::encode({next}));
    FUZZ_ASSERT(rotated.has_value() && rotated->size() == TicketKeys::in_use);
    FUZZ_ASSERT(same((*rotated)[0], (*keys)[1]) && same((*rotated)[1], (*keys)[2]));
    FUZZ_ASSERT(same((*rotated)[2], next));
    return 0;
}
