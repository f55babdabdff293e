#include "common/proxy_protocol/parse.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <string_view>

#include "common/proxy_protocol/crc32c.hpp"

namespace tierlb::proxy_protocol {

namespace {

static_assert(sizeof(sockaddr_un::sun_path) == v2_unix_path);

using Bytes = std::span<const std::uint8_t>;

constexpr std::string_view v1_signature = "PROXY ";
constexpr std::size_t max_ipv6_text = INET6_ADDRSTRLEN - 1;  // 45
constexpr std::size_t max_port_digits = 5;

ParseResult need_more() {
    return {};
}

ParseResult invalid(Error error) {
    ParseResult r;
    r.status = ParseStatus::invalid;
    r.error = error;
    return r;
}

ParseResult complete(std::size_t consumed, Header header) {
    ParseResult r;
    r.status = ParseStatus::complete;
    r.consumed = consumed;
    r.header = std::move(header);
    return r;
}

std::uint16_t be16(Bytes b) {
    return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}

std::uint32_t be32(Bytes b) {
    return (static_cast<std::uint32_t>(be16(b)) << 16) | be16(b.subspan(2));
}

std::string_view as_text(Bytes b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

SocketAddress make_inet(int family, Bytes address, std::uint16_t port) {
    if (family == AF_INET) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_port = htons(port);
        std::memcpy(&in.sin_addr, address.data(), 4);
        return SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&in), sizeof(in));
    }
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    std::memcpy(&in6.sin6_addr, address.data(), 16);
    return SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&in6), sizeof(in6));
}

// ---------------------------------------------------------------------------------------------
// v1

// What a dotted quad looks like so far.
struct Ipv4Scan {
    bool viable = true;     // a prefix of a canonical dotted quad
    bool complete = false;  // a whole one
    std::array<std::uint8_t, 4> bytes{};
};

// Accepts exactly four decimal numbers 0..255 separated by single dots, without leading zeros
// (the spec forbids them: "010" reads as octal to some parsers); rejects anything else.
Ipv4Scan scan_ipv4(std::string_view text) {
    Ipv4Scan s;
    std::size_t octet = 0;
    unsigned value = 0;
    int digits = 0;
    for (const char c : text) {
        if (c == '.') {
            if (digits == 0 || octet == 3) {
                return {false, false, {}};
            }
            s.bytes[octet++] = static_cast<std::uint8_t>(value);
            value = 0;
            digits = 0;
        } else if (c >= '0' && c <= '9') {
            if (digits == 1 && value == 0) {
                return {false, false, {}};  // leading zero
            }
            value = value * 10 + static_cast<unsigned>(c - '0');
            ++digits;
            if (value > 255) {
                return {false, false, {}};
            }
        } else {
            return {false, false, {}};
        }
    }
    s.complete = octet == 3 && digits > 0;
    if (s.complete) {
        s.bytes[3] = static_cast<std::uint8_t>(value);
    }
    return s;
}

// A loose test, never stricter than inet_pton: it only lets the parser give up early on text
// that no IPv6 address starts with (wrong characters, too long, a dot before any colon).
bool may_start_ipv6(std::string_view text) {
    if (text.size() > max_ipv6_text) {
        return false;
    }
    bool colon = false;
    for (const char c : text) {
        const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (c == ':') {
            colon = true;
        } else if (c == '.' ? !colon : !hex) {
            return false;
        }
    }
    return true;
}

bool parse_ipv6(std::string_view text, std::array<std::uint8_t, 16>& out) {
    if (text.size() > max_ipv6_text) {
        return false;
    }
    char buffer[INET6_ADDRSTRLEN] = {};
    std::memcpy(buffer, text.data(), text.size());
    return inet_pton(AF_INET6, buffer, out.data()) == 1;
}

// Accepts an address of the line's family in its text form (IPv6 as inet_pton reads it: hex
// groups, one "::", an optional dotted-quad tail), or while `partial`, text that may still
// become one. Rejects an address of the other family as v1_wrong_family, anything else as
// v1_bad_address. A partial field is only rejected when it can become an address of neither
// family, so the reason never depends on where the bytes were split.
Error check_v1_address(std::string_view text, bool tcp6, bool partial) {
    const Ipv4Scan v4 = scan_ipv4(text);
    if (partial) {
        return v4.viable || may_start_ipv6(text) ? Error::none : Error::v1_bad_address;
    }
    std::array<std::uint8_t, 16> v6{};
    const bool is_v6 = parse_ipv6(text, v6);
    if (tcp6 ? is_v6 : v4.complete) {
        return Error::none;
    }
    return (tcp6 ? v4.complete : is_v6) ? Error::v1_wrong_family : Error::v1_bad_address;
}

