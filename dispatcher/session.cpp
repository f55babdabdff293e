#include "dispatcher/session.hpp"

namespace tierlb::dispatcher {

namespace {

// A plain frontend has no step of its own, and no TLS facts for send-proxy-v2-ssl (whose SSL
// TLV then says: not TLS).
struct PlainTier {
    template <typename TunnelType>
    net::Task<bool> prepare(TunnelType&, net::FrontendRuntime&, net::ListenerRuntime&,
                            net::Clock::time_point) {
        co_return true;
    }
    template <typename TunnelType>
    proxy_protocol::V2Extras v2_extras(TunnelType&, const config::Server& server) {
        proxy_protocol::V2Extras extras;
        if (server.options.proxy_v2.ssl) {
            extras.ssl = proxy_protocol::SslInfo{};
        }
        extras.crc32c = server.options.proxy_v2.crc32c;
        return extras;
    }
};

}  // namespace

net::Task<void> run_session(net::ProcessState& process, net::Accepted accepted) {
    return net::run_session<net::PlainEnd>(process, std::move(accepted), PlainTier{});
}

}  // namespace tierlb::dispatcher
