#include "common/handoff/message.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace tierlb::handoff {

namespace {

enum class Type : std::uint8_t {
    hand_off = 1,
    check = 2,
    accepted = 3,
    closed = 4,
    check_ok = 5,
    leaving = 6
};

constexpr std::size_t head_size = 4;
constexpr std::size_t address_size = 1 + 16 + 2;

class Writer {
public:
    // The head's bytes come first, filled in by finish() once the body's length is known.
    Writer() : bytes_(head_size, 0) {}

    void u8(std::uint8_t v) { bytes_.push_back(v); }
    void u16(std::uint16_t v) { little_endian(v, 2); }
    void u32(std::uint32_t v) { little_endian(v, 4); }
    void u64(std::uint64_t v) { little_endian(v, 8); }
    void raw(const void* data, std::size_t n) {
        const auto* p = static_cast<const std::uint8_t*>(data);
        bytes_.insert(bytes_.end(), p, p + n);
    }

    // Family 4 or 6, the address in network order padded to 16 bytes, the port; or all zero
    // for a missing (or unix) address.
    void address(const std::optional<SocketAddress>& a) {
        std::uint8_t bytes[16] = {};
        std::uint8_t family = 0;
        std::uint16_t port = 0;
        if (a && a->family() == AddressFamily::ipv4) {
            family = 4;
            const auto* in = reinterpret_cast<const sockaddr_in*>(a->native());
            std::memcpy(bytes, &in->sin_addr, 4);
            port = a->port();
        } else if (a && a->family() == AddressFamily::ipv6) {
            family = 6;
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->native());
            std::memcpy(bytes, &in6->sin6_addr, 16);
            port = a->port();
        }
        u8(family);
        raw(bytes, sizeof(bytes));
        u16(port);
    }

    std::vector<std::uint8_t> finish(Type type) {
        const auto length = static_cast<std::uint16_t>(bytes_.size() - head_size);
        bytes_[0] = protocol_version;
        bytes_[1] = static_cast<std::uint8_t>(type);
        bytes_[2] = static_cast<std::uint8_t>(length & 0xff);
        bytes_[3] = static_cast<std::uint8_t>(length >> 8);
        return std::move(bytes_);
    }

private:
    void little_endian(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) {
            bytes_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        }
    }
    std::vector<std::uint8_t> bytes_;
};

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> body) : body_(body) {}

    std::uint8_t u8() { return static_cast<std::uint8_t>(little_endian(1)); }
    std::uint16_t u16() { return static_cast<std::uint16_t>(little_endian(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(little_endian(4)); }
    std::uint64_t u64() { return little_endian(8); }

    // False when the family byte is none of 0, 4, 6.
    bool address(std::optional<SocketAddress>& out) {
        const std::uint8_t family = u8();
        const std::span<const std::uint8_t> bytes = body_.subspan(at_, 16);
        at_ += 16;
        const std::uint16_t port = u16();
        if (family == 4) {
            sockaddr_in in{};
            in.sin_family = AF_INET;
            in.sin_port = htons(port);
            std::memcpy(&in.sin_addr, bytes.data(), 4);
            out = SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&in), sizeof(in));
        } else if (family == 6) {
            sockaddr_in6 in6{};
            in6.sin6_family = AF_INET6;
            in6.sin6_port = htons(port);
            std::memcpy(&in6.sin6_addr, bytes.data(), 16);
            out = SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&in6), sizeof(in6));
        } else if (family != 0) {
            return false;
        }
        return true;
    }

private:
    std::uint64_t little_endian(int n) {
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) {
            v |= static_cast<std::uint64_t>(body_[at_ + static_cast<std::size_t>(i)]) << (8 * i);
        }
        at_ += static_cast<std::size_t>(n);
        return v;
    }
    std::span<const std::uint8_t> body_;
    std::size_t at_ = 0;
};

// The body length each type must have: they are all fixed.
std::optional<std::size_t> body_size(Type type) {
    switch (type) {
        case Type::hand_off: return 8 + 4 + 8 + 2 * address_size;
        case Type::check:
        case Type::accepted:
        case Type::check_ok:
        case Type::leaving: return 8;
        case Type::closed: return 8 + 4 + 8 + address_size + 8 + 8 + 4 + 2 + 8;
    }
    return std::nullopt;
}

}  // namespace

std::vector<std::uint8_t> encode(const Message& message) {
    Writer w;
    return std::visit(
        [&w](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            w.u64(m.id);
            if constexpr (std::is_same_v<T, HandOff>) {
                w.u32(m.listener_id);
                w.u64(m.accepted_unix_ms);
                w.address(m.client);
                w.address(m.local);
                return w.finish(Type::hand_off);
            } else if constexpr (std::is_same_v<T, Check>) {
                return w.finish(Type::check);
            } else if constexpr (std::is_same_v<T, Accepted>) {
                return w.finish(Type::accepted);
            } else if constexpr (std::is_same_v<T, Closed>) {
                w.u32(m.listener_id);
                w.u64(m.accepted_unix_ms);
                w.address(m.client);
                w.u64(m.bytes_in);
                w.u64(m.bytes_out);
                w.u32(m.duration_ms);
                w.raw(m.termination.data(), 2);
                w.u64(m.taken_through);
                return w.finish(Type::closed);
            } else if constexpr (std::is_same_v<T, CheckOk>) {
                return w.finish(Type::check_ok);
            } else {
                return w.finish(Type::leaving);
            }
        },
        message);
}

Expected<Message, std::string> decode(std::span<const std::uint8_t> datagram) {
    if (datagram.size() < head_size) {
        return unexpected("a message of " + std::to_string(datagram.size()) + " bytes");
    }
    if (datagram[0] != protocol_version) {
        return unexpected("protocol version " + std::to_string(datagram[0]) + ", expected " +
                          std::to_string(protocol_version));
    }
    const auto type = static_cast<Type>(datagram[1]);
    const std::size_t length = datagram[2] | (static_cast<std::size_t>(datagram[3]) << 8);
    const auto expected = body_size(type);
    if (!expected) {
        return unexpected("unknown message type " + std::to_string(datagram[1]));
    }
    if (length != *expected || datagram.size() != head_size + length) {
        return unexpected("a message of type " + std::to_string(datagram[1]) + " with " +
                          std::to_string(datagram.size() - head_size) + " bytes, expected " +
                          std::to_string(*expected));
    }
    Reader r(datagram.subspan(head_size));
    const std::uint64_t id = r.u64();
    switch (type) {
        case Type::hand_off: {
            HandOff m{id, r.u32(), r.u64(), {}, {}};
            if (!r.address(m.client) || !r.address(m.local)) {
                return unexpected("an address family that does not exist");
            }
            return Message(std::move(m));
        }
        case Type::check: return Message(Check{id});
        case Type::accepted: return Message(Accepted{id});
        case Type::check_ok: return Message(CheckOk{id});
        case Type::leaving: return Message(Leaving{id});
        case Type::closed: {
            Closed m{id, r.u32(), r.u64(), {}, 0, 0, 0, {}, 0};
            if (!r.address(m.client)) {
                return unexpected("an address family that does not exist");
            }
            m.bytes_in = r.u64();
            m.bytes_out = r.u64();
            m.duration_ms = r.u32();
            m.termination[0] = static_cast<char>(r.u8());
            m.termination[1] = static_cast<char>(r.u8());
            m.taken_through = r.u64();
            return Message(m);
        }
    }
    return unexpected("unknown message type");
}

}  // namespace tierlb::handoff
