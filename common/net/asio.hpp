#pragma once
// The Asio types the runtime uses. Sockets and timers are bound to io_context's own executor
// rather than any_io_executor: each connection lives on one io_context (one thread), and the
// concrete executor makes every socket 40 bytes instead of 88, which counts per idle
// connection. generic::stream_protocol carries TCP and unix sockets alike.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace tierlb::net {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

using Executor = asio::io_context::executor_type;
using Protocol = asio::generic::stream_protocol;
using Socket = asio::basic_stream_socket<Protocol, Executor>;
using Acceptor = asio::basic_socket_acceptor<Protocol, Executor>;
using Clock = std::chrono::steady_clock;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;

template <typename T = void>
using Task = asio::awaitable<T, Executor>;

// Completion token for coroutines on our executor: errors are returned as values.
inline constexpr auto use_task = asio::as_tuple(asio::use_awaitable_t<Executor>{});

}  // namespace tierlb::net
