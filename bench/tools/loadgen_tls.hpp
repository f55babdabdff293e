// bench_loadgen's TLS client: OpenSSL driven directly on the connected, non-blocking socket
// (SSL_set_fd), waiting on the socket with Asio whenever OpenSSL wants to read or write. No
// BIO pair and no copy through Asio's ssl::stream: the client's own cost per handshake and per
// byte stays as low as OpenSSL allows, since it shares the cores with the proxies it measures.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <boost/system/error_code.hpp>

#include "bench/tools/common.hpp"
#include "bench/tools/tls13_light.hpp"

namespace bench::loadgen {

struct Ssl_free {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using Ssl_ptr = std::unique_ptr<SSL, Ssl_free>;

struct Ssl_session_free {
    void operator()(SSL_SESSION* session) const { SSL_SESSION_free(session); }
};
using Session_ptr = std::unique_ptr<SSL_SESSION, Ssl_session_free>;

// The category of the TLS failures that are neither a timeout nor a plain eof/reset (an alert,
// a bad record, a failed verification): Asio's SSL category, the value OpenSSL's error code.
// classify() counts them apart (kinds "handshake" and "tls").
const boost::system::error_category& tls_category();

struct Tls_options {
    std::string sni;      // empty: no server_name extension
    std::string alpn;     // comma-separated, empty: no ALPN extension
    bool resume = false;  // rate mode: offer the latest session ticket on the next connection
    std::string ca_file;  // empty: no verification (self-signed benchmark certificates)
    bool light = false;   // rate mode: the light TLS 1.3 client (tls13_light.hpp), not OpenSSL's
};

// The client context shared by every thread (SSL_CTX is safe to share once configured).
class Tls_client {
public:
    // Returns nullptr and sets `error` when OpenSSL refuses the options.
    static std::shared_ptr<const Tls_client> create(const Tls_options& options, std::string& error);

    // A new client SSL on FD (connected, non-blocking), offering SESSION when not null.
    Ssl_ptr new_ssl(int fd, SSL_SESSION* session) const;

    const Tls_options& options() const { return options_; }
    // SNI and ALPN for the light client.
    const tls13_light::Light_options& light_options() const { return light_options_; }

private:
    Tls_client() = default;
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_{nullptr, &SSL_CTX_free};
    Tls_options options_;
    tls13_light::Light_options light_options_;
};

struct Io_result {
    boost::system::error_code error;
    std::size_t bytes = 0;
};

// Each drives one OpenSSL call to completion on SOCKET, which must be the one SSL's fd is.
// Errors come back as values: operation_aborted when the watchdog cancelled the wait, eof on a
// close (close_notify or not), connection_reset, or an error of tls_category().
Task<boost::system::error_code> tls_handshake(Socket& socket, SSL* ssl);
Task<Io_result> tls_write_all(Socket& socket, SSL* ssl, const void* data, std::size_t size);
Task<Io_result> tls_read_some(Socket& socket, SSL* ssl, void* data, std::size_t size);
Task<Io_result> tls_read_exact(Socket& socket, SSL* ssl, void* data, std::size_t size);

// Sends close_notify without waiting for the peer's (a client that is done does not wait
// either); the socket is closed right after.
void tls_send_close_notify(SSL* ssl);

// What the handshake settled, as a JSON object: version, cipher, ALPN, the server key.
std::string tls_describe(SSL* ssl);

}  // namespace bench::loadgen
