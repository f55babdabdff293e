#pragma once
// One end of a connection: a socket watched by the poller, read and written without ever
// blocking. PlainEnd is a plain socket; worker/ adds a TLS end with the same members. An end
// clears its readiness bits when an operation would block or comes back short (with edge
// triggering, the kernel reports the next change), so its owner waits on the watch with no
// system call. An end does not move once attached: the poller points at its watch.

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "common/net/poller.hpp"
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
    PlainEnd() = default;
    PlainEnd(const PlainEnd&) = delete;
    PlainEnd& operator=(const PlainEnd&) = delete;
    ~PlainEnd() { close(); }

    // Takes FD (non-blocking) and registers it with POLLER; READY is what is known of it.
    std::error_code attach(Poller& poller, int fd, std::uint32_t ready,
                           FileOwners owners = FileOwners::this_process) {
        close();
        watch_.fd = fd;
        return poller.add(watch_, ready, owners);
    }
    bool attached() const { return watch_.fd >= 0; }

    // Takes FD (non-blocking) without registering it yet: a dispatcher's client socket that
    // will most likely be handed off to a worker saves the two epoll_ctl calls of a
    // registration it would undo at once. start_watching() before anything waits on it.
    void adopt(int fd, std::uint32_t ready) {
        close();
        watch_.fd = fd;
        watch_.ready = ready;
    }
    bool watched() const { return watch_.subscribed != 0; }
    std::error_code start_watching(Poller& poller) { return poller.add(watch_, watch_.ready); }

    PollWatch& watch() { return watch_; }
    int fd() const { return watch_.fd; }

    // What the kernel last said: a read or write would make progress (or report an error).
    bool can_read() const { return (watch_.ready & readable) != 0; }
    // Bytes to read without a system call: never for a plain socket.
    bool has_buffered() const { return false; }
    bool can_write() const { return (watch_.ready & writable) != 0; }

    IoResult read(std::span<std::byte> into) {
        const ssize_t n = ::recv(watch_.fd, into.data(), into.size(), MSG_DONTWAIT);
        if (n > 0 && static_cast<std::size_t>(n) < into.size() && (watch_.ready & hung_up) == 0) {
            watch_.ready &= ~readable;  // drained: the next data brings a new event
        }
        return result_of(n, IoStatus::want_read, readable);
    }

    IoResult write(std::span<const std::byte> from) {
        const ssize_t n = ::send(watch_.fd, from.data(), from.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0 && static_cast<std::size_t>(n) < from.size()) {
            watch_.ready &= ~writable;  // full: room brings a new event
        }
        return result_of(n, IoStatus::want_write, writable);
    }

    // Forwards a half-close: our peer reads end-of-stream, and can still send to us.
    void shutdown_write() { ::shutdown(watch_.fd, SHUT_WR); }

    std::string describe(const IoResult& r) const { return errno_text(r.error); }

    // Gives the socket up without closing it (hand-off): out of POLLER, and no longer ours.
    int release(Poller& poller) {
        poller.remove(watch_);
        return std::exchange(watch_.fd, -1);
    }

    // Closing also takes the socket out of the poller.
    void close() { close_watched(watch_); }

private:
    // WAIT is what to wait for when the call would block, BIT the readiness it used up.
    IoResult result_of(ssize_t n, IoStatus wait, std::uint32_t bit) {
        if (n > 0) {
            return {IoStatus::ok, static_cast<std::size_t>(n), 0};
        }
        if (n == 0) {
            return {IoStatus::eof, 0, 0};
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            watch_.ready &= ~bit;
            return {wait, 0, 0};
        }
        if (errno == EINTR) {
            return {wait, 0, 0};
        }
        return {IoStatus::error, 0, errno};
    }

    PollWatch watch_;
};

}  // namespace tierlb::net
