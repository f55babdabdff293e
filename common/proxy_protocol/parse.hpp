#pragma once
// Parses the PROXY header at the start of an `accept-proxy` connection, v1 or v2, from the
// bytes received so far. Pure: the caller reads, calls parse() again with everything it has
// when it gets need_more, and gives up on its own timeout.
//
// Decisions are made as early as the bytes allow: a first byte that starts neither signature,
// a v1 field that can no longer become valid, a bad v2 version, command or family, or a v2
// length above the limit is invalid at once, so a client cannot hold a connection open by
// trickling bytes that were wrong from the start. v2 TLVs are checked once the declared length
// is in (at most ParseLimits::max_v2_length bytes). For v1, an early decision only names the
// error the whole line would have been given, so the reason does not depend on how the bytes
// were split.

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/proxy_protocol/header.hpp"

namespace tierlb::proxy_protocol {

enum class ParseStatus { complete, need_more, invalid };

// One value per way a header can be wrong; describe() gives the log reason.
enum class Error {
    none,
    bad_signature,          // neither "PROXY " nor the v2 signature
    v1_too_long,            // no CRLF within 107 bytes
    v1_missing_crlf,        // a CR not followed by LF, or a LF without CR
    v1_bad_protocol,        // not TCP4, TCP6 or UNKNOWN
    v1_bad_format,          // fields missing, extra, or not separated by exactly one space
    v1_bad_address,         // not an address in canonical form
    v1_wrong_family,        // an IPv6 address after TCP4, or an IPv4 one after TCP6
    v1_bad_port,            // not 0..65535 in decimal without leading zeros
    v2_bad_version,         // version nibble other than 2
    v2_bad_command,         // command other than LOCAL (0) and PROXY (1)
    v2_bad_family,          // family/transport byte not one of 00 11 12 21 22 31 32
    v2_address_too_short,   // length shorter than the family's address block
    v2_tlv_truncated,       // fewer than 3 bytes left for a TLV's type and length
    v2_tlv_overrun,         // a TLV value running past the declared length
    v2_duplicate_tlv,       // a second ALPN, AUTHORITY, CRC32C, UNIQUE_ID, SSL or NETNS
    v2_bad_crc32c_length,   // a CRC32C TLV whose value is not 4 bytes
    v2_bad_crc32c,          // the CRC32C does not match
    v2_unique_id_too_long,  // UNIQUE_ID over 128 bytes
    v2_bad_ssl_tlv,         // SSL TLV under 5 bytes, or its sub-TLVs malformed or repeated
    header_too_long,        // v2 declared length above ParseLimits::max_v2_length
};

// The short reason for logs, and the stats counter name: "bad PROXY v2 CRC32C".
const char* describe(Error error);

struct ParseLimits {
    // Largest v2 header accepted, the 16 fixed bytes included: what a connection may buffer.
    std::size_t max_v2_length = 4096;
};

struct ParseResult {
    ParseStatus status = ParseStatus::need_more;
    Error error = Error::none;  // set when invalid
    // When complete: the header's length. The bytes after it are the client's payload.
    std::size_t consumed = 0;
    Header header;  // meaningful when complete
};

ParseResult parse(std::span<const std::uint8_t> bytes, const ParseLimits& limits = {});

}  // namespace tierlb::proxy_protocol
