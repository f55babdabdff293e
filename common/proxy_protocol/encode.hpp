#pragma once
// Builds the PROXY header a server connection starts with (`send-proxy`, `send-proxy-v2`,
// `send-proxy-v2-ssl`, and health checks), the way HAProxy builds it so that every receiver
// that accepts HAProxy's headers accepts ours.
//
// Addresses are the client's (source) and the one it connected to (destination), as accept(2)
// and getsockname(2) gave them, or as a received PROXY header gave them. Null means unknown.
//
// Unix peers: HAProxy never sends the v2 UNIX family. When either end is not IPv4/IPv6 it
// sends v1 "PROXY UNKNOWN\r\n" and v2 LOCAL with the UNSPEC family (src/connection.c,
// make_proxy_line_v1/v2), i.e. "use the connection's own addresses". tierlb does the same: the
// parser accepts the UNIX family, the encoder never produces it.

#include <optional>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "common/proxy_protocol/header.hpp"

namespace tierlb::proxy_protocol {

// "PROXY TCP4 src dst sport dport\r\n" when both ends are IPv4, "PROXY TCP6 ...\r\n" when
// either is IPv6 (an IPv4 end written as ::ffff:a.b.c.d), else "PROXY UNKNOWN\r\n".
std::string encode_v1(const SocketAddress* source, const SocketAddress* destination);

// What a v2 header carries besides the addresses.
struct V2Extras {
    // A LOCAL header: the connection is the proxy's own (a health check). Also sent when an
    // address is missing or is a unix one.
    bool local = false;
    // Each non-empty string becomes its TLV.
    std::string alpn;
    std::string authority;
    std::string unique_id;  // left out when longer than 128 bytes: receivers reject those
    std::string netns;
    std::optional<SslInfo> ssl;  // send-proxy-v2-ssl: the SSL TLV, sent even when not TLS
    std::vector<Tlv> other_tlvs;
    bool crc32c = false;  // add a CRC32C TLV over the finished header
};

// A v2 header: INET when both ends are IPv4, INET6 when either is IPv6 (an IPv4 end mapped to
// ::ffff:a.b.c.d), both with STREAM transport; else LOCAL with the UNSPEC family and length 0,
// without TLVs, since receivers must discard a LOCAL header's block.
//
// TLVs in HAProxy's order (3.x, which puts its configured custom TLVs first): other_tlvs,
// CRC32C, ALPN, AUTHORITY, UNIQUE_ID, SSL (sub-TLVs VERSION, CN, KEY_ALG, SIG_ALG, CIPHER, each
// when non-empty), NETNS. A TLV that would not fit the 16-bit lengths is left out.
std::string encode_v2(const SocketAddress* source, const SocketAddress* destination,
                      const V2Extras& extras = {});

}  // namespace tierlb::proxy_protocol
