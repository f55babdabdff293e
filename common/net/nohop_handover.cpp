#include "common/net/nohop_handover.hpp"

#include <charconv>
#include <string_view>
#include <vector>

namespace tierlb::net {

namespace {

// "A,B,C,D" as four non-negative numbers, or nothing.
bool parse_numbers(std::string_view text, std::vector<long>& out) {
    while (true) {
        long value = -1;
        const auto comma = text.find(',');
        const std::string_view part = text.substr(0, comma);
        const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
        if (error != std::errc() || end != part.data() + part.size() || value < 0) {
            return false;
        }
        out.push_back(value);
        if (comma == std::string_view::npos) {
            return true;
        }
        text.remove_prefix(comma + 1);
    }
}

}  // namespace

std::string encode_nohop(const NohopHandovers& handovers) {
    std::string text;
    for (const auto& [key, h] : handovers) {
        text += (text.empty() ? "" : ";") + key + "=" + std::to_string(h.sockets_fd) + "," +
                std::to_string(h.table_fd) + "," + std::to_string(h.slot) + "," +
                (h.migrates ? "1" : "0");
    }
    return text;
}

NohopHandovers decode_nohop(const std::string& text) {
    NohopHandovers handovers;
    std::string_view rest = text;
    while (!rest.empty()) {
        const auto end = rest.find(';');
        const std::string_view item = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        const auto eq = item.rfind('=');
        std::vector<long> numbers;
        if (eq == std::string_view::npos || !parse_numbers(item.substr(eq + 1), numbers) ||
            numbers.size() != 4 || numbers[3] > 1) {
            continue;
        }
        handovers[std::string(item.substr(0, eq))] =
            NohopHandover{static_cast<int>(numbers[0]), static_cast<int>(numbers[1]),
                          static_cast<std::uint32_t>(numbers[2]), numbers[3] == 1};
    }
    return handovers;
}

}  // namespace tierlb::net
