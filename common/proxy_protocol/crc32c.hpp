#pragma once
// CRC-32C (Castagnoli), the checksum of the PROXY v2 CRC32C TLV: reflected polynomial
// 0x82F63B78, initial value and final xor 0xFFFFFFFF. The check value of "123456789" is
// 0xE3069283.

#include <cstdint>
#include <span>

namespace tierlb::proxy_protocol {

std::uint32_t crc32c(std::span<const std::uint8_t> bytes);

// Continues a checksum: crc32c_extend(crc32c(a), b) == crc32c(a followed by b). Lets the
// parser checksum a header around the 4 bytes it must count as zero without copying it.
std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const std::uint8_t> bytes);

}  // namespace tierlb::proxy_protocol
