#include "dispatcher/session.hpp"

#include "common/balance/source_hash.hpp"
#include "common/net/connector.hpp"
#include "common/net/proxy_reader.hpp"
#include "common/net/session_record.hpp"
#include "common/net/session_steps.hpp"
#include "common/net/socket_ops.hpp"
#include "common/net/tunnel.hpp"

namespace tierlb::dispatcher {

using namespace tierlb::net;

Task<void> run_session(ProcessState& process, Accepted accepted) {
    ListenerRuntime& listener = *accepted.listener;
    FrontendRuntime& frontend = *listener.frontend;
    SessionRecord record(process, listener, std::move(accepted.slot), accepted.at);
    Socket& client = accepted.client;
    const int fd = client.native_handle();
    SocketAddress source = peer_address(fd);
    SocketAddress destination = local_address(fd);
    if (source.is_inet()) {
        set_nodelay(fd);
    }
    if (frontend.config->tcpka_client) {
        set_keepalive(fd);
    }

    if (listener.config->accept_proxy) {
        auto header = co_await read_proxy_header(client, handshake_timeout(*frontend.config));
        if (!header) {
            add(frontend.stats.request_errors);
            add(listener.stats.request_errors);
            record.set_client(source);
            record.fail(header.error().timeout ? 'c' : 'P', 'R', header.error().reason);
            co_return;
        }
        // LOCAL and UNKNOWN keep the socket's own addresses.
        if (!header->local && header->source && header->destination) {
            source = *header->source;
            destination = *header->destination;
        }
    }
    record.set_client(source);

    if (frontend.backend == nullptr) {
        record.fail('S', 'C', "no backend");
        co_return;
    }
    record.set_backend(*frontend.backend);
    const auto hash = balance::source_hash(source);
    std::optional<Socket> server = co_await connect_to_backend(record, hash);
    if (!server) {
        co_return;
    }
    const config::Server& target = *frontend.backend->server(record.server()).config;
    const std::string header = proxy_header_for(target, source, destination);
    if (!header.empty() && !co_await send_all(*server, header)) {
        record.fail('S', 'C', "cannot send the PROXY header");
        co_return;
    }
    Tunnel<PlainEnd, SessionRecord>::start(
        PlainEnd(std::move(client)), std::move(*server),
        tunnel_timeouts(*frontend.config, frontend.backend->config()), std::move(record));
}

}  // namespace tierlb::dispatcher
