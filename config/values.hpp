#pragma once
// Parsers for the values keywords take: times, integers, octal modes, process sets, TLS
// versions. Each returns the value or an error text that says what was expected; the keyword
// handlers prefix it with the keyword and the file:line.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "config/process_set.hpp"

namespace tierlb::config {

using Duration = std::chrono::milliseconds;

// "10" (milliseconds), "100ms", "2s", "1m", "1h", "1d", "500us" (rounded up to 1 ms, as
// HAProxy does). At most 2^31-1 ms, HAProxy's limit.
Expected<Duration> parse_time(std::string_view text);

// A decimal integer in [min, max]; no sign, no blanks, no suffix.
Expected<std::uint32_t> parse_uint(std::string_view text, std::uint32_t min, std::uint32_t max);

// "0660", "660", "600": file permissions as octal digits.
Expected<mode_t> parse_octal_mode(std::string_view text);

// "1", "2-5", "1,3,5-7", "all", "odd", "even": process numbers 1 to 64.
Expected<ProcessSet> parse_process_set(std::string_view text);

// "0", "0-3", "0,2": CPU numbers 0 to 1023 for cpu-map.
Expected<std::vector<int>> parse_cpu_list(std::string_view text);

// Closest name in CANDIDATES to WORD by edit distance, for "did you mean ...?" hints; empty
// when nothing is close enough to be a plausible typo.
std::string closest_name(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace tierlb::config

namespace tierlb::config {
enum class TlsVersion;
// "TLSv1.2" or "TLSv1.3"; older versions are refused with a reason.
Expected<TlsVersion> parse_tls_version(std::string_view text);
}  // namespace tierlb::config
