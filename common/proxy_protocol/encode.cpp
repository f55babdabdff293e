#include "common/proxy_protocol/encode.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <limits>
#include <span>
#include <string_view>

#include "common/proxy_protocol/crc32c.hpp"

namespace tierlb::proxy_protocol {

namespace {

constexpr std::size_t max_tlv_value = std::numeric_limits<std::uint16_t>::max();
constexpr std::size_t max_v2_block = std::numeric_limits<std::uint16_t>::max();

std::array<std::uint8_t, 4> ipv4_bytes(const SocketAddress& a) {
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in*>(a.native())->sin_addr, 4);
    return bytes;
}

// The IPv6 address, or the IPv4 one mapped (::ffff:a.b.c.d) when a header mixes families.
std::array<std::uint8_t, 16> ipv6_bytes(const SocketAddress& a) {
    std::array<std::uint8_t, 16> bytes{};
    if (a.family() == AddressFamily::ipv6) {
        std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in6*>(a.native())->sin6_addr,
                    16);
    } else {
        bytes[10] = 0xFF;
        bytes[11] = 0xFF;
        const auto v4 = ipv4_bytes(a);
        std::memcpy(bytes.data() + 12, v4.data(), 4);
    }
    return bytes;
}

std::string ipv6_text(const SocketAddress& a) {
    const auto bytes = ipv6_bytes(a);
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, bytes.data(), text, sizeof(text));
    return text;
}

bool both_inet(const SocketAddress* source, const SocketAddress* destination) {
    return source != nullptr && destination != nullptr && source->is_inet() &&
           destination->is_inet();
}

// Appends big-endian integers, raw bytes and TLVs to a header under construction.
class Writer {
public:
    void u8(std::uint8_t value) { out_.push_back(static_cast<char>(value)); }
    void u16(std::uint16_t value) {
        u8(static_cast<std::uint8_t>(value >> 8));
        u8(static_cast<std::uint8_t>(value & 0xFF));
    }
    void u32(std::uint32_t value) {
        u16(static_cast<std::uint16_t>(value >> 16));
        u16(static_cast<std::uint16_t>(value & 0xFFFF));
    }
    void bytes(std::span<const std::uint8_t> data) {
        out_.append(reinterpret_cast<const char*>(data.data()), data.size());
    }
    void text(std::string_view data) { out_.append(data); }

    // Adds a TLV if it keeps the v2 block (everything after the 16 fixed bytes) within the
    // 16-bit length; returns whether it did.
    bool tlv(std::uint8_t type, std::string_view value) {
        const std::size_t block = out_.size() - v2_fixed_length;
        if (value.size() > max_tlv_value || block + 3 + value.size() > max_v2_block) {
            return false;
        }
        u8(type);
        u16(static_cast<std::uint16_t>(value.size()));
        text(value);
        return true;
    }

    // A sub-TLV inside a value that is itself built here (the SSL TLV).
    void sub_tlv_if_set(std::uint8_t type, std::string_view value) {
        if (!value.empty() && value.size() <= max_tlv_value) {
            u8(type);
            u16(static_cast<std::uint16_t>(value.size()));
            text(value);
        }
    }

    std::size_t size() const { return out_.size(); }
    std::string& str() { return out_; }

private:
    std::string out_;
};

void write_fixed_part(Writer& w, std::uint8_t ver_cmd, std::uint8_t family) {
    w.bytes(v2_signature);
    w.u8(ver_cmd);
    w.u8(family);
    w.u16(0);  // the length, set once the TLVs are in
}

void write_addresses(Writer& w, const SocketAddress& source, const SocketAddress& destination) {
    if (source.family() == AddressFamily::ipv4 && destination.family() == AddressFamily::ipv4) {
        w.bytes(ipv4_bytes(source));
        w.bytes(ipv4_bytes(destination));
    } else {
        w.bytes(ipv6_bytes(source));
        w.bytes(ipv6_bytes(destination));
    }
    w.u16(source.port());
    w.u16(destination.port());
}

