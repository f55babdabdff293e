#pragma once
// One client connection from accept to relay, the same in both tiers:
//   1. accept-proxy: the PROXY header (when the bind asks for it, and on a unix socket only
//      from a trusted peer), whose addresses become the client's;
//   2. the tier's own step (TIER::prepare): nothing for a plain frontend, the TLS handshake
//      for a worker's `ssl` bind; steps 1 and 2 share one deadline (`timeout client-hs`);
//   3. the backend's balancer chooses a server, connect with retries and redispatch;
//   4. the PROXY header towards the server (send-proxy, -v2, -v2-ssl with TIER::v2_extras),
//      sent together with the client's first bytes;
//   5. the relay, which from then on owns the connection; a worker of ours that dies before
//      answering is replaced by another (replace_lost_server).
// A failure at any step closes the connection, counts it and logs why (SessionRecord).

#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "common/balance/source_hash.hpp"
#include "common/log/event_log.hpp"
#include "common/net/connector.hpp"
#include "common/net/listener.hpp"
#include "common/net/peer_credentials.hpp"
#include "common/net/proxy_reader.hpp"
#include "common/net/runtime.hpp"
#include "common/net/session_record.hpp"
#include "common/net/session_steps.hpp"
#include "common/net/socket_ops.hpp"
#include "common/net/tunnel.hpp"

