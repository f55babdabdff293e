#include "bench/tools/loadgen_tls.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <atomic>
#include <cerrno>
#include <iostream>
#include <optional>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

namespace bench::loadgen {

namespace {

namespace asio = boost::asio;

// Says why the first few TLS failures happened (OpenSSL's reason), on stderr: the counts in
// RESULT tell how many, this tells what, without flooding the log when a proxy misbehaves.
void report_tls_failure(unsigned long code) {
    static std::atomic<int> reported{0};
    constexpr int limit = 5;
    if (reported.fetch_add(1, std::memory_order_relaxed) < limit) {
        char text[256];
        ERR_error_string_n(code, text, sizeof text);
        std::cerr << "bench_loadgen: TLS error: " << text << "\n";
    }
}

// Turns the outcome of a failed OpenSSL call into an error code; nullopt means "wait and
// retry" (the wanted direction is returned in `wait`).
std::optional<boost::system::error_code> failure_of(SSL* ssl, int ret, int saved_errno,
                                                    Socket::wait_type& wait) {
    switch (SSL_get_error(ssl, ret)) {
        case SSL_ERROR_WANT_READ:
            wait = Socket::wait_read;
            return std::nullopt;
        case SSL_ERROR_WANT_WRITE:
            wait = Socket::wait_write;
            return std::nullopt;
        case SSL_ERROR_ZERO_RETURN:
            return boost::system::error_code(asio::error::eof);
        case SSL_ERROR_SYSCALL:
            // OpenSSL 3 leaves errno 0 for a close without close_notify unless
            // SSL_OP_IGNORE_UNEXPECTED_EOF (set on our context) already made it ZERO_RETURN.
            if (saved_errno == 0) {
                return boost::system::error_code(asio::error::eof);
            }
            return boost::system::error_code(saved_errno, boost::system::system_category());
        default: {
            unsigned long code = ERR_peek_last_error();
            report_tls_failure(code);
            ERR_clear_error();
            return boost::system::error_code(static_cast<int>(code & 0x7fffffff), tls_category());
        }
    }
}

enum class Call { handshake, read, write };

// One OpenSSL call, repeated with the same arguments (as OpenSSL requires) after each wait.
Task<Io_result> drive(Socket& socket, SSL* ssl, Call call, void* data, std::size_t size) {
    for (;;) {
        ERR_clear_error();
        std::size_t done = 0;
        int ret = 0;
        switch (call) {
            case Call::handshake:
                ret = SSL_do_handshake(ssl);
                break;
            case Call::read:
                ret = SSL_read_ex(ssl, data, size, &done);
                break;
            case Call::write:
                ret = SSL_write_ex(ssl, data, size, &done);
                break;
        }
        int saved_errno = errno;
        if (ret == 1) {
            co_return Io_result{{}, done};
        }
        Socket::wait_type wait = Socket::wait_read;
        if (auto failure = failure_of(ssl, ret, saved_errno, wait)) {
            co_return Io_result{*failure, 0};
        }
        auto [error] = co_await socket.async_wait(wait, nothrow);
        if (error) {
            co_return Io_result{error, 0};
        }
    }
}

// ALPN's wire format: each protocol prefixed by its length.
std::string alpn_wire(const std::string& list, std::string& error) {
    std::string wire;
    std::size_t begin = 0;
    while (begin <= list.size()) {
        auto end = list.find(',', begin);
        if (end == std::string::npos) {
            end = list.size();
        }
        auto name = list.substr(begin, end - begin);
        if (name.empty() || name.size() > 255) {
            error = "--alpn: bad protocol list '" + list + "'";
            return {};
        }
        wire += static_cast<char>(name.size());
        wire += name;
        begin = end + 1;
    }
    return wire;
}

}  // namespace

const boost::system::error_category& tls_category() {
    return asio::error::get_ssl_category();
}

std::shared_ptr<const Tls_client> Tls_client::create(const Tls_options& options,
                                                     std::string& error) {
    std::shared_ptr<Tls_client> client(new Tls_client());
    client->options_ = options;
    client->light_options_.sni = options.sni;
    client->ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* ctx = client->ctx_.get();
    if (ctx == nullptr) {
        error = "SSL_CTX_new failed";
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // A peer that closes without close_notify reads as a plain eof, as on a TCP socket.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    // 2000 idle connections should cost the load generator little: no buffers while idle.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    // Sessions are kept by hand (--resume), never by a cache that would resume by surprise.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (options.ca_file.empty()) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        // VERIFY_NONE still builds and checks the chain (and ignores the result); skipping it
        // saves the client a signature check per handshake. The CertificateVerify signature
        // is still checked, as TLS requires.
        SSL_CTX_set_cert_verify_callback(
            ctx, [](X509_STORE_CTX*, void*) { return 1; }, nullptr);
    } else {
        if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
            error = "--ca " + options.ca_file + ": cannot load";
            return nullptr;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    }
    if (!options.alpn.empty()) {
        auto wire = alpn_wire(options.alpn, error);
        if (wire.empty()) {
            return nullptr;
        }
        client->light_options_.alpn = wire;
        // Returns 0 on success, unlike most of OpenSSL.
        if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                    static_cast<unsigned>(wire.size())) != 0) {
            error = "--alpn: refused by OpenSSL";
            return nullptr;
        }
    }
    return client;
}