// Accepts 0..65535 in decimal without a sign or leading zeros, or while `partial`, a prefix of
// such a number; rejects everything else.
Error check_v1_port(std::string_view text, bool partial) {
    if (text.size() > max_port_digits || (!partial && text.empty())) {
        return Error::v1_bad_port;
    }
    if (text.size() > 1 && text[0] == '0') {
        return Error::v1_bad_port;
    }
    unsigned value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return Error::v1_bad_port;
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value > 65535 ? Error::v1_bad_port : Error::none;
}

// Accepts TCP4, TCP6, UNKNOWN, or while `partial`, a prefix of one of them.
Error check_v1_protocol(std::string_view text, bool partial) {
    for (const std::string_view known : {"TCP4", "TCP6", "UNKNOWN"}) {
        if (partial ? known.starts_with(text) : known == text) {
            return Error::none;
        }
    }
    return Error::v1_bad_protocol;
}

struct V1Fields {
    std::array<std::string_view, 5> field;  // protocol, source, destination, ports
    std::size_t count = 0;
};

// Checks the fields of a v1 line seen so far: `line` is what follows "PROXY " up to the first
// CR or LF, or everything received when there is none yet; `terminated` says a CR ends it.
// Accepts "UNKNOWN" followed by a space and anything (the receiver ignores the rest), and
// "TCP4"/"TCP6" followed by exactly four fields, one space before each. Rejects empty fields
// (two spaces), a fifth space, missing fields, and fields the checks above reject. Returns
// Error::none while the line can still become valid.
Error check_v1_fields(std::string_view line, bool terminated, V1Fields& out) {
    std::size_t start = 0;
    bool tcp6 = false;
    while (true) {
        const std::size_t space = line.find(' ', start);
        const bool last = space == std::string_view::npos;
        const std::string_view token = line.substr(start, last ? line.npos : space - start);
        const bool partial = last && !terminated;
        if (out.count == 5 || (token.empty() && !partial)) {
            return Error::v1_bad_format;
        }
        Error error = Error::none;
        if (out.count == 0) {
            error = check_v1_protocol(token, partial);
            tcp6 = token == "TCP6";
        } else if (out.count <= 2) {
            error = check_v1_address(token, tcp6, partial);
        } else {
            error = check_v1_port(token, partial);
        }
        if (error != Error::none) {
            return error;
        }
        out.field[out.count++] = token;
        if (out.count == 1 && token == "UNKNOWN" && !partial) {
            return Error::none;
        }
        if (last) {
            break;
        }
        start = space + 1;
    }
    return terminated && out.count < 5 ? Error::v1_bad_format : Error::none;
}

// Builds the header of a v1 line whose fields check_v1_fields accepted.
Header v1_header(const V1Fields& f) {
    Header h;
    h.version = 1;
    if (f.field[0] == "UNKNOWN") {
        h.local = true;
        return h;
    }
    const bool tcp6 = f.field[0] == "TCP6";
    std::array<SocketAddress, 2> ends;
    for (std::size_t i = 0; i < 2; ++i) {
        unsigned port = 0;
        const std::string_view port_text = f.field[3 + i];
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (tcp6) {
            std::array<std::uint8_t, 16> bytes{};
            parse_ipv6(f.field[1 + i], bytes);
            ends[i] = make_inet(AF_INET6, bytes, static_cast<std::uint16_t>(port));
        } else {
            const Ipv4Scan v4 = scan_ipv4(f.field[1 + i]);
            ends[i] = make_inet(AF_INET, v4.bytes, static_cast<std::uint16_t>(port));
        }
    }
    h.source = ends[0];
    h.destination = ends[1];
    return h;
}

