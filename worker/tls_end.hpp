#pragma once
// The client end of a worker's connection: a socket watched by the poller, with OpenSSL on
// top once the PROXY header (if any) has been read. Same members as net::PlainEnd, so the
// tunnel relays either. OpenSSL reads and writes the socket itself; when it would block it
// says which readiness it needs (a read may need to write, during a key update), and the bit
// is cleared so that the tunnel waits for the kernel's next word.
//
// Buffers: SSL_MODE_RELEASE_BUFFERS (set on every context) gives them back while idle.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <span>
#include <string>
#include <system_error>

#include "common/net/poller.hpp"
#include "common/net/stream_end.hpp"

namespace tierlb::worker {

class TlsEnd {
public:
    TlsEnd() = default;
    TlsEnd(const TlsEnd&) = delete;
    TlsEnd& operator=(const TlsEnd&) = delete;
    ~TlsEnd() { close(); }

    std::error_code attach(net::Poller& poller, int fd, std::uint32_t ready) {
        close();
        watch_.fd = fd;
        return poller.add(watch_, ready);
    }

    net::PollWatch& watch() { return watch_; }
    int fd() const { return watch_.fd; }
    SSL* ssl() const { return ssl_; }

    // TLS from here on, as the server side; takes SSL.
    void begin(SSL* ssl) {
        ssl_ = ssl;
        SSL_set_fd(ssl_, watch_.fd);
        SSL_set_accept_state(ssl_);
    }

    net::IoResult handshake() {
        ERR_clear_error();
        const int r = SSL_do_handshake(ssl_);
        return r == 1 ? net::IoResult{} : result_of(r);
    }

    // Plaintext OpenSSL holds already (read ahead), readable without a system call.
    bool has_buffered() const { return ssl_ != nullptr && SSL_has_pending(ssl_) == 1; }

    bool can_read() const {
        return (watch_.ready & net::readable) != 0 || (ssl_ != nullptr && SSL_has_pending(ssl_));
    }
    bool can_write() const { return (watch_.ready & net::writable) != 0; }

    net::IoResult read(std::span<std::byte> into) {
        ERR_clear_error();
        std::size_t n = 0;
        if (SSL_read_ex(ssl_, into.data(), into.size(), &n) == 1) {
            return {net::IoStatus::ok, n, 0};
        }
        return result_of(0);
    }

    net::IoResult write(std::span<const std::byte> from) {
        ERR_clear_error();
        std::size_t n = 0;
        if (SSL_write_ex(ssl_, from.data(), from.size(), &n) == 1) {
            return {net::IoStatus::ok, n, 0};
        }
        return result_of(0);
    }

    // A half-close: TLS's close_notify, then the socket's. Best effort: a peer that cannot
    // take the alert now still sees the socket's end.
    void shutdown_write() {
        if (ssl_ != nullptr) {
            ERR_clear_error();
            SSL_shutdown(ssl_);
        }
        ::shutdown(watch_.fd, SHUT_WR);
    }

    std::string describe(const net::IoResult& r) const {
        return r.error != 0 ? net::errno_text(r.error) : error_;
    }

    void close() {
        if (ssl_ != nullptr) {
            SSL_free(ssl_);
            ssl_ = nullptr;
        }
        if (watch_.fd >= 0) {
            ::close(watch_.fd);
            watch_.fd = -1;
            watch_.ready = 0;
        }
    }

private:
    net::IoResult result_of(int ret) {
        switch (SSL_get_error(ssl_, ret)) {
            case SSL_ERROR_WANT_READ:
                watch_.ready &= ~net::readable;
                return {net::IoStatus::want_read, 0, 0};
            case SSL_ERROR_WANT_WRITE:
                watch_.ready &= ~net::writable;
                return {net::IoStatus::want_write, 0, 0};
            case SSL_ERROR_ZERO_RETURN:
                return {net::IoStatus::eof, 0, 0};
            case SSL_ERROR_SYSCALL:
                if (errno == EAGAIN || errno == EINTR) {
                    return {net::IoStatus::want_read, 0, 0};
                }
                if (errno != 0) {
                    return {net::IoStatus::error, 0, errno};
                }
                return {net::IoStatus::eof, 0, 0};  // end of stream without close_notify
            default: {
                const unsigned long code = ERR_peek_error();
                if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                    ERR_clear_error();
                    return {net::IoStatus::eof, 0, 0};  // the peer's end, not a TLS error
                }
                const char* reason = ERR_reason_error_string(code);
                error_ = reason != nullptr ? reason : "TLS error";
                ERR_clear_error();
                return {net::IoStatus::error, 0, 0};
            }
        }
    }

    net::PollWatch watch_;
    SSL* ssl_ = nullptr;
    std::string error_;  // OpenSSL's reason for the last error
};

}  // namespace tierlb::worker
