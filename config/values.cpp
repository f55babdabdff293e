#include "config/values.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace tierlb::config {

namespace {

// Leading decimal digits of TEXT; sets DIGITS to how many were read.
bool read_number(std::string_view text, std::uint64_t& value, std::size_t& digits) {
    value = 0;
    digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
        value = value * 10 + static_cast<std::uint64_t>(text[digits] - '0');
        if (value > std::numeric_limits<std::uint32_t>::max()) {
            return false;
        }
        ++digits;
    }
    return digits > 0;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const auto end = text.find(sep, start);
        parts.push_back(text.substr(start, end - start));
        if (end == std::string_view::npos) {
            return parts;
        }
        start = end + 1;
    }
}

// "N" or "N-M" within [min, max], calling ADD for each value.
template <typename Add>
std::string parse_range(std::string_view part, int min, int max, const char* what, Add add) {
    const auto dash = part.find('-');
    const auto first_text = part.substr(0, dash);
    const auto last_text = dash == std::string_view::npos ? first_text : part.substr(dash + 1);
    auto first =
        parse_uint(first_text, static_cast<std::uint32_t>(min), static_cast<std::uint32_t>(max));
    auto last =
        parse_uint(last_text, static_cast<std::uint32_t>(min), static_cast<std::uint32_t>(max));
    if (!first || !last || *last < *first) {
        return "invalid " + std::string(what) + " '" + std::string(part) +
               "' (expected N or N-M with " + std::to_string(min) +
               " <= N <= M <= " + std::to_string(max) + ")";
    }
    for (auto v = *first; v <= *last; ++v) {
        add(static_cast<int>(v));
    }
    return {};
}

}  // namespace

Expected<Duration> parse_time(std::string_view text) {
    const std::string expected =
        " (expected a number with an optional unit: us, ms, s, m, h, d; default ms)";
    std::uint64_t value = 0;
    std::size_t digits = 0;
    if (!read_number(text, value, digits)) {
        return unexpected("invalid time '" + std::string(text) + "'" + expected);
    }
    const auto unit = text.substr(digits);
    std::uint64_t ms = 0;
    if (unit == "us") {
        ms = (value + 999) / 1000;
    } else if (unit.empty() || unit == "ms") {
        ms = value;
    } else if (unit == "s") {
        ms = value * 1000;
    } else if (unit == "m") {
        ms = value * 60 * 1000;
    } else if (unit == "h") {
        ms = value * 3600 * 1000;
    } else if (unit == "d") {
        ms = value * 86400 * 1000;
    } else {
        return unexpected("invalid time '" + std::string(text) + "'" + expected);
    }
    if (ms > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
        return unexpected("time '" + std::string(text) + "' is too large (at most 24d20h31m23s)");
    }
    return Duration(ms);
}

Expected<std::uint32_t> parse_uint(std::string_view text, std::uint32_t min, std::uint32_t max) {
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
        value > max) {
        return unexpected("invalid number '" + std::string(text) + "' (expected an integer from " +
                          std::to_string(min) + " to " + std::to_string(max) + ")");
    }
    return value;
}

Expected<mode_t> parse_octal_mode(std::string_view text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 8);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 07777) {
        return unexpected("invalid mode '" + std::string(text) +
                          "' (expected octal permissions such as 0660)");
    }
    return static_cast<mode_t>(value);
}

Expected<ProcessSet> parse_process_set(std::string_view text) {
    if (text == "all") {
        return ProcessSet::all();
    }
    if (text == "odd" || text == "even") {
        ProcessSet s;
        for (int p = text == "odd" ? 1 : 2; p <= ProcessSet::max_process; p += 2) {
            s |= ProcessSet::single(p);
        }
        return s;
    }
    ProcessSet set;
    for (auto part : split(text, ',')) {
        auto error = parse_range(part, 1, ProcessSet::max_process, "process set",
                                 [&](int p) { set |= ProcessSet::single(p); });
        if (!error.empty()) {
            return unexpected(error + " ('all', 'odd' and 'even' are accepted too)");
        }
    }
    return set;
}

Expected<std::vector<int>> parse_cpu_list(std::string_view text) {
    std::vector<int> cpus;
    for (auto part : split(text, ',')) {
        auto error = parse_range(part, 0, 1023, "CPU set", [&](int c) { cpus.push_back(c); });
        if (!error.empty()) {
            return unexpected(error);
        }
    }
    std::sort(cpus.begin(), cpus.end());
    cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
    return cpus;
}

std::string closest_name(std::string_view word, const std::vector<std::string_view>& candidates) {
    // Levenshtein distance; good enough for a few hundred short keywords.
    auto distance = [](std::string_view a, std::string_view b) {
        std::vector<std::size_t> row(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j) {
            row[j] = j;
        }
        for (std::size_t i = 1; i <= a.size(); ++i) {
            std::size_t diagonal = row[0];
            row[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j) {
                const std::size_t above = row[j];
                row[j] = std::min(
                    {row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0u : 1u)});
                diagonal = above;
            }
        }
        return row[b.size()];
    };
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (auto candidate : candidates) {
        // The distance is at least the difference in length: a candidate that cannot win is
        // not measured, so that a long unknown word costs no more than a short one.
        const std::size_t gap = word.size() > candidate.size() ? word.size() - candidate.size()
                                                               : candidate.size() - word.size();
        if (gap >= best_distance) {
            continue;
        }
        const auto d = distance(word, candidate);
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    }
    return best;
}

}  // namespace tierlb::config

#include "config/model.hpp"

namespace tierlb::config {

Expected<TlsVersion> parse_tls_version(std::string_view text) {
    if (text == "TLSv1.2") {
        return TlsVersion::tlsv12;
    }
    if (text == "TLSv1.3") {
        return TlsVersion::tlsv13;
    }
    if (text == "SSLv3" || text == "TLSv1.0" || text == "TLSv1.1") {
        return unexpected("'" + std::string(text) +
                          "' is not supported: it is insecure (expected TLSv1.2 or TLSv1.3)");
    }
    return unexpected("unknown TLS version '" + std::string(text) +
                      "' (expected TLSv1.2 or TLSv1.3)");
}

}  // namespace tierlb::config