// Accepts "PROXY " + fields + CRLF within 107 bytes. Rejects a line without CRLF within 107
// bytes, a CR not followed by LF, a LF without CR, and bad fields (check_v1_fields), each as
// soon as the bytes received show it.
ParseResult parse_v1(Bytes bytes) {
    const std::string_view text = as_text(bytes);
    const std::size_t signature = std::min(text.size(), v1_signature.size());
    if (text.substr(0, signature) != v1_signature.substr(0, signature)) {
        return invalid(Error::bad_signature);
    }
    if (text.size() < v1_signature.size()) {
        return need_more();
    }
    const std::string_view window = text.substr(0, v1_max_length);
    const std::size_t end = window.find_first_of("\r\n", v1_signature.size());
    const bool found = end != std::string_view::npos;
    const bool terminated = found && window[end] == '\r';
    const std::string_view line =
        window.substr(v1_signature.size(), found ? end - v1_signature.size() : window.npos);
    V1Fields fields;
    if (const Error error = check_v1_fields(line, terminated, fields); error != Error::none) {
        return invalid(error);
    }
    if (!found) {
        return text.size() >= v1_max_length ? invalid(Error::v1_too_long) : need_more();
    }
    if (!terminated) {
        return invalid(Error::v1_missing_crlf);  // a LF without CR
    }
    if (end + 2 > v1_max_length) {
        return invalid(Error::v1_too_long);  // the LF would be byte 108
    }
    if (end + 1 == text.size()) {
        return need_more();
    }
    if (text[end + 1] != '\n') {
        return invalid(Error::v1_missing_crlf);
    }
    return complete(end + 2, v1_header(fields));
}

// ---------------------------------------------------------------------------------------------
// v2

constexpr std::uint8_t command_local = 0x0;
constexpr std::uint8_t command_proxy = 0x1;

// The address block length of a family/transport byte, or -1 for a byte the spec does not
// define (UNSPEC with a transport, a family without one, unknown values).
int address_block(std::uint8_t family) {
    switch (family) {
        case 0x00:
            return 0;
        case 0x11:
        case 0x12:
            return static_cast<int>(v2_inet_block);
        case 0x21:
        case 0x22:
            return static_cast<int>(v2_inet6_block);
        case 0x31:
        case 0x32:
            return static_cast<int>(v2_unix_block);
        default:
            return -1;
    }
}

// A 108-byte UNIX path of the v2 block: none when empty, abstract (HAProxy's padded abns form)
// when it starts with a zero byte, else a file-system path, which may fill all 108 bytes.
std::optional<SocketAddress> unix_address(Bytes path) {
    if (std::all_of(path.begin(), path.end(), [](std::uint8_t b) { return b == 0; })) {
        return std::nullopt;
    }
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.data(), v2_unix_path);
    std::size_t length = sizeof(sockaddr_un);
    if (path[0] != 0) {
        const std::size_t name = strnlen(un.sun_path, v2_unix_path);
        length = offsetof(sockaddr_un, sun_path) + std::min(name + 1, v2_unix_path);
    }
    return SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&un),
                                      static_cast<socklen_t>(length));
}

// Reads the address block of a PROXY command, whose family address_block() accepted and whose
// size it checked: INET and INET6 give addresses with ports, UNIX gives paths, UNSPEC gives none.
void decode_addresses(std::uint8_t family, Bytes block, Header& h) {
    switch (family >> 4) {
        case 0x1:
            h.source = make_inet(AF_INET, block.subspan(0, 4), be16(block.subspan(8)));
            h.destination = make_inet(AF_INET, block.subspan(4, 4), be16(block.subspan(10)));
            break;
        case 0x2:
            h.source = make_inet(AF_INET6, block.subspan(0, 16), be16(block.subspan(32)));
            h.destination = make_inet(AF_INET6, block.subspan(16, 16), be16(block.subspan(34)));
            break;
        case 0x3:
            h.source = unix_address(block.subspan(0, v2_unix_path));
            h.destination = unix_address(block.subspan(v2_unix_path, v2_unix_path));
            break;
        default:
            h.local = true;  // PROXY with UNSPEC: no address to use but the socket's
            break;
    }
}

// Walks the TLVs of `area` from `offset` to its end, calling on_tlv(type, value_offset, value)
// for each. Rejects fewer than 3 bytes left for a TLV's header (v2_tlv_truncated) and a value
// running past the end (v2_tlv_overrun); returns the first error on_tlv returns.
template <typename OnTlv>
Error walk_tlvs(Bytes area, std::size_t offset, OnTlv&& on_tlv) {
    while (offset < area.size()) {
        if (area.size() - offset < 3) {
            return Error::v2_tlv_truncated;
        }
        const std::uint8_t type = area[offset];
        const std::size_t length = be16(area.subspan(offset + 1));
        const std::size_t value_offset = offset + 3;
        if (length > area.size() - value_offset) {
            return Error::v2_tlv_overrun;
        }
        if (const Error e = on_tlv(type, value_offset, area.subspan(value_offset, length));
            e != Error::none) {
            return e;
        }
        offset = value_offset + length;
    }
    return Error::none;
}