std::string ssl_value(const SslInfo& ssl) {
    Writer v;
    v.u8(ssl.client_flags);
    v.u32(ssl.verify);
    // HAProxy's order.
    v.sub_tlv_if_set(tlv_type::ssl_version, ssl.version);
    v.sub_tlv_if_set(tlv_type::ssl_cn, ssl.common_name);
    v.sub_tlv_if_set(tlv_type::ssl_key_alg, ssl.key_algorithm);
    v.sub_tlv_if_set(tlv_type::ssl_sig_alg, ssl.signature_algorithm);
    v.sub_tlv_if_set(tlv_type::ssl_cipher, ssl.cipher);
    return std::move(v.str());
}

// Returns the offset of the CRC32C value to fill in, or 0 when there is none.
std::size_t write_tlvs(Writer& w, const V2Extras& extras) {
    for (const Tlv& t : extras.other_tlvs) {
        w.tlv(t.type, t.value);
    }
    std::size_t crc_offset = 0;
    if (extras.crc32c && w.tlv(tlv_type::crc32c, std::string_view("\0\0\0\0", 4))) {
        crc_offset = w.size() - 4;
    }
    if (!extras.alpn.empty()) {
        w.tlv(tlv_type::alpn, extras.alpn);
    }
    if (!extras.authority.empty()) {
        w.tlv(tlv_type::authority, extras.authority);
    }
    if (!extras.unique_id.empty() && extras.unique_id.size() <= max_unique_id) {
        w.tlv(tlv_type::unique_id, extras.unique_id);
    }
    if (extras.ssl) {
        w.tlv(tlv_type::ssl, ssl_value(*extras.ssl));
    }
    if (!extras.netns.empty()) {
        w.tlv(tlv_type::netns, extras.netns);
    }
    return crc_offset;
}

void put_u16(std::string& out, std::size_t at, std::uint16_t value) {
    out[at] = static_cast<char>(value >> 8);
    out[at + 1] = static_cast<char>(value & 0xFF);
}

}  // namespace

std::string encode_v1(const SocketAddress* source, const SocketAddress* destination) {
    if (!both_inet(source, destination)) {
        return "PROXY UNKNOWN\r\n";
    }
    const bool v4 =
        source->family() == AddressFamily::ipv4 && destination->family() == AddressFamily::ipv4;
    std::string line = v4 ? "PROXY TCP4 " : "PROXY TCP6 ";
    line += v4 ? source->host() : ipv6_text(*source);
    line += ' ';
    line += v4 ? destination->host() : ipv6_text(*destination);
    line += ' ';
    line += std::to_string(source->port());
    line += ' ';
    line += std::to_string(destination->port());
    line += "\r\n";
    return line;
}

std::string encode_v2(const SocketAddress* source, const SocketAddress* destination,
                      const V2Extras& extras) {
    Writer w;
    if (extras.local || !both_inet(source, destination)) {
        write_fixed_part(w, 0x20, 0x00);  // version 2, LOCAL; UNSPEC, UNSPEC; length 0
        return std::move(w.str());
    }
    const bool v4 =
        source->family() == AddressFamily::ipv4 && destination->family() == AddressFamily::ipv4;
    write_fixed_part(w, 0x21, v4 ? 0x11 : 0x21);  // version 2, PROXY; INET(6), STREAM
    write_addresses(w, *source, *destination);
    const std::size_t crc_offset = write_tlvs(w, extras);

    std::string& out = w.str();
    put_u16(out, 14, static_cast<std::uint16_t>(out.size() - v2_fixed_length));
    if (crc_offset != 0) {
        // Computed with the value still zero, over the final bytes, length included.
        const std::uint32_t crc =
            crc32c(std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
        put_u16(out, crc_offset, static_cast<std::uint16_t>(crc >> 16));
        put_u16(out, crc_offset + 2, static_cast<std::uint16_t>(crc & 0xFFFF));
    }
    return std::move(out);
}

}  // namespace tierlb::proxy_protocol
