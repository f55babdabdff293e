#include "worker/tls_session.hpp"

#include <openssl/x509.h>

#include <string>

#include "worker/tls_end.hpp"

namespace tierlb::worker {

namespace {

using net::Task;

// The first CN of a certificate's subject, or "".
std::string common_name(X509* cert) {
    X509_NAME* subject = X509_get_subject_name(cert);
    const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at < 0) {
        return "";
    }
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                       static_cast<std::size_t>(ASN1_STRING_length(value)));
}

// The local certificate's signature algorithm as HAProxy names it in the SSL TLV:
// OpenSSL's short name, "ecdsa-with-SHA256", "RSA-SHA256".
std::string certificate_signature(X509* cert) {
    const int nid = X509_get_signature_nid(cert);
    const char* name = nid != NID_undef ? OBJ_nid2sn(nid) : nullptr;
    return name != nullptr ? name : "";
}

// The local certificate's key as HAProxy names it: family and bits, "EC256", "RSA2048".
std::string certificate_key(X509* cert) {
    EVP_PKEY* key = X509_get0_pubkey(cert);
    if (key == nullptr) {
        return "";
    }
    const char* family = nullptr;
    switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_RSA:
            family = "RSA";
            break;
        case EVP_PKEY_EC:
            family = "EC";
            break;
        case EVP_PKEY_DSA:
            family = "DSA";
            break;
        default:
            return "";  // HAProxy sends no KEY_ALG for other keys either
    }
    return family + std::to_string(EVP_PKEY_get_bits(key));
}

struct TlsTier {
    const BindTls* tls;

    template <typename TunnelType>
    Task<bool> prepare(TunnelType& tunnel, net::FrontendRuntime& frontend,
                       net::ListenerRuntime& listener, net::Clock::time_point deadline) {
        net::SessionRecord& record = tunnel.record();
        SSL* ssl = tls->new_connection();
        if (ssl == nullptr) {
            record.fail_connection("SSL handshake failure", openssl_errors());
            co_return false;
        }
        TlsEnd& client = tunnel.client();
        client.begin(ssl, &net::IdleWheel::of(tunnel.executor()));
        record.set_tls(true);
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
            record.fail_connection(failure_message(client, r), client.describe(r));
            co_return false;
        }
        net::add(frontend.stats.tls_handshakes);
        const bool resumed = SSL_session_reused(ssl) == 1;
        record.tls_established(resumed);
        if (resumed) {
            net::add(frontend.stats.tls_resumed);
        }
        co_return true;
    }

    // HAProxy's words: a connection that ends before the ClientHello was read is "closed"
    // (end of stream) or "error" (reset) -- both kept out of the log by dontlognull -- and
    // anything later is a handshake failure.
    static const char* failure_message(const TlsEnd& client, const net::IoResult& r) {
        if (SSL_get_state(client.ssl()) != TLS_ST_BEFORE) {
            return "SSL handshake failure";
        }
        if (r.status == net::IoStatus::eof) {
            return "Connection closed during SSL handshake";
        }
        return r.error != 0 ? "Connection error during SSL handshake" : "SSL handshake failure";
    }

    // Counted as HAProxy counts them: in ssl_failed_handshake only, not in ereq.
    static void count_failure(net::FrontendRuntime& frontend, net::ListenerRuntime&) {
        net::add(frontend.stats.tls_failed_handshakes);
    }

    // A v2 header's TLS facts, as HAProxy sends them: the ALPN chosen always, the rest as
    // proxy-v2-options (or send-proxy-v2-ssl[-cn]) ask -- so that the server learns them
    // through both tiers.
    template <typename TunnelType>
    proxy_protocol::V2Extras v2_extras(TunnelType& tunnel, const config::Server& server) {
        const config::ProxyV2Options& wanted = server.options.proxy_v2;
        SSL* ssl = tunnel.client().ssl();
        proxy_protocol::V2Extras extras;
        extras.crc32c = wanted.crc32c;
        const unsigned char* alpn = nullptr;
        unsigned alpn_length = 0;
        SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
        extras.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
        if (wanted.authority) {
            if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
                extras.authority = name;
            }
        }
        if (wanted.ssl) {
            extras.ssl = ssl_facts(ssl, wanted);
        }
        return extras;
    }

    static proxy_protocol::SslInfo ssl_facts(SSL* ssl, const config::ProxyV2Options& wanted) {
        proxy_protocol::SslInfo info;
        info.client_flags = proxy_protocol::ssl_client::ssl;
        info.version = SSL_get_version(ssl);
        if (X509* peer = SSL_get0_peer_certificate(ssl)) {
            // A client certificate in this session; sent on this connection unless resumed.
            info.client_flags |= proxy_protocol::ssl_client::cert_sess;
            if (SSL_session_reused(ssl) == 0) {
                info.client_flags |= proxy_protocol::ssl_client::cert_conn;
            }
            info.verify = static_cast<std::uint32_t>(SSL_get_verify_result(ssl));
            if (wanted.cert_cn) {
                info.common_name = common_name(peer);
            }
        }
        if (wanted.ssl_cipher) {
            info.cipher = SSL_get_cipher_name(ssl);
        }
        if (X509* cert = SSL_get_certificate(ssl)) {
            if (wanted.cert_sig) {
                info.signature_algorithm = certificate_signature(cert);
            }
            if (wanted.cert_key) {
                info.key_algorithm = certificate_key(cert);
            }
        }
        return info;
    }
};

}  // namespace

net::Task<void> run_tls_session(net::ProcessState& process, net::Accepted accepted,
                                const BindTls& tls) {
    return net::run_session<TlsEnd>(process, std::move(accepted), TlsTier{&tls});
}

}  // namespace tierlb::worker