Ssl_ptr Tls_client::new_ssl(int fd, SSL_SESSION* session) const {
    Ssl_ptr ssl(SSL_new(ctx_.get()));
    if (!ssl) {
        return ssl;
    }
    SSL_set_fd(ssl.get(), fd);  // BIO_NOCLOSE: the Asio socket keeps owning the descriptor
    SSL_set_connect_state(ssl.get());
    if (!options_.sni.empty()) {
        // SSL_set_tlsext_host_name, without the macro's C cast.
        SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(options_.sni.c_str()));
    }
    if (!options_.ca_file.empty() && !options_.sni.empty()) {
        SSL_set1_host(ssl.get(), options_.sni.c_str());
    }
    if (session != nullptr) {
        SSL_set_session(ssl.get(), session);
    }
    return ssl;
}

Task<boost::system::error_code> tls_handshake(Socket& socket, SSL* ssl) {
    auto result = co_await drive(socket, ssl, Call::handshake, nullptr, 0);
    co_return result.error;
}

Task<Io_result> tls_write_all(Socket& socket, SSL* ssl, const void* data, std::size_t size) {
    // Without SSL_MODE_ENABLE_PARTIAL_WRITE, one SSL_write_ex completes the whole buffer.
    return drive(socket, ssl, Call::write, const_cast<void*>(data), size);
}

Task<Io_result> tls_read_some(Socket& socket, SSL* ssl, void* data, std::size_t size) {
    return drive(socket, ssl, Call::read, data, size);
}

Task<Io_result> tls_read_exact(Socket& socket, SSL* ssl, void* data, std::size_t size) {
    std::size_t got = 0;
    while (got < size) {
        auto result =
            co_await drive(socket, ssl, Call::read, static_cast<char*>(data) + got, size - got);
        got += result.bytes;
        if (result.error) {
            co_return Io_result{result.error, got};
        }
    }
    co_return Io_result{{}, got};
}

void tls_send_close_notify(SSL* ssl) {
    ERR_clear_error();
    SSL_shutdown(ssl);
    ERR_clear_error();
}

std::string tls_describe(SSL* ssl) {
    Json_line json;
    json.add("version", SSL_get_version(ssl));
    json.add("cipher", SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
    const unsigned char* alpn = nullptr;
    unsigned alpn_length = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
    json.add("alpn", std::string_view(reinterpret_cast<const char*>(alpn), alpn_length));
    int group = SSL_get_negotiated_group(ssl);
    const char* group_name = group != 0 ? OBJ_nid2sn(group) : nullptr;
    json.add("group", group_name != nullptr ? group_name : "");
    if (X509* cert = SSL_get0_peer_certificate(ssl)) {
        EVP_PKEY* key = X509_get0_pubkey(cert);
        if (key != nullptr) {
            int id = EVP_PKEY_get_base_id(key);
            json.add("server_key", id == EVP_PKEY_EC    ? "EC"
                                   : id == EVP_PKEY_RSA ? "RSA"
                                                        : OBJ_nid2sn(id));
            json.add("server_key_bits", EVP_PKEY_get_bits(key));
        }
    }
    json.add("resumed", SSL_session_reused(ssl) ? 1 : 0);
    return json.str();
}

}  // namespace bench::loadgen
