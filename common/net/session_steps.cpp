#include "common/net/session_steps.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace tierlb::net {

using namespace std::chrono_literals;

namespace {

std::uint32_t ms(config::Duration d) {
    return static_cast<std::uint32_t>(d.count());
}

// HAProxy reads a timeout of 0 as "none".
std::optional<config::Duration> set(const std::optional<config::Duration>& d) {
    return d && d->count() > 0 ? d : std::nullopt;
}

}  // namespace

Clock::duration handshake_timeout(const config::Proxy& frontend) {
    if (const auto hs = set(frontend.timeouts.client_hs)) {
        return *hs;
    }
    if (const auto client = set(frontend.timeouts.client)) {
        return *client;
    }
    return 10s;
}

TunnelTimeouts tunnel_timeouts(const config::Proxy& frontend, const config::Proxy& backend) {
    TunnelTimeouts out;
    const auto client = set(frontend.timeouts.client);
    const auto server = set(backend.timeouts.server);
    if (set(backend.timeouts.tunnel)) {
        out.idle_ms = ms(*backend.timeouts.tunnel);
        out.idle_side = 'c';
    } else if (client && (!server || *client <= *server)) {
        out.idle_ms = ms(*client);
        out.idle_side = 'c';
    } else if (server) {
        out.idle_ms = ms(*server);
        out.idle_side = 's';
    }
    // Once one side has ended its stream, the other side's fin timeout applies if set.
    if (const auto client_fin = set(frontend.timeouts.client_fin)) {
        out.client_fin_ms = ms(*client_fin);
    }
    if (const auto server_fin = set(backend.timeouts.server_fin)) {
        out.server_fin_ms = ms(*server_fin);
    }
    return out;
}

std::string proxy_header_for(const config::Server& server, const SocketAddress& client,
                             const SocketAddress& local, const proxy_protocol::V2Extras& extras) {
    switch (server.options.send_proxy) {
        case config::SendProxy::none:
            return {};
        case config::SendProxy::v1:
            return proxy_protocol::encode_v1(&client, &local);
        case config::SendProxy::v2:
            return proxy_protocol::encode_v2(&client, &local, extras);
    }
    return {};
}

Task<bool> send_all(PlainEnd& end, std::string_view text, Clock::duration timeout) {
    while (!text.empty()) {
        const IoResult r = end.write(std::as_bytes(std::span(text.data(), text.size())));
        if (r.status == IoStatus::ok) {
            text.remove_prefix(r.bytes);
        } else if (r.status != IoStatus::want_write ||
                   !co_await wait_ready(end.watch(), writable, timeout)) {
            co_return false;
        }
    }
    co_return true;
}

}  // namespace tierlb::net
