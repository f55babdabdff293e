#pragma once
// One client connection from accept to relay, the same in both tiers:
//   1. accept-proxy: the PROXY header (when the bind asks for it), whose addresses become the
//      client's;
//   2. the tier's own step (TIER::prepare): nothing for a plain frontend, the TLS handshake
//      for a worker's `ssl` bind;
//   3. the backend's balancer chooses a server, connect with retries and redispatch;
//   4. the PROXY header towards the server (send-proxy, -v2, -v2-ssl with TIER::v2_extras),
//      sent together with the client's first bytes;
//   5. the relay, which from then on owns the connection.
// A failure at any step closes the connection, counts it and logs why (SessionRecord).

#include <unistd.h>

#include <optional>
#include <string>

#include "common/balance/source_hash.hpp"
#include "common/net/connector.hpp"
#include "common/net/listener.hpp"
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
};

// The client's addresses as the session knows them: the socket's, or a PROXY header's.
struct ClientAddresses {
    SocketAddress source;
    std::optional<SocketAddress> destination;  // looked up only when a header needs it
};

template <typename ClientEnd, typename Tier>
Task<void> run_session(ProcessState& process, Accepted accepted, Tier tier) {
    using TunnelType = Tunnel<ClientEnd, SessionRecord>;
    ListenerRuntime& listener = *accepted.listener;
    FrontendRuntime& frontend = *listener.frontend;
    TunnelSetup<TunnelType> tunnel(
        new TunnelType(co_await asio::this_coro::executor,
                       SessionRecord(process, listener, std::move(accepted.slot), accepted.at)));
    SessionRecord& record = tunnel->record();
    ClientAddresses client{accepted.peer, std::nullopt};
    record.set_client(client.source);
    // Readable is a guess (clients usually speak first): one read tells, and a wrong guess
    // costs one EAGAIN.
    if (auto ec = tunnel->client().attach(tunnel->poller(), accepted.fd, readable | writable)) {
        ::close(accepted.fd);
        record.fail('I', 'R', ec.message());
        co_return;
    }
    if (client.source.is_inet()) {
        set_nodelay(accepted.fd);
    }
    if (frontend.config->tcpka_client) {
        set_keepalive(accepted.fd);
    }

    if (listener.config->accept_proxy) {
        auto header = co_await read_proxy_header(tunnel->client().watch(),
                                                 handshake_timeout(*frontend.config));
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

    if (!co_await tier.prepare(*tunnel, frontend, listener)) {
        co_return;  // the tier recorded why
    }
    record.begin_session();

    if (frontend.backend == nullptr) {
        record.fail('S', 'C', "no backend");
        co_return;
    }
    record.set_backend(*frontend.backend);
    if (!co_await connect_to_backend(record, balance::source_hash(client.source),
                                     tunnel->server())) {
        co_return;
    }
    const config::Server& target = *frontend.backend->server(record.server()).config;
    if (target.options.send_proxy != config::SendProxy::none) {
        if (!client.destination) {
            client.destination = local_address(tunnel->client().fd());
        }
        tunnel->prefix_to_server(proxy_header_for(target, client.source, *client.destination,
                                                  tier.v2_extras(*tunnel, target)));
    }
    tunnel.release()->start(tunnel_timeouts(*frontend.config, frontend.backend->config()));
}

}  // namespace tierlb::net
