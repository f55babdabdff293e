// The benchmark's light TLS 1.3 client against OpenSSL's own server, in memory: if its key
// schedule, records or message parsing were wrong, OpenSSL would refuse its Finished or it
// could not read OpenSSL's records.

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "bench/tools/tls13_light.hpp"

namespace {

using bench::tls13_light::Bytes;
using bench::tls13_light::Connection;
using bench::tls13_light::Light_options;

// An OpenSSL server on memory BIOs with a fresh self-signed ECDSA certificate.
class Server {
public:
    explicit Server(const char* ciphersuites, int max_version = TLS1_3_VERSION) {
        EVP_PKEY* key = EVP_EC_gen("P-256");
        X509* cert = X509_new();
        X509_set_version(cert, 2);
        X509_gmtime_adj(X509_getm_notBefore(cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
        X509_set_pubkey(cert, key);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("light.test"), -1, -1, 0);
        X509_set_issuer_name(cert, X509_get_subject_name(cert));
        X509_sign(cert, key, EVP_sha256());
        ctx_ = SSL_CTX_new(TLS_server_method());
        REQUIRE(SSL_CTX_use_certificate(ctx_, cert) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey(ctx_, key) == 1);
        X509_free(cert);
        EVP_PKEY_free(key);
        REQUIRE(SSL_CTX_set_ciphersuites(ctx_, ciphersuites) == 1);
        SSL_CTX_set_max_proto_version(ctx_, max_version);
        SSL_CTX_set_alpn_select_cb(
            ctx_,
            [](SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
               unsigned in_length, void*) {
                static const unsigned char ours[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
                unsigned char* chosen = nullptr;
                if (SSL_select_next_proto(&chosen, out_length, ours, sizeof ours, in, in_length) !=
                    OPENSSL_NPN_NEGOTIATED) {
                    return SSL_TLSEXT_ERR_NOACK;
                }
                *out = chosen;
                return SSL_TLSEXT_ERR_OK;
            },
            nullptr);
        ssl_ = SSL_new(ctx_);
        in_ = BIO_new(BIO_s_mem());
        out_ = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl_, in_, out_);  // the SSL owns both from here
        SSL_set_accept_state(ssl_);
    }
    ~Server() {
        SSL_free(ssl_);
        SSL_CTX_free(ctx_);
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Gives the server what the client sent, lets it work, and returns what it wrote.
    Bytes exchange(Bytes& from_client) {
        if (!from_client.empty()) {
            BIO_write(in_, from_client.data(), static_cast<int>(from_client.size()));
            from_client.clear();
        }
        if (!SSL_is_init_finished(ssl_)) {
            SSL_do_handshake(ssl_);
        }
        return written();
    }
    Bytes written() {
        Bytes bytes(static_cast<std::size_t>(BIO_ctrl_pending(out_)));
        if (!bytes.empty()) {
            BIO_read(out_, bytes.data(), static_cast<int>(bytes.size()));
        }
        return bytes;
    }
    SSL* ssl() { return ssl_; }

private:
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    BIO* in_ = nullptr;
    BIO* out_ = nullptr;
};

// Runs the handshake to its end on the client's side; FEED_BYTEWISE hands the client the
// server's bytes one at a time (records and messages split at every possible place).
bool handshake(Server& server, Connection& client, Bytes& app, bool feed_bytewise = false) {
    Bytes to_server;
    REQUIRE(client.start(to_server));
    for (int round = 0; round < 4 && !client.established(); ++round) {
        Bytes reply = server.exchange(to_server);
        if (feed_bytewise) {
            for (auto byte : reply) {
                if (!client.receive({&byte, 1}, to_server, app)) {
                    return false;
                }
            }
        } else if (!client.receive(reply, to_server, app)) {
            return false;
        }
    }
    if (!client.established()) {
        return false;
    }
    // The client's Finished; OpenSSL answers with its session tickets, which the client skips.
    Bytes tickets = server.exchange(to_server);
    REQUIRE(SSL_is_init_finished(server.ssl()));
    REQUIRE_FALSE(tickets.empty());
    return client.receive(tickets, to_server, app) && app.empty();
}

std::string text(const Bytes& bytes) {
    return {bytes.begin(), bytes.end()};
}

}  // namespace

TEST_CASE("light client: full handshake, data both ways and close_notify with OpenSSL",
          "[bench][tls13_light]") {
    auto [suite, cipher] = GENERATE(
        std::pair<const char*, const char*>{"TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"},
        std::pair<const char*, const char*>{"TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"});
    CAPTURE(suite);
    Server server(suite);
    Light_options options;
    options.sni = "light.test";
    options.alpn = std::string("\x02h2\x08http/1.1", 12);
    Connection client(options);
    Bytes app;
    const bool bytewise = GENERATE(false, true);
    REQUIRE(handshake(server, client, app, bytewise));
    CHECK(std::string(SSL_CIPHER_get_name(SSL_get_current_cipher(server.ssl()))) == cipher);
    CHECK(std::string(SSL_get_servername(server.ssl(), TLSEXT_NAMETYPE_host_name)) == "light.test");
    auto info = client.describe();
    CHECK(info.find(cipher) != std::string::npos);
    CHECK(info.find("\"alpn\":\"http/1.1\"") != std::string::npos);

    // Up: more than one record's worth.
    const std::string request(20000, 'q');
    Bytes to_server;
    REQUIRE(client.send({reinterpret_cast<const std::uint8_t*>(request.data()), request.size()},
                        to_server));
    server.exchange(to_server);
    std::string got(request.size(), '\0');
    std::size_t read = 0;
    REQUIRE(SSL_read_ex(server.ssl(), got.data(), got.size(), &read) == 1);
    while (read < request.size()) {
        std::size_t more = 0;
        REQUIRE(SSL_read_ex(server.ssl(), got.data() + read, got.size() - read, &more) == 1);
        read += more;
    }
    CHECK(got == request);

    // Down.
    const std::string response = "the response";
    std::size_t written = 0;
    REQUIRE(SSL_write_ex(server.ssl(), response.data(), response.size(), &written) == 1);
    REQUIRE(client.receive(server.written(), to_server, app));
    CHECK(text(app) == response);

    // close_notify both ways.
    REQUIRE(client.close_notify(to_server));
    server.exchange(to_server);
    char byte = 0;
    CHECK(SSL_read_ex(server.ssl(), &byte, 1, &read) == 0);
    CHECK(SSL_get_error(server.ssl(), 0) == SSL_ERROR_ZERO_RETURN);
    SSL_shutdown(server.ssl());
    CHECK_FALSE(client.receive(server.written(), to_server, app));
    CHECK(client.peer_closed());
}

TEST_CASE("light client: a server that refuses TLS 1.3 fails the handshake with its alert",
          "[bench][tls13_light]") {
    Server server("TLS_AES_128_GCM_SHA256", TLS1_2_VERSION);
    Connection client({});
    Bytes app;
    CHECK_FALSE(handshake(server, client, app));
    CHECK_FALSE(client.established());
    CHECK(client.error() == "alert 70 in the clear");  // protocol_version
}

TEST_CASE("light client: a record altered in flight fails authentication", "[bench][tls13_light]") {
    Server server("TLS_AES_128_GCM_SHA256");
    Connection client({});
    Bytes to_server;
    Bytes app;
    REQUIRE(client.start(to_server));
    Bytes reply = server.exchange(to_server);
    REQUIRE(reply.size() > 100);
    reply[reply.size() - 20] ^= 1;  // inside the last record of the flight, the Finished
    CHECK_FALSE(client.receive(reply, to_server, app));
    CHECK_FALSE(client.established());
    CHECK(client.error() == "a record failed to decrypt");
    CHECK(to_server.empty());  // no Finished sent
}

TEST_CASE("light client: bytes that are not TLS are refused", "[bench][tls13_light]") {
    Connection client({});
    Bytes to_server;
    Bytes app;
    REQUIRE(client.start(to_server));
    // Its own ClientHello echoed back (what a plain TCP echo server would do).
    Bytes echoed = to_server;
    CHECK_FALSE(client.receive(echoed, to_server, app));
    CHECK(client.error() == "expected a ServerHello");
    // A record that announces more than TLS allows.
    Connection other({});
    Bytes huge{22, 3, 3, 0xff, 0xff};
    CHECK_FALSE(other.receive(huge, to_server, app));
    CHECK(other.error() == "record longer than TLS allows");
}
