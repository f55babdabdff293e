#pragma once
// The one way to bound a wait: race the operation with a deadline timer (awaitable operators);
// the loser is cancelled. Used for every wait of a session's set-up (PROXY header, connect,
// TLS handshake); the relay has its own cheaper idle timer.

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <optional>
#include <tuple>
#include <utility>

#include "common/net/asio.hpp"

namespace tierlb::net {

// OP's result, or nullopt when TIMEOUT passed first.
template <typename T>
Task<std::optional<T>> with_timeout(Task<T> op, Clock::duration timeout) {
    using namespace asio::experimental::awaitable_operators;
    Timer timer(co_await asio::this_coro::executor, timeout);
    auto result = co_await (std::move(op) || timer.async_wait(use_task));
    if (result.index() == 0) {
        co_return std::get<0>(std::move(result));
    }
    co_return std::nullopt;
}

// Waits until the socket is ready for reading; false on timeout or error.
inline Task<bool> wait_readable(Socket& socket, Clock::duration timeout) {
    auto ready = co_await with_timeout(socket.async_wait(Socket::wait_read, use_task), timeout);
    co_return ready && !std::get<0>(*ready);
}

inline Task<bool> wait_writable(Socket& socket, Clock::duration timeout) {
    auto ready = co_await with_timeout(socket.async_wait(Socket::wait_write, use_task), timeout);
    co_return ready && !std::get<0>(*ready);
}

}  // namespace tierlb::net
