// Fuzzes the PROXY protocol parser: arbitrary bytes must never crash it or break its contract,
// and a header it accepts must survive being encoded again (what a tierlb hop does when it
// passes the client's address on) and parsed back.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/proxy_protocol/encode.hpp"
#include "common/proxy_protocol/parse.hpp"
#include "fuzz_assert.hpp"

namespace pp = tierlb::proxy_protocol;

namespace {

pp::ParseResult parse_string(const std::string& s) {
    return pp::parse({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

void check_contract(std::span<const std::uint8_t> input, const pp::ParseResult& r) {
    const pp::ParseLimits limits;
    switch (r.status) {
        case pp::ParseStatus::complete:
            FUZZ_ASSERT(r.error == pp::Error::none);
            FUZZ_ASSERT(r.consumed > 0 && r.consumed <= input.size());
            FUZZ_ASSERT(r.header.version == 1 || r.header.version == 2);
            FUZZ_ASSERT(r.header.version != 1 || r.consumed <= pp::v1_max_length);
            FUZZ_ASSERT(r.header.version != 2 ||
                        (r.consumed >= pp::v2_fixed_length && r.consumed <= limits.max_v2_length));
            FUZZ_ASSERT(!r.header.local || (!r.header.source && !r.header.destination));
            break;
        case pp::ParseStatus::need_more:
            // Never more than a header's worth is buffered.
            FUZZ_ASSERT(r.error == pp::Error::none && r.consumed == 0);
            FUZZ_ASSERT(input.size() < limits.max_v2_length);
            break;
        case pp::ParseStatus::invalid:
            FUZZ_ASSERT(r.error != pp::Error::none && r.consumed == 0);
            FUZZ_ASSERT(pp::describe(r.error) != nullptr);
            break;
    }
}

bool inet(const std::optional<tierlb::SocketAddress>& a) {
    return a && a->is_inet();
}

// Encodes the header again as the next hop would and checks the receiver sees the same thing.
void check_round_trip(const pp::Header& h) {
    const tierlb::SocketAddress* source = h.source ? &*h.source : nullptr;
    const tierlb::SocketAddress* destination = h.destination ? &*h.destination : nullptr;
    const bool carries_addresses = !h.local && inet(h.source) && inet(h.destination);
    if (h.version == 1) {
        const pp::ParseResult again = parse_string(pp::encode_v1(source, destination));
        FUZZ_ASSERT(again.status == pp::ParseStatus::complete);
        FUZZ_ASSERT(again.header == h);
        return;
    }
    pp::V2Extras extras;
    extras.alpn = h.alpn;
    extras.authority = h.authority;
    extras.unique_id = h.unique_id;
    extras.netns = h.netns;
    extras.ssl = h.ssl;
    extras.other_tlvs = h.other_tlvs;
    extras.crc32c = h.crc32c;
    const pp::ParseResult again = parse_string(pp::encode_v2(source, destination, extras));
    FUZZ_ASSERT(again.status == pp::ParseStatus::complete);
    FUZZ_ASSERT(again.header.version == 2);
    if (!carries_addresses) {
        // LOCAL: the unix, UNSPEC and LOCAL cases, sent without addresses nor TLVs.
        pp::Header local;
        local.version = 2;
        local.local = true;
        FUZZ_ASSERT(again.header == local);
        return;
    }
    // Everything the parser keeps is sent again: addresses and TLVs (NOOP and unknown SSL
    // sub-TLVs are dropped on the way in, so they are in neither header).
    FUZZ_ASSERT(again.header == h);
    // The same client through a v1 hop.
    const pp::ParseResult v1 = parse_string(pp::encode_v1(source, destination));
    FUZZ_ASSERT(v1.status == pp::ParseStatus::complete);
    if (h.source->family() == h.destination->family()) {
        FUZZ_ASSERT(v1.header.source == h.source && v1.header.destination == h.destination);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> input(data, size);
    const pp::ParseResult r = pp::parse(input);
    check_contract(input, r);
    if (r.status != pp::ParseStatus::complete) {
        return 0;
    }
    // The header alone parses the same, and one byte less of it only needs more.
    const pp::ParseResult exact = pp::parse(input.first(r.consumed));
    FUZZ_ASSERT(exact.status == pp::ParseStatus::complete && exact.header == r.header);
    const pp::ParseResult shorter = pp::parse(input.first(r.consumed - 1));
    FUZZ_ASSERT(shorter.status == pp::ParseStatus::need_more);
    check_round_trip(r.header);
    return 0;
}
