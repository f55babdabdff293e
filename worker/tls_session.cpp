#include "worker/tls_session.hpp"

#include "worker/tls_end.hpp"

namespace tierlb::worker {

namespace {

using net::Task;

struct TlsTier {
    const BindTls* tls;

    template <typename TunnelType>
    Task<bool> prepare(TunnelType& tunnel, net::FrontendRuntime& frontend,
                       net::ListenerRuntime& listener) {
        net::SessionRecord& record = tunnel.record();
        SSL* ssl = tls->new_connection();
        if (ssl == nullptr) {
            record.fail_connection("SSL handshake failure", openssl_errors());
            co_return false;
        }
        TlsEnd& client = tunnel.client();
        client.begin(ssl);
        record.set_tls(true);
        const auto deadline = net::Clock::now() + net::handshake_timeout(*frontend.config);
        while (true) {
            const net::IoResult r = client.handshake();
            if (r.status == net::IoStatus::ok) {
                break;
            }
            if (r.status == net::IoStatus::want_read || r.status == net::IoStatus::want_write) {
                const auto left = deadline - net::Clock::now();
                const auto what =
                    r.status == net::IoStatus::want_read ? net::readable : net::writable;
                if (left > net::Clock::duration::zero() &&
                    co_await net::wait_ready(client.watch(), what, left)) {
                    continue;
                }
                count_failure(frontend, listener);
                record.fail_connection("Timeout during SSL handshake", {});
                co_return false;
            }
            count_failure(frontend, listener);
            record.fail_connection(r.status == net::IoStatus::eof
                                       ? "Connection closed during SSL handshake"
                                       : "SSL handshake failure",
                                   client.describe(r));
            co_return false;
        }
        net::add(frontend.stats.tls_handshakes);
        record.tls_established();
        if (SSL_session_reused(ssl) == 1) {
            net::add(frontend.stats.tls_resumed);
        }
        co_return true;
    }

    static void count_failure(net::FrontendRuntime& frontend, net::ListenerRuntime& listener) {
        net::add(frontend.stats.tls_failed_handshakes);
        net::add(frontend.stats.request_errors);
        net::add(listener.stats.request_errors);
    }

    // send-proxy-v2-ssl: the SSL TLV (version, cipher, algorithms), the ALPN chosen and the
    // name the client asked for (AUTHORITY), so that the server learns them through both
    // tiers.
    template <typename TunnelType>
    proxy_protocol::V2Extras v2_extras(TunnelType& tunnel, const config::Server& server) {
        proxy_protocol::V2Extras extras;
        if (server.options.send_proxy != config::SendProxy::v2_ssl) {
            return extras;
        }
        SSL* ssl = tunnel.client().ssl();
        proxy_protocol::SslInfo info;
        info.client_flags = proxy_protocol::ssl_client::ssl;
        info.version = SSL_get_version(ssl);
        info.cipher = SSL_get_cipher_name(ssl);
        int nid = NID_undef;
        if (SSL_get_signature_nid(ssl, &nid) == 1 && nid != NID_undef) {
            info.signature_algorithm = OBJ_nid2sn(nid);
        }
        if (X509* cert = SSL_get_certificate(ssl)) {
            if (EVP_PKEY* key = X509_get0_pubkey(cert)) {
                info.key_algorithm = std::string(OBJ_nid2sn(EVP_PKEY_get_base_id(key))) +
                                     std::to_string(EVP_PKEY_get_bits(key));
            }
        }
        extras.ssl = info;
        const unsigned char* alpn = nullptr;
        unsigned alpn_length = 0;
        SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
        extras.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
        if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
            extras.authority = name;
        }
        return extras;
    }
};

}  // namespace

net::Task<void> run_tls_session(net::ProcessState& process, net::Accepted accepted,
                                const BindTls& tls) {
    return net::run_session<TlsEnd>(process, std::move(accepted), TlsTier{&tls});
}

}  // namespace tierlb::worker
