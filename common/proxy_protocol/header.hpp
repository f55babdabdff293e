#pragma once
// The PROXY protocol header (HAProxy's doc/proxy-protocol.txt, versions 1 and 2) as tierlb
// holds it once parsed, or before it is encoded: the client's addresses as the first proxy saw
// them, and the v2 TLVs that carry TLS facts (ALPN, SNI, client certificate) to the next hop.
//
// Pure data: parse.hpp turns bytes into a Header, encode.hpp turns addresses into bytes.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/address.hpp"

namespace tierlb::proxy_protocol {

// The 12 bytes every v2 header starts with; chosen by the spec so that no v1 line and no
// common protocol (HTTP, TLS, SSH...) can start with them.
inline constexpr std::array<std::uint8_t, 12> v2_signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                              0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
inline constexpr std::size_t v2_fixed_length = 16;  // signature, ver_cmd, fam, 2-byte length
inline constexpr std::size_t v1_max_length = 107;   // "PROXY ...\r\n", CRLF included

// v2 address block sizes by family.
inline constexpr std::size_t v2_inet_block = 12;   // src4, dst4, sport, dport
inline constexpr std::size_t v2_inet6_block = 36;  // src6, dst6, sport, dport
inline constexpr std::size_t v2_unix_block = 216;  // two 108-byte paths
inline constexpr std::size_t v2_unix_path = 108;

// TLV types of v2.
namespace tlv_type {
inline constexpr std::uint8_t alpn = 0x01;
inline constexpr std::uint8_t authority = 0x02;
inline constexpr std::uint8_t crc32c = 0x03;
inline constexpr std::uint8_t noop = 0x04;
inline constexpr std::uint8_t unique_id = 0x05;
inline constexpr std::uint8_t ssl = 0x20;
inline constexpr std::uint8_t ssl_version = 0x21;  // sub-TLVs of ssl
inline constexpr std::uint8_t ssl_cn = 0x22;
inline constexpr std::uint8_t ssl_cipher = 0x23;
inline constexpr std::uint8_t ssl_sig_alg = 0x24;
inline constexpr std::uint8_t ssl_key_alg = 0x25;
inline constexpr std::uint8_t netns = 0x30;
inline constexpr std::uint8_t min_custom = 0xE0;  // 0xE0-0xEF: application specific
inline constexpr std::uint8_t max_custom = 0xEF;
inline constexpr std::uint8_t min_experiment = 0xF0;  // 0xF0-0xF7: experiments
inline constexpr std::uint8_t max_experiment = 0xF7;
}  // namespace tlv_type

inline constexpr std::size_t max_unique_id = 128;

// Bits of SslInfo::client_flags.
namespace ssl_client {
inline constexpr std::uint8_t ssl = 0x01;        // the client connected over TLS
inline constexpr std::uint8_t cert_conn = 0x02;  // it sent a certificate on this connection
inline constexpr std::uint8_t cert_sess = 0x04;  // it sent one in this TLS session
}  // namespace ssl_client

// The SSL TLV (0x20) and its sub-TLVs. Empty strings are sub-TLVs that were absent.
struct SslInfo {
    std::uint8_t client_flags = 0;
    std::uint32_t verify = 0;  // 0: the client certificate was verified (or none was sent)
    std::string version;       // "TLSv1.3"
    std::string common_name;
    std::string cipher;  // "TLS_AES_256_GCM_SHA384"
    std::string signature_algorithm;
    std::string key_algorithm;

    friend bool operator==(const SslInfo&, const SslInfo&) = default;
};

// A TLV tierlb does not interpret, passed on as received.
struct Tlv {
    std::uint8_t type = 0;
    std::string value;

    friend bool operator==(const Tlv&, const Tlv&) = default;
};

struct Header {
    int version = 1;  // 1 or 2
    // v1 UNKNOWN, v2 LOCAL, or v2 PROXY with the UNSPEC family: the sender vouches for no
    // client address, so the receiver uses the socket's own addresses.
    bool local = false;
    // The client (source) and the address it connected to (destination): ipv4 or ipv6 with
    // ports, or for the v2 UNIX family unix_path/abns addresses. Empty when local, and for an
    // empty UNIX path.
    std::optional<SocketAddress> source;
    std::optional<SocketAddress> destination;
    // v2 TLVs. An empty string is a TLV that was absent (or present with no value).
    std::string alpn;
    std::string authority;  // the TLS SNI host name the client sent
    std::string unique_id;
    std::string netns;
    bool crc32c = false;  // a CRC32C TLV was present (and matched: otherwise it is invalid)
    std::optional<SslInfo> ssl;
    // Custom (0xE0-0xEF), experimental (0xF0-0xF7) and unknown types, in the order received.
    // NOOP is dropped.
    std::vector<Tlv> other_tlvs;

    friend bool operator==(const Header&, const Header&) = default;
};

}  // namespace tierlb::proxy_protocol