// Accepts client flags (1 byte), verify (4 bytes, big-endian) and well-formed sub-TLVs, each
// known one at most once; unknown sub-TLVs are ignored. Rejects the rest as v2_bad_ssl_tlv.
Error parse_ssl(Bytes value, SslInfo& ssl) {
    if (value.size() < 5) {
        return Error::v2_bad_ssl_tlv;
    }
    ssl.client_flags = value[0];
    ssl.verify = be32(value.subspan(1));
    unsigned seen = 0;
    const Error e = walk_tlvs(value, 5, [&](std::uint8_t type, std::size_t, Bytes sub) {
        std::string* field = nullptr;
        switch (type) {
            case tlv_type::ssl_version:
                field = &ssl.version;
                break;
            case tlv_type::ssl_cn:
                field = &ssl.common_name;
                break;
            case tlv_type::ssl_cipher:
                field = &ssl.cipher;
                break;
            case tlv_type::ssl_sig_alg:
                field = &ssl.signature_algorithm;
                break;
            case tlv_type::ssl_key_alg:
                field = &ssl.key_algorithm;
                break;
            default:
                return Error::none;
        }
        const unsigned bit = 1U << (type - tlv_type::ssl_version);
        if ((seen & bit) != 0) {
            return Error::v2_bad_ssl_tlv;
        }
        seen |= bit;
        field->assign(as_text(sub));
        return Error::none;
    });
    return e == Error::none ? e : Error::v2_bad_ssl_tlv;
}

// Accepts a CRC32C value equal to the checksum of the whole header with those 4 bytes zeroed.
Error check_crc32c(Bytes header, std::size_t value_offset, Bytes value) {
    if (value.size() != 4) {
        return Error::v2_bad_crc32c_length;
    }
    static constexpr std::array<std::uint8_t, 4> zero{};
    std::uint32_t crc = crc32c(header.first(value_offset));
    crc = crc32c_extend(crc, zero);
    crc = crc32c_extend(crc, header.subspan(value_offset + 4));
    return crc == be32(value) ? Error::none : Error::v2_bad_crc32c;
}

// The Header field a single-valued TLV fills, or null for the others.
std::string* string_field(std::uint8_t type, Header& h) {
    switch (type) {
        case tlv_type::alpn:
            return &h.alpn;
        case tlv_type::authority:
            return &h.authority;
        case tlv_type::unique_id:
            return &h.unique_id;
        case tlv_type::netns:
            return &h.netns;
        default:
            return nullptr;
    }
}

// Accepts the TLVs after the address block: ALPN, AUTHORITY, UNIQUE_ID (at most 128 bytes),
// NETNS, SSL and CRC32C at most once each (a repeat could make two hops read two different
// values), NOOP ignored, any other type kept in other_tlvs. Rejects malformed TLVs as
// walk_tlvs does, a bad CRC32C, and a bad SSL TLV.
Error parse_tlvs(Bytes header, std::size_t offset, Header& h) {
    unsigned seen = 0;  // bit n: the single-valued type n (< 0x31) was seen
    return walk_tlvs(header, offset, [&](std::uint8_t type, std::size_t at, Bytes value) {
        if (type == tlv_type::noop) {
            return Error::none;
        }
        std::string* field = string_field(type, h);
        const bool single = field != nullptr || type == tlv_type::ssl || type == tlv_type::crc32c;
        if (!single) {
            h.other_tlvs.push_back({type, std::string(as_text(value))});
            return Error::none;
        }
        const unsigned bit = 1U << (type & 0x1F);  // 0x01-0x05, 0x20 and 0x30 stay distinct
        if ((seen & bit) != 0) {
            return Error::v2_duplicate_tlv;
        }
        seen |= bit;
        if (type == tlv_type::unique_id && value.size() > max_unique_id) {
            return Error::v2_unique_id_too_long;
        }
        if (field != nullptr) {
            field->assign(as_text(value));
            return Error::none;
        }
        if (type == tlv_type::crc32c) {
            h.crc32c = true;
            return check_crc32c(header, at, value);
        }
        return parse_ssl(value, h.ssl.emplace());
    });
}

