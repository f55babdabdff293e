#include "common/net/connector.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/net/socket_ops.hpp"
#include "common/net/timeout.hpp"

namespace tierlb::net {

using namespace std::chrono_literals;

// A non-blocking connect: a unix socket connects (or fails) at once, so most of the
// dispatcher's connects never wait; a TCP connect in progress is waited for, bounded by
// TIMEOUT.
Task<ConnectOutcome> connect_once(const SocketAddress& address,
                                  std::optional<Clock::duration> timeout) {
    ConnectOutcome outcome;
    const int fd = ::socket(address.domain(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        outcome.error = errno_text(errno);
        co_return outcome;
    }
    Socket socket(co_await asio::this_coro::executor);
    error_code ec;
    socket.assign(Protocol(address.domain(), 0), fd, ec);
    if (ec) {
        ::close(fd);
        outcome.error = ec.message();
        co_return outcome;
    }
    if (::connect(fd, address.native(), address.length()) != 0) {
        if (errno != EINPROGRESS) {
            outcome.error = errno_text(errno);  // EAGAIN: a unix backlog is full
            co_return outcome;
        }
        const bool ready = timeout ? co_await wait_writable(socket, *timeout)
                                   : !std::get<0>(co_await socket.async_wait(
                                         Socket::wait_write, use_task));
        if (!ready) {
            outcome.timed_out = timeout.has_value();
            outcome.error = timeout ? "connect timeout" : "connect failed";
            co_return outcome;
        }
        int error = 0;
        socklen_t length = sizeof(error);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            outcome.error = errno_text(error);
            co_return outcome;
        }
    }
    if (address.is_inet()) {
        set_nodelay(fd);
    }
    outcome.socket = std::move(socket);
    co_return outcome;
}

Task<std::optional<Socket>> connect_to_backend(SessionRecord& record,
                                               std::optional<std::uint32_t> source_hash) {
    BackendRuntime& backend = *record.backend();
    const config::Proxy& config = backend.config();
    const auto connect_timeout = config.timeouts.connect;
    std::size_t avoid = balance::no_server;
    std::size_t server = balance::no_server;
    Clock::duration waited{};
    for (std::uint32_t attempt = 0;; ++attempt) {
        if (server == balance::no_server) {
            const Acquired a = co_await backend.acquire(source_hash, avoid);
            waited += a.waited;
            record.set_wait(waited);
            if (a.status == AcquireStatus::no_server) {
                record.fail('S', 'C', "no server available");
                co_return std::nullopt;
            }
            if (a.status == AcquireStatus::queue_full) {
                record.fail('P', 'Q', "queue full");
                co_return std::nullopt;
            }
            if (a.status == AcquireStatus::queue_timeout) {
                record.fail('s', 'Q', "timeout in queue");
                co_return std::nullopt;
            }
            server = a.server;
            record.assign(server);
        }
        ServerRuntime& target = backend.server(server);
        const auto started = Clock::now();
        ConnectOutcome outcome = co_await connect_once(target.config->address, connect_timeout);
        if (outcome.socket) {
            record.set_connect_time(Clock::now() - started);
            if (config.tcpka_server) {
                set_keepalive(outcome.socket->native_handle());
            }
            co_return std::move(outcome.socket);
        }
        add(target.stats.connect_errors);
        add(backend.connect_errors());
        if (attempt >= config.retries) {
            record.fail(outcome.timed_out ? 's' : 'S', 'C', outcome.error);
            co_return std::nullopt;
        }
        add(target.stats.retries);
        add(backend.retries());
        record.unassign();
        const std::size_t failed = std::exchange(server, balance::no_server);
        if (config.redispatch) {
            add(target.stats.redispatches);
            add(backend.redispatches());
            record.count_retry(true);
            avoid = failed;
            continue;
        }
        record.count_retry(false);
        // HAProxy's turn-around timer: do not hammer a server that is restarting.
        Timer pause(co_await asio::this_coro::executor);
        pause.expires_after(std::min<Clock::duration>(connect_timeout.value_or(1s), 1s));
        co_await pause.async_wait(use_task);
        if (backend.take_server(failed)) {
            server = failed;
            record.assign(server);
        }
    }
}

}  // namespace tierlb::net
