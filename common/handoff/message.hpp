#pragma once
// The messages of hand-off mode's control connection (INTERFACE.md section 6), one per
// SOCK_SEQPACKET datagram, so that a message and the socket it carries (SCM_RIGHTS) arrive
// together or not at all.
//
// Dispatcher to worker:
//   hand_off  a client socket (attached), its id, the dispatcher's listener id, its addresses
//   check     a health check the worker answers from its event loop (a hung worker does not)
// Worker to dispatcher:
//   accepted  the sockets of every hand_off up to ID are the worker's now (they leave the
//             in-flight count). Cumulative, and sent late: a closed report carries the same
//             news, so a worker whose connections end quickly seldom sends one (each message
//             wakes the dispatcher)
//   closed    connection ID has ended, with its figures: the dispatcher releases its count on
//             the server and logs it as it would have logged a relayed connection; and, as
//             accepted, every hand_off up to TAKEN_THROUGH is the worker's
//   check_ok  the answer to check ID
//   leaving   the worker stops (soft stop, reload): the dispatcher connects again at once,
//             reaching whichever process now accepts on the name, without marking it DOWN
//
// Layout: a 4-byte head (version, type, body length little-endian), then the body, integers
// little-endian, addresses as family (0 none, 4, 6), 16 address bytes, port. Pure code: bytes
// in, a message or an error out.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/address.hpp"
#include "common/expected.hpp"

namespace tierlb::handoff {

inline constexpr std::uint8_t protocol_version = 1;
inline constexpr std::size_t max_message = 256;  // every message is far smaller

struct HandOff {
    std::uint64_t id = 0;
    std::uint32_t listener_id = 0;        // the dispatcher's listener, echoed in Closed
    std::uint64_t accepted_unix_ms = 0;   // when the dispatcher accepted it
    std::optional<SocketAddress> client;  // the socket's own, for the worker's checks
    std::optional<SocketAddress> local;
    friend bool operator==(const HandOff&, const HandOff&) = default;
};

struct Check {
    std::uint64_t id = 0;
    friend bool operator==(const Check&, const Check&) = default;
};

struct Accepted {
    std::uint64_t id = 0;
    friend bool operator==(const Accepted&, const Accepted&) = default;
};

// What the dispatcher needs to log a handed-off connection like a relayed one.
struct Closed {
    std::uint64_t id = 0;
    std::uint32_t listener_id = 0;       // as HandOff said
    std::uint64_t accepted_unix_ms = 0;  // as HandOff said
    std::optional<SocketAddress> client;
    std::uint64_t bytes_in = 0;   // from the client
    std::uint64_t bytes_out = 0;  // to the client
    std::uint32_t duration_ms = 0;  // from the dispatcher's accept to the end
    std::array<char, 2> termination{'-', '-'};
    std::uint64_t taken_through = 0;  // as Accepted's id: every hand-off up to it is taken
    friend bool operator==(const Closed&, const Closed&) = default;
};

struct CheckOk {
    std::uint64_t id = 0;
    friend bool operator==(const CheckOk&, const CheckOk&) = default;
};

struct Leaving {
    std::uint64_t id = 0;  // unused
    friend bool operator==(const Leaving&, const Leaving&) = default;
};

using Message = std::variant<HandOff, Check, Accepted, Closed, CheckOk, Leaving>;

// The datagram of MESSAGE (at most max_message bytes).
std::vector<std::uint8_t> encode(const Message& message);

// The message in one datagram; an error names what is wrong (unknown version or type, a
// length that does not match, an address family that does not exist).
Expected<Message, std::string> decode(std::span<const std::uint8_t> datagram);

}  // namespace tierlb::handoff
