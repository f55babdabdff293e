#include "common/net/proxy_reader.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <vector>

#include "common/net/buffer_pool.hpp"
#include "common/net/socket_ops.hpp"

namespace tierlb::net {

namespace {

constexpr proxy_protocol::ParseLimits limits{};

constexpr const char* not_a_header =
    "Received something which does not look like a PROXY protocol header";
constexpr const char* invalid_header = "Received an invalid PROXY protocol header";
constexpr const char* truncated = "Truncated PROXY protocol header received";
constexpr const char* closed = "Connection closed while waiting for PROXY protocol header";
constexpr const char* broken = "Connection error while waiting for PROXY protocol header";
constexpr const char* timed_out = "Timeout while waiting for PROXY protocol header";

// HAProxy's message for a parser error: not a header at all, or a header that is wrong.
const char* message_of(proxy_protocol::Error e) {
    return e == proxy_protocol::Error::bad_signature ? not_a_header : invalid_header;
}

// Discards exactly COUNT bytes known to be waiting in the socket.
bool consume(int fd, std::size_t count) {
    std::uint8_t sink[256];
    while (count > 0) {
        const ssize_t n = ::recv(fd, sink, std::min(count, sizeof(sink)), MSG_DONTWAIT);
        if (n <= 0) {
            return false;
        }
        count -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

Task<Expected<proxy_protocol::Header, ProxyHeaderError>> read_proxy_header(
    PollWatch& watch, Clock::duration timeout) {
    using Result = Expected<proxy_protocol::Header, ProxyHeaderError>;
    const int fd = watch.fd;
    const auto deadline = Clock::now() + timeout;
    std::vector<std::uint8_t> consumed;  // header bytes taken so far (a split header only)
    while (true) {
        Buffer buffer = Buffer::borrow();
        auto* bytes = reinterpret_cast<std::uint8_t*>(buffer.data());
        const std::size_t room = limits.max_v2_length - consumed.size();
        const ssize_t n = ::recv(fd, bytes, room, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) {
            co_return Result(
                unexpected(ProxyHeaderError{consumed.empty() ? closed : truncated, {}, false}));
        }
        if (n < 0) {
            buffer.release();
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                co_return Result(unexpected(ProxyHeaderError{broken, errno_text(errno), false}));
            }
            watch.ready &= ~readable;
            const auto left = deadline - Clock::now();
            if (left <= Clock::duration::zero() || !co_await wait_ready(watch, readable, left)) {
                co_return Result(unexpected(ProxyHeaderError{timed_out, {}, true}));
            }
            continue;
        }
        const std::size_t seen = static_cast<std::size_t>(n);
        std::span<const std::uint8_t> view(bytes, seen);
        if (!consumed.empty()) {
            consumed.insert(consumed.end(), bytes, bytes + seen);
            view = consumed;
        }
        proxy_protocol::ParseResult r = proxy_protocol::parse(view, limits);
        if (r.status == proxy_protocol::ParseStatus::invalid) {
            // Take what was sent, so that closing sends a FIN rather than a reset.
            consume(fd, seen);
            // "not a PROXY header" says it all; other errors name what is wrong.
            const bool says_it_all = r.error == proxy_protocol::Error::bad_signature;
            co_return Result(unexpected(ProxyHeaderError{
                message_of(r.error), says_it_all ? "" : proxy_protocol::describe(r.error), false}));
        }
        const std::size_t already = consumed.empty() ? 0 : consumed.size() - seen;
        if (r.status == proxy_protocol::ParseStatus::complete) {
            if (!consume(fd, r.consumed - already)) {
                co_return Result(unexpected(ProxyHeaderError{broken, "connection lost", false}));
            }
            co_return Result(std::move(r.header));
        }
        // Incomplete: every byte seen belongs to the header, so take them all and wait for
        // the rest.
        if (consumed.empty()) {
            consumed.assign(bytes, bytes + seen);
        }
        if (!consume(fd, seen)) {
            co_return Result(unexpected(ProxyHeaderError{broken, "connection lost", false}));
        }
    }
}

}  // namespace tierlb::net
