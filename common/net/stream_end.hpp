#pragma once
// One end of a tunnel: something to read from and write to without blocking. PlainEnd is a
// socket; worker/ adds a TLS end with the same members. The tunnel calls these when the
// socket is ready and waits on socket() when they say "want_read"/"want_write" (TLS may need
// to write to read, or read to write).

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <span>
#include <string>

#include "common/net/asio.hpp"
#include "common/net/socket_ops.hpp"

namespace tierlb::net {

enum class IoStatus { ok, want_read, want_write, eof, error };

struct IoResult {
    IoStatus status = IoStatus::ok;
    std::size_t bytes = 0;
    int error = 0;  // errno for plain sockets
};

class PlainEnd {
public:
    explicit PlainEnd(Socket socket) : socket_(std::move(socket)) {}

    Socket& socket() { return socket_; }

    IoResult read(std::span<std::byte> into) {
        const ssize_t n = ::recv(socket_.native_handle(), into.data(), into.size(), MSG_DONTWAIT);
        return result_of(n, IoStatus::want_read);
    }

    IoResult write(std::span<const std::byte> from) {
        const ssize_t n =
            ::send(socket_.native_handle(), from.data(), from.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        return result_of(n, IoStatus::want_write);
    }

    // Forwards a half-close: our peer reads end-of-stream, and can still send to us.
    void shutdown_write() { ::shutdown(socket_.native_handle(), SHUT_WR); }

    std::string describe(const IoResult& r) const { return errno_text(r.error); }

    void close() {
        error_code ignored;
        socket_.close(ignored);
    }

private:
    // WAIT is what to wait for when the call would block (or was interrupted).
    static IoResult result_of(ssize_t n, IoStatus wait) {
        if (n > 0) {
            return {IoStatus::ok, static_cast<std::size_t>(n), 0};
        }
        if (n == 0) {
            return {IoStatus::eof, 0, 0};
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return {wait, 0, 0};
        }
        return {IoStatus::error, 0, errno};
    }

    Socket socket_;
};

}  // namespace tierlb::net
