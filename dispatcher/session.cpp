#include "dispatcher/session.hpp"

#include <unistd.h>

#include "common/balance/source_hash.hpp"
#include "common/net/connector.hpp"
#include "common/net/proxy_reader.hpp"
#include "common/net/session_record.hpp"
#include "common/net/session_steps.hpp"
#include "common/net/socket_ops.hpp"
#include "common/net/tunnel.hpp"

namespace tierlb::dispatcher {

using namespace tierlb::net;

using PlainTunnel = Tunnel<PlainEnd, SessionRecord>;

Task<void> run_session(ProcessState& process, Accepted accepted) {
    ListenerRuntime& listener = *accepted.listener;
    FrontendRuntime& frontend = *listener.frontend;
    TunnelSetup<PlainTunnel> tunnel(
        new PlainTunnel(co_await asio::this_coro::executor,
                        SessionRecord(process, listener, std::move(accepted.slot), accepted.at)));
    SessionRecord& record = tunnel->record();
    SocketAddress source = accepted.peer;
    record.set_client(source);
    // Readable is a guess (clients usually speak first): one read tells, and a wrong guess
    // costs one EAGAIN.
    if (auto ec = tunnel->client().attach(tunnel->poller(), accepted.fd, readable | writable)) {
        ::close(accepted.fd);
        record.fail('I', 'R', ec.message());
        co_return;
    }
    const int fd = accepted.fd;
    if (source.is_inet()) {
        set_nodelay(fd);
    }
    if (frontend.config->tcpka_client) {
        set_keepalive(fd);
    }

    std::optional<SocketAddress> destination;
    if (listener.config->accept_proxy) {
        auto header =
            co_await read_proxy_header(tunnel->client(), handshake_timeout(*frontend.config));
        if (!header) {
            add(frontend.stats.request_errors);
            add(listener.stats.request_errors);
            record.fail(header.error().timeout ? 'c' : 'P', 'R', header.error().reason);
            co_return;
        }
        // LOCAL and UNKNOWN keep the socket's own addresses.
        if (!header->local && header->source && header->destination) {
            source = *header->source;
            destination = *header->destination;
            record.set_client(source);
        }
    }

    if (frontend.backend == nullptr) {
        record.fail('S', 'C', "no backend");
        co_return;
    }
    record.set_backend(*frontend.backend);
    if (!co_await connect_to_backend(record, balance::source_hash(source), tunnel->server())) {
        co_return;
    }
    const config::Server& target = *frontend.backend->server(record.server()).config;
    if (target.options.send_proxy != config::SendProxy::none) {
        if (!destination) {
            destination = local_address(fd);
        }
        tunnel->prefix_to_server(proxy_header_for(target, source, *destination));
    }
    tunnel.release()->start(tunnel_timeouts(*frontend.config, frontend.backend->config()));
}

}  // namespace tierlb::dispatcher
