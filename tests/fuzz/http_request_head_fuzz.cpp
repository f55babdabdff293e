// Fuzzes the HTTP request-head parser of the stats page: arbitrary bytes must never crash it
// or break its contract, and its verdict must not depend on how the bytes were split.

#include <cstdint>
#include <string_view>

#include "common/http/request_head.hpp"
#include "fuzz_assert.hpp"

namespace http = tierlb::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    // Small limits, so that the fuzzer reaches them.
    http::RequestLimits limits;
    limits.max_head = 512;
    limits.max_request_line = 128;
    limits.max_fields = 8;
    const http::ParseResult r = http::parse_request_head(input, limits);
    switch (r.status) {
        case http::ParseStatus::complete:
            FUZZ_ASSERT(r.error == http::Error::none);
            FUZZ_ASSERT(r.consumed > 0 && r.consumed <= input.size());
            FUZZ_ASSERT(r.consumed <= limits.max_head);
            FUZZ_ASSERT(r.head.fields.size() <= limits.max_fields);
            FUZZ_ASSERT(!r.head.method.empty() && !r.head.path.empty());
            FUZZ_ASSERT(r.head.minor_version == 0 || r.head.minor_version == 1);
            FUZZ_ASSERT(input[r.consumed - 1] == '\n');
            break;
        case http::ParseStatus::need_more:
            // Never more than a head's worth is buffered.
            FUZZ_ASSERT(input.size() < limits.max_head);
            break;
        case http::ParseStatus::invalid:
            FUZZ_ASSERT(r.error != http::Error::none);
            FUZZ_ASSERT(http::status_code(r.error) >= 400);
            break;
    }
    // Every prefix needs more, or fails for the same reason (or completes, when the head
    // ended earlier than the whole input).
    for (std::size_t n = 0; n < input.size(); n += 1 + n / 8) {
        const http::ParseResult part = http::parse_request_head(input.substr(0, n), limits);
        if (part.status == http::ParseStatus::invalid) {
            FUZZ_ASSERT(r.status == http::ParseStatus::invalid && part.error == r.error);
        } else if (part.status == http::ParseStatus::complete) {
            FUZZ_ASSERT(r.status == http::ParseStatus::complete && part.consumed == r.consumed);
        }
    }
    return 0;
}
