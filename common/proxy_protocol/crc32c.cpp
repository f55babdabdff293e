#include "common/proxy_protocol/crc32c.hpp"

#include <array>

namespace tierlb::proxy_protocol {

namespace {

constexpr std::uint32_t castagnoli_reflected = 0x82F63B78;

// One entry per byte value: the register after shifting that byte through, bit by bit.
constexpr std::array<std::uint32_t, 256> make_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t byte = 0; byte < 256; ++byte) {
        std::uint32_t reg = byte;
        for (int bit = 0; bit < 8; ++bit) {
            reg = (reg & 1U) != 0 ? (reg >> 1) ^ castagnoli_reflected : reg >> 1;
        }
        table[byte] = reg;
    }
    return table;
}

constexpr std::array<std::uint32_t, 256> table = make_table();

}  // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const std::uint8_t> bytes) {
    // The public value is the register inverted; undo that to continue.
    std::uint32_t reg = ~crc;
    for (const std::uint8_t byte : bytes) {
        reg = table[(reg ^ byte) & 0xFFU] ^ (reg >> 8);
    }
    return ~reg;
}

std::uint32_t crc32c(std::span<const std::uint8_t> bytes) {
    return crc32c_extend(0, bytes);
}

}  // namespace tierlb::proxy_protocol
