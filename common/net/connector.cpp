#include "common/net/connector.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/net/poller.hpp"
#include "common/net/socket_ops.hpp"

namespace tierlb::net {

using namespace std::chrono_literals;

namespace {

// A TCP connect that reported EINPROGRESS may already be complete (loopback, or a fast
// network): asking costs one call, waiting for the event costs a turn of the event loop.
bool established(int fd) {
    tcp_info info{};
    socklen_t length = sizeof(info);
    return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) == 0 &&
           info.tcpi_state == TCP_ESTABLISHED;
}

}  // namespace

Task<ConnectOutcome> connect_once(const SocketAddress& address,
                                  std::optional<Clock::duration> timeout, PlainEnd& end) {
    ConnectOutcome outcome;
    const int fd = ::socket(address.domain(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        const int error = errno;
        outcome.error = errno_text(error);
        outcome.out_of_resources =
            error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
        co_return outcome;
    }
    if (auto ec = end.attach(Poller::of(co_await asio::this_coro::executor), fd, 0)) {
        end.close();
        outcome.error = ec.message();
        co_return outcome;
    }
    if (::connect(fd, address.native(), address.length()) == 0) {
        end.watch().ready |= writable;
    } else if (errno != EINPROGRESS) {
        outcome.error = errno_text(errno);  // EAGAIN: a unix backlog is full
        end.close();
        co_return outcome;
    } else if (established(fd)) {
        end.watch().ready |= writable;  // loopback: done within connect() already
    } else {
        const bool ready = co_await wait_ready(end.watch(), writable,
                                               timeout.value_or(std::chrono::hours(24 * 365)));
        int error = 0;
        socklen_t length = sizeof(error);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (!ready || error != 0) {
            outcome.timed_out = !ready;
            outcome.error = ready ? errno_text(error) : "connect timeout";
            end.close();
            co_return outcome;
        }
    }
    if (address.is_inet()) {
        set_nodelay(fd);
    }
    outcome.connected = true;
    co_return outcome;
}

namespace {

// How long a connection waits for a descriptor: as long as it would wait in the queue for a
// server (`timeout queue`, else `timeout connect`), 1 s when neither is set.
Clock::duration descriptor_wait(const config::Proxy& backend) {
    const auto& t = backend.timeouts;
    const auto timeout = t.queue ? t.queue : t.connect;
    return timeout ? Clock::duration(*timeout) : Clock::duration(1s);
}

// connect_once, except that a process out of descriptors (or memory) is not the server's
// fault, and another server would fail alike: the connection waits for one, trying again
// every 25 ms (the first failure pauses its listener, so no more clients are accepted
// meanwhile). A client accepted as the last descriptors went waits rather than be dropped.
Task<ConnectOutcome> connect_when_possible(SessionRecord& record, const SocketAddress& address,
                                           PlainEnd& end) {
    const config::Proxy& config = record.backend()->config();
    std::optional<Clock::time_point> give_up;
    while (true) {
        ConnectOutcome outcome = co_await connect_once(address, config.timeouts.connect, end);
        if (!outcome.out_of_resources) {
            co_return outcome;
        }
        if (!give_up) {
            give_up = Clock::now() + descriptor_wait(config);
            if (Listener* listener = record.listener().listener.get()) {
                listener->resources_short("connect: " + outcome.error);
            }
        }
        if (Clock::now() >= *give_up) {
            co_return outcome;
        }
        Timer pause(co_await asio::this_coro::executor);
        pause.expires_after(25ms);
        co_await pause.async_wait(use_task);
    }
}

}  // namespace

Task<bool> connect_to_backend(SessionRecord& record, std::optional<std::uint32_t> source_hash,
                              PlainEnd& server_end, std::size_t avoid) {
    BackendRuntime& backend = *record.backend();
    const config::Proxy& config = backend.config();
    const auto connect_timeout = config.timeouts.connect;
    std::size_t server = balance::no_server;
    Clock::duration waited{};
    for (std::uint32_t attempt = 0;; ++attempt) {
        if (server == balance::no_server) {
            const Acquired a = co_await backend.acquire(source_hash, avoid);
            waited += a.waited;
            record.set_wait(waited);
            if (a.status == AcquireStatus::no_server) {
                record.fail('S', 'C', "no server available");
                co_return false;
            }
            if (a.status == AcquireStatus::queue_full) {
                record.fail('P', 'Q', "queue full");
                co_return false;
            }
            if (a.status == AcquireStatus::queue_timeout) {
                record.fail('s', 'Q', "timeout in queue");
                co_return false;
            }
            server = a.server;
            record.assign(server);
        }
        ServerRuntime& target = backend.server(server);
        if (target.handoff != nullptr) {
            co_return true;  // nothing to connect: the caller hands the socket over
        }
        const auto started = Clock::now();
        const ConnectOutcome outcome =
            co_await connect_when_possible(record, target.config->address, server_end);
        if (outcome.connected) {
            record.set_connect_time(Clock::now() - started);
            if (config.tcpka_server) {
                set_keepalive(server_end.fd());
            }
            co_return true;
        }
        if (outcome.out_of_resources) {
            // HAProxy's "RC": a resource of the proxy ran out during the connect.
            record.fail('R', 'C', outcome.error);
            co_return false;
        }
        add(target.stats.connect_errors);
        add(backend.connect_errors());
        if (attempt >= config.retries) {
            record.fail(outcome.timed_out ? 's' : 'S', 'C', outcome.error);
            co_return false;
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
