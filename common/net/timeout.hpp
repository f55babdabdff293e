#pragma once
// The one way to bound an Asio wait: race the operation with a deadline timer (awaitable
// operators); the loser is cancelled. Used by the stats socket. Client connections wait on the
// poller instead (wait_ready in poller.hpp), and the relay has its idle wheel.

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

}  // namespace tierlb::net
