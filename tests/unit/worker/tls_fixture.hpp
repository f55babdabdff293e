#pragma once
// Test helpers for the TLS code: self-signed certificates made in memory and written to a
// temporary PEM, and in-memory handshakes (socket pairs) between a test client and a server
// context.

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "worker/ticket_keys.hpp"
#include "worker/tls_context.hpp"

namespace tls_fixture {

// A self-signed ECDSA certificate for CN with the DNS names SANS, as a PEM file (cert + key).
class Certificate {
public:
    explicit Certificate(const std::string& cn, const std::vector<std::string>& sans = {},
                         bool key_beside = false) {
        static int counter = 0;
        path =
            (std::filesystem::temp_directory_path() / ("tierlb-test-" + std::to_string(::getpid()) +
                                                       "-" + std::to_string(++counter) + ".pem"))
                .string();
        EVP_PKEY* key = EVP_EC_gen("P-256");
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), counter);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, key);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509_set_issuer_name(x, name);
        if (!sans.empty()) {
            std::string list;
            for (const auto& s : sans) {
                list += (list.empty() ? "DNS:" : ",DNS:") + s;
            }
            X509_EXTENSION* ext =
                X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, list.c_str());
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        X509_sign(x, key, EVP_sha256());
        FILE* f = std::fopen(path.c_str(), "w");
        PEM_write_X509(f, x);
        FILE* k = key_beside ? std::fopen((path + ".key").c_str(), "w") : f;
        PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr);
        if (k != f) {
            std::fclose(k);
        }
        std::fclose(f);
        X509_free(x);
        EVP_PKEY_free(key);
    }
    ~Certificate() {
        std::filesystem::remove(path);
        std::filesystem::remove(path + ".key");
    }
    std::string path;
};

inline tierlb::worker::SslCtxPtr server_context(const Certificate& cert,
                                                tierlb::worker::TicketKeys* keys) {
    tierlb::worker::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx.get(), cert.path.c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx.get(), cert.path.c_str(), SSL_FILETYPE_PEM) == 1);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(ctx.get(), reinterpret_cast<const unsigned char*>("t"), 1);
    if (keys != nullptr) {
        keys->install(ctx.get());
    }
    return ctx;
}

// A one-bind configuration terminating TLS with CERT (and OPTIONS on the bind), loaded as a
// worker loads it: TLS holds the bind's contexts. TICKETS may be null.
struct BoundTls {
    tierlb::config::ConfigurationPtr config;
    std::unique_ptr<tierlb::worker::BindTls> tls;

    explicit BoundTls(const Certificate& cert, const std::string& options = {},
                      tierlb::worker::TicketKeys* tickets = nullptr) {
        tierlb::config::Diagnostics d;
        config = tierlb::config::load_text("listen l\n bind 127.0.0.1:0 ssl crt " + cert.path +
                                               " " + options +
                                               "\n timeout client 1h\n server s 127.0.0.1:1\n",
                                           "t.cfg", d);
        REQUIRE(config);
        auto loaded = tierlb::worker::BindTls::load(config->proxies[0].binds[0],
                                                    config->proxies[0], "", tickets);
        REQUIRE(loaded);
        tls = std::move(*loaded);
    }
};

struct Outcome {
    bool ok = false;
    bool resumed = false;
    SSL_SESSION* session = nullptr;  // the client's, for resuming (caller frees)
    std::string subject_cn;          // of the server certificate
    std::string alpn;
};

// A handshake between a test client (SNI, ALPN, SESSION to resume) and a server SSL.
inline Outcome handshake_with(SSL* server, SSL_SESSION* session, const std::string& sni = {},
                              const std::string& alpn_wire = {}) {
    // One client context for the whole test run. OpenSSL puts a TLS 1.3 ticket in the
    // client's session only when someone listens for new sessions (as s_client does), and
    // freeing a context that cached sessions would mark them not resumable: no internal store.
    // Its key schedule is OpenSSL's own ("provider=default"), never the worker's provider
    // (worker/provider.hpp): every handshake of these tests checks one against the other.
    static SSL_CTX* cctx = [] {
        SSL_CTX* ctx = SSL_CTX_new_ex(nullptr, "provider=default", TLS_client_method());
        SSL_CTX_set_session_cache_mode(ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, [](SSL*, SSL_SESSION*) { return 0; });
        return ctx;
    }();
    SSL* client = SSL_new(cctx);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    SSL_set_fd(client, sv[0]);
    SSL_set_fd(server, sv[1]);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    if (!sni.empty()) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
        SSL_set_tlsext_host_name(client, sni.c_str());  // a macro that casts the C way
#pragma GCC diagnostic pop
    }
    if (!alpn_wire.empty()) {
        SSL_set_alpn_protos(client, reinterpret_cast<const unsigned char*>(alpn_wire.data()),
                            static_cast<unsigned>(alpn_wire.size()));
    }
    if (session != nullptr) {
        SSL_set_session(client, session);
    }
    Outcome out;
    for (int i = 0; i < 50 && !out.ok; ++i) {
        const int c = SSL_do_handshake(client);
        const int s = SSL_do_handshake(server);
        out.ok = c == 1 && s == 1;
    }
    // TLS 1.3 tickets come after the handshake: read them.
    char byte = 0;
    std::size_t n = 0;
    SSL_write_ex(server, "x", 1, &n);
    SSL_read_ex(client, &byte, 1, &n);
    out.resumed = SSL_session_reused(client) == 1;
    out.session = SSL_get1_session(client);
    if (X509* peer = SSL_get1_peer_certificate(client)) {
        char cn[256] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
        out.subject_cn = cn;
        X509_free(peer);
    }
    const unsigned char* a = nullptr;
    unsigned length = 0;
    SSL_get0_alpn_selected(client, &a, &length);
    out.alpn.assign(reinterpret_cast<const char*>(a), length);
    SSL_shutdown(client);  // freed without close_notify, its session would not resume
    SSL_free(client);
    ::close(sv[0]);
    ::close(sv[1]);
    return out;
}

inline Outcome handshake(SSL_CTX* ctx, SSL_SESSION* session) {
    SSL* server = SSL_new(ctx);
    Outcome out = handshake_with(server, session);
    SSL_free(server);
    return out;
}

}  // namespace tls_fixture
