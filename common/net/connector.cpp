#include "common/net/connector.hpp"

#include "common/net/socket_ops.hpp"
#include "common/net/timeout.hpp"

namespace tierlb::net {

using namespace std::chrono_literals;

Task<ConnectOutcome> connect_once(const SocketAddress& address,
                                  std::optional<Clock::duration> timeout) {
    ConnectOutcome outcome;
    Socket socket(co_await asio::this_coro::executor);
    error_code ec;
    socket.open(Protocol(address.domain(), 0), ec);
    if (ec) {
        outcome.error = ec.message();
        co_return outcome;
    }
    const Protocol::endpoint endpoint(address.native(), address.length());
    if (timeout) {
        auto result = co_await with_timeout(socket.async_connect(endpoint, use_task), *timeout);
        if (!result) {
            outcome.timed_out = true;
            outcome.error = "connect timeout";
            co_return outcome;
        }
        ec = std::get<0>(*result);
    } else {
        std::tie(ec) = co_await socket.async_connect(endpoint, use_task);
    }
    if (ec) {
        outcome.error = ec.message();
        co_return outcome;
    }
    if (address.is_inet()) {
        set_nodelay(socket.native_handle());
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