namespace tierlb::net {

struct Accepted {
    int fd = -1;         // non-blocking, owned by the session from here on
    SocketAddress peer;  // from accept()
    ConnectionSlot slot;
    ListenerRuntime* listener = nullptr;
    Clock::time_point at;
    std::unique_ptr<CloseReport> report;  // a handed-off socket's: tell its dispatcher the end
    // A handed-off socket: its dispatcher may still hold the file when the session ends.
    FileOwners owners = FileOwners::this_process;
};

// The client's addresses as the session knows them: the socket's, or a PROXY header's.
struct ClientAddresses {
    SocketAddress source;
    std::optional<SocketAddress> destination;  // looked up only when a header needs it
};

// Whether SERVER gets the same PROXY header as LOST: what was sent to one can go to the other.
inline bool same_header(const config::Server& lost, const config::Server& server) {
    return lost.options.send_proxy == server.options.send_proxy &&
           lost.options.proxy_v2 == server.options.proxy_v2;
}

// Whether SERVER's process is dead: its connections end (the kernel closes them) a moment
// before the master's death notice marks it DOWN, so wait for that a little. A worker that is
// alive and closed a connection on purpose (a client's failed handshake) stays UP.
inline Task<bool> known_dead(BackendRuntime& backend, std::size_t server) {
    Timer timer(co_await asio::this_coro::executor);
    auto pause = std::chrono::milliseconds(1);
    for (auto waited = pause * 0; waited < std::chrono::milliseconds(100); waited += pause) {
        if (!backend.view(server).up) {
            co_return true;
        }
        timer.expires_after(pause);
        co_await timer.async_wait(use_task);
        pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
    co_return !backend.view(server).up;
}

// A worker lost before it answered (it died with the connection accepted, during the
// handshake): another one takes the connection with what the lost one was sent, and the
// client notices nothing. Counted as a retry and a redispatch on the lost server; at most
// `retries` times per connection.
template <typename TunnelType>
Task<void> replace_lost_server(TunnelType& tunnel) {
    SessionRecord& record = tunnel.record();
    Replay& replay = *tunnel.replay();
    BackendRuntime& backend = *record.backend();
    const std::size_t lost = record.server();
    ServerRuntime& lost_server = backend.server(lost);
    if (replay.losses >= backend.config().retries || !co_await known_dead(backend, lost)) {
        tunnel.accept_loss();
        co_return;
    }
    tunnel.forget_server();
    add(lost_server.stats.retries);
    add(backend.retries());
    add(lost_server.stats.redispatches);
    add(backend.redispatches());
    record.count_retry(true);
    record.unassign();
    if (!co_await connect_to_backend(record, replay.source_hash, tunnel.server(), lost)) {
        tunnel.abandon();  // failed and logged
        co_return;
    }
    if (!same_header(*lost_server.config, *backend.server(record.server()).config)) {
        record.fail('S', 'D', replay.first_loss);
        tunnel.abandon();
        co_return;
    }
    tunnel.resume();
}

// The local address of a connection accepted on LISTENER: a bind on one address (not 0.0.0.0
// or ::) is it already, with no getsockname per connection.
inline SocketAddress accepted_local_address(const ListenerRuntime& listener, int fd) {
    return is_specific(listener.bound) ? listener.bound : local_address(fd);
}

// Hand-off mode: the client socket goes to the chosen server's worker, which owns the
// connection from then on. True once handed off; false when that worker cannot take it now
// (the socket is back in this process's poller, for another choice).
template <typename TunnelType>
bool give_to_worker(TunnelType& tunnel, HandoffTarget& target, const SocketAddress& peer) {
    if constexpr (!std::is_same_v<std::decay_t<decltype(tunnel.client())>, PlainEnd>) {
        return false;  // a TLS session's socket carries OpenSSL's state: never handed off
    } else {
        SessionRecord& record = tunnel.record();
        PlainEnd& client = tunnel.client();
        HandoffRequest request;
        request.fd = client.fd();
        request.client = peer;
        const ListenerRuntime& listener = record.listener();
        request.local = accepted_local_address(listener, client.fd());
        request.listener_index = listener.index;
        request.accepted = std::chrono::system_clock::now() -
                           std::chrono::duration_cast<std::chrono::system_clock::duration>(
                               Clock::now() - record.accepted());
        // Out of the poller first (when it was in): the worker keeps the socket open, so its
        // registration here would outlive this session.
        const bool watched = client.watched();
        const std::uint32_t ready = client.watch().ready;
        tunnel.poller().remove(client.watch());
        if (target.hand_off(request)) {
            client.close();  // our copy; the worker has its own
            record.handed_off();
            return true;
        }
        if (watched) {
            tunnel.poller().add(client.watch(), ready);
        } else {
            client.watch().ready = ready;
        }
        return false;
    }
}

// accept-proxy on a unix socket: a PROXY header only from a peer the bind trusts, since any
// local process can connect to an abstract name and would otherwise choose the client address
// that the logs, `balance source` and the servers believe. Anyone else is refused before a
// byte is read (HAProxy's "tcp-request connection reject"): closed, counted in dcon, and
// logged with its pid and uid, one line per 10 s with the count of the others.
inline bool trusts_peer(ListenerRuntime& listener, int fd, SessionRecord& record) {
    if (!listener.trusted_peers) {
        return true;
    }
    const auto why = untrusted_peer(fd, *listener.trusted_peers);
    if (!why) {
        return true;
    }
    add(listener.frontend->stats.denied_connections);
    add(listener.stats.denied_connections);
    if (const auto unlogged = listener.refusals.allow(log::Throttle::Clock::now())) {
        log::warning("{}: connection refused: {}, not allowed to send a PROXY header here{}",
                     listener.name, *why, log::unlogged_note(*unlogged));
    }
    record.fail_connection("Connection refused: peer not allowed to send a PROXY header", *why);
    return false;
}

struct ReplaceLostServer {
    static constexpr bool enabled = true;
    template <typename TunnelType>
    static void server_lost(TunnelType& tunnel) {
        asio::co_spawn(tunnel.executor(), replace_lost_server(tunnel), asio::detached);
    }
};

template <typename ClientEnd, typename Tier>
Task<void> run_session(ProcessState& process, Accepted accepted, Tier tier) {
    using TunnelType = Tunnel<ClientEnd, SessionRecord, ReplaceLostServer>;
    ListenerRuntime& listener = *accepted.listener;
    FrontendRuntime& frontend = *listener.frontend;
    TunnelSetup<TunnelType> tunnel(
        new TunnelType(co_await asio::this_coro::executor,
                       SessionRecord(process, listener, std::move(accepted.slot), accepted.at)));
    SessionRecord& record = tunnel->record();
    record.set_close_report(std::move(accepted.report));
    ClientAddresses client{accepted.peer, std::nullopt};
    record.set_client(client.source);
    // Readable is a guess (clients usually speak first): one read tells, and a wrong guess
    // costs one EAGAIN.
    constexpr std::uint32_t first_guess = readable | writable;
    // The socket's options and poller registration, for a connection this process serves;
    // a socket handed off as it arrives gets them from the worker.
    auto serve_here = [&](int fd) {
        if (client.source.is_inet()) {
            set_nodelay(fd);
        }
        if (frontend.config->tcpka_client) {
            set_keepalive(fd);
        }
    };
    bool deferred = false;
    if constexpr (std::is_same_v<ClientEnd, PlainEnd>) {
        // Nothing waits on the client before a hand-off unless a PROXY header is read first.
        deferred = frontend.backend != nullptr && frontend.backend->has_handoff_servers() &&
                   !listener.config->accept_proxy;
        if (deferred) {
            tunnel->client().adopt(accepted.fd, first_guess);
        }
    }
    if (!deferred) {
        if (auto ec = tunnel->client().attach(tunnel->poller(), accepted.fd, first_guess,
                                              accepted.owners)) {
            ::close(accepted.fd);
            record.fail('I', 'R', ec.message());
            co_return;
        }
        serve_here(accepted.fd);
    }

    // One deadline for the PROXY header and the TLS handshake together, as HAProxy has: a
    // peer that trickles both cannot hold the connection twice as long.
    const auto handshake_deadline = Clock::now() + handshake_timeout(*frontend.config);
    if (listener.config->accept_proxy) {
        if (!trusts_peer(listener, accepted.fd, record)) {
            co_return;
        }
        auto header =
            co_await read_proxy_header(tunnel->client().watch(), handshake_deadline - Clock::now());
        if (!header) {
            add(frontend.stats.request_errors);
            add(listener.stats.request_errors);
            record.fail_connection(header.error().message, header.error().detail);
            co_return;
        }
        // LOCAL and UNKNOWN keep the socket's own addresses.
        if (!header->local && header->source && header->destination) {
            client = {*header->source, *header->destination};
            record.set_client(client.source);
        }
    }

    if (!co_await tier.prepare(*tunnel, frontend, listener, handshake_deadline)) {
        co_return;  // the tier recorded why
    }
    record.begin_session();

    if (frontend.backend == nullptr) {
        record.fail('S', 'C', "no backend");
        co_return;
    }
    record.set_backend(*frontend.backend);
    const auto hash = balance::source_hash(client.source);
    BackendRuntime& backend = *frontend.backend;
    for (std::uint32_t refusals = 0;; ++refusals) {
        const std::size_t avoid = record.server();
        if (refusals > 0) {
            record.unassign();
        }
        if (!co_await connect_to_backend(record, hash, tunnel->server(), avoid)) {
            co_return;
        }
        HandoffTarget* handoff = backend.server(record.server()).handoff;
        if (handoff == nullptr) {
            break;  // connected: relay
        }
        if (give_to_worker(*tunnel, *handoff, accepted.peer)) {
            co_return;
        }
        // That worker could not take it now: another one, counted as a redispatch.
        ServerRuntime& refused = backend.server(record.server());
        add(refused.stats.retries);
        add(backend.retries());
        add(refused.stats.redispatches);
        add(backend.redispatches());
        record.count_retry(true);
        if (refusals >= backend.config().retries) {
            record.fail('S', 'C', "no worker could take the connection");
            co_return;
        }
    }
    if (deferred) {
        // Relayed here after all (a mixed backend chose a send-proxy server).
        if constexpr (std::is_same_v<ClientEnd, PlainEnd>) {
            if (auto ec = tunnel->client().start_watching(tunnel->poller())) {
                record.fail('I', 'R', ec.message());
                co_return;
            }
            serve_here(tunnel->client().fd());
        }
    }
    const config::Server& target = *frontend.backend->server(record.server()).config;
    if (target.role != config::ServerRole::external) {
        tunnel->enable_replay(target.role == config::ServerRole::tls_worker);
        tunnel->replay()->source_hash = hash;
    }
    if (target.options.send_proxy != config::SendProxy::none) {
        if (!client.destination) {
            client.destination = accepted_local_address(listener, tunnel->client().fd());
        }
        tunnel->prefix_to_server(proxy_header_for(target, client.source, *client.destination,
                                                  tier.v2_extras(*tunnel, target)));
    }
    tunnel.release()->start(tunnel_timeouts(*frontend.config, frontend.backend->config()));
}

}  // namespace tierlb::net