// Accepts the v2 signature, version 2, LOCAL (whose block is skipped whatever it holds) or
// PROXY with a defined family/transport and a block at least its family's size, then TLVs
// (parse_tlvs), within limits.max_v2_length. Rejects each fixed field as soon as it arrives.
ParseResult parse_v2(Bytes bytes, const ParseLimits& limits) {
    const std::size_t signature = std::min(bytes.size(), v2_signature.size());
    if (!std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(signature),
                    v2_signature.begin())) {
        return invalid(Error::bad_signature);
    }
    if (bytes.size() <= v2_signature.size()) {
        return need_more();
    }
    const std::uint8_t command = bytes[12] & 0x0F;
    if ((bytes[12] >> 4) != 2) {
        return invalid(Error::v2_bad_version);
    }
    if (command != command_local && command != command_proxy) {
        return invalid(Error::v2_bad_command);
    }
    if (bytes.size() < 14) {
        return need_more();
    }
    const std::uint8_t family = bytes[13];
    const int block = address_block(family);
    if (command == command_proxy && block < 0) {
        return invalid(Error::v2_bad_family);
    }
    if (bytes.size() < v2_fixed_length) {
        return need_more();
    }
    const std::size_t length = be16(bytes.subspan(14));
    const std::size_t total = v2_fixed_length + length;
    if (total > limits.max_v2_length) {
        return invalid(Error::header_too_long);
    }
    if (command == command_proxy && length < static_cast<std::size_t>(block)) {
        return invalid(Error::v2_address_too_short);
    }
    if (bytes.size() < total) {
        return need_more();
    }
    Header h;
    h.version = 2;
    if (command == command_local) {
        h.local = true;
        return complete(total, std::move(h));
    }
    const Bytes header = bytes.first(total);
    decode_addresses(family, header.subspan(v2_fixed_length, static_cast<std::size_t>(block)), h);
    const Error error = parse_tlvs(header, v2_fixed_length + static_cast<std::size_t>(block), h);
    return error == Error::none ? complete(total, std::move(h)) : invalid(error);
}

}  // namespace

const char* describe(Error error) {
    switch (error) {
        case Error::none:
            return "no error";
        case Error::bad_signature:
            return "not a PROXY protocol header";
        case Error::v1_too_long:
            return "PROXY v1 line too long";
        case Error::v1_missing_crlf:
            return "PROXY v1 line not ended by CRLF";
        case Error::v1_bad_protocol:
            return "bad PROXY v1 protocol";
        case Error::v1_bad_format:
            return "bad PROXY v1 fields";
        case Error::v1_bad_address:
            return "bad PROXY v1 address";
        case Error::v1_wrong_family:
            return "PROXY v1 address of the wrong family";
        case Error::v1_bad_port:
            return "bad PROXY v1 port";
        case Error::v2_bad_version:
            return "bad PROXY v2 version";
        case Error::v2_bad_command:
            return "bad PROXY v2 command";
        case Error::v2_bad_family:
            return "bad PROXY v2 family";
        case Error::v2_address_too_short:
            return "PROXY v2 address block too short";
        case Error::v2_tlv_truncated:
            return "PROXY v2 header ends mid-TLV";
        case Error::v2_tlv_overrun:
            return "PROXY v2 TLV overruns the header";
        case Error::v2_duplicate_tlv:
            return "duplicate PROXY v2 TLV";
        case Error::v2_bad_crc32c_length:
            return "bad PROXY v2 CRC32C length";
        case Error::v2_bad_crc32c:
            return "bad PROXY v2 CRC32C";
        case Error::v2_unique_id_too_long:
            return "PROXY v2 UNIQUE_ID too long";
        case Error::v2_bad_ssl_tlv:
            return "bad PROXY v2 SSL TLV";
        case Error::header_too_long:
            return "PROXY v2 header too long";
    }
    return "unknown PROXY error";
}

ParseResult parse(std::span<const std::uint8_t> bytes, const ParseLimits& limits) {
    if (bytes.empty()) {
        return need_more();
    }
    if (bytes[0] == static_cast<std::uint8_t>(v1_signature[0])) {
        return parse_v1(bytes);
    }
    if (bytes[0] == v2_signature[0]) {
        return parse_v2(bytes, limits);
    }
    return invalid(Error::bad_signature);
}

}  // namespace tierlb::proxy_protocol
