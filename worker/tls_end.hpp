#pragma once
// The client end of a worker's connection: a socket watched by the poller, with OpenSSL on
// top once the PROXY header (if any) has been read. Same members as net::PlainEnd, so the
// tunnel relays either. OpenSSL reads and writes the socket itself (but for the handshake's
// writes, gathered and sent once per call: see begin()); when it would block it
// says which readiness it needs (a read may need to write, during a key update), and the bit
// is cleared so that the tunnel waits for the kernel's next word.
//
// Buffers: SSL_MODE_RELEASE_BUFFERS (set on every context) gives them back while idle.
//
// Session tickets (TLS 1.3) wait for the first write: see hold_tickets().
//
// Idle offload (tune.ssl.idle-offload): once a TLS 1.3 connection is idle -- a read would
// block and OpenSSL holds nothing -- its record layer is taken over (worker/tls_takeover.hpp)
// and the SSL object freed; a Tls13Stream reads and writes the records from then on. Taken
// over when a read would block, or when a write completes while the reads wait.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>

#include "common/net/idle_wheel.hpp"
#include "common/net/poller.hpp"
#include "common/net/stream_end.hpp"
#include "worker/tls13_stream.hpp"
#include "worker/tls_takeover.hpp"

namespace tierlb::worker {

class TlsEnd {
public:
    TlsEnd() = default;
    TlsEnd(const TlsEnd&) = delete;
    TlsEnd& operator=(const TlsEnd&) = delete;
    ~TlsEnd() { close(); }

    std::error_code attach(net::Poller& poller, int fd, std::uint32_t ready,
                           net::FileOwners owners = net::FileOwners::this_process) {
        close();
        watch_.fd = fd;
        return poller.add(watch_, ready, owners);
    }

    net::PollWatch& watch() { return watch_; }
    int fd() const { return watch_.fd; }
    // Null once the connection was taken over (or before begin()).
    SSL* ssl() const { return ssl_; }
    bool taken_over() const { return stream_ != nullptr; }

    // TLS from here on, as the server side; takes SSL. OpenSSL reads the socket itself. During
    // the handshake its writes are gathered in memory and sent once per call: after the
    // client's Finished a TLS 1.3 server writes two session tickets with a flush each, two
    // segments and two wake-ups of the client where one does (on loopback a send also runs
    // the receiver's TCP input: ~2% of a worker's CPU per handshake). Once the handshake is
    // done, OpenSSL writes to the socket directly again. With TICKET_WHEEL, a TLS 1.3
    // handshake's session tickets wait for the first write (see hold_tickets()).
    void begin(SSL* ssl, net::IdleWheel* ticket_wheel = nullptr) {
        ssl_ = ssl;
        if (ticket_wheel != nullptr) {
            held_ = new HeldTickets(*this, *ticket_wheel);
        }
        gathered_ = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl_, BIO_new_socket(watch_.fd, BIO_NOCLOSE), gathered_);
        SSL_set_accept_state(ssl_);
    }

    net::IoResult handshake() {
        if (const net::IoResult owed = send_gathered(); owed.status != net::IoStatus::ok) {
            return owed;
        }
        ERR_clear_error();
        const int ret = SSL_do_handshake(ssl_);
        if (ret == 1 && hold_tickets()) {
            return {};
        }
        const net::IoResult result = ret == 1 ? net::IoResult{} : result_of(ret);
        const net::IoResult sent = send_gathered();  // an alert too, best effort
        if (result.status == net::IoStatus::error || result.status == net::IoStatus::eof) {
            return result;
        }
        if (ret == 1 && sent.status == net::IoStatus::error &&
            (sent.error == EPIPE || sent.error == ECONNRESET)) {
            // The session tickets found the peer gone. OpenSSL ignores that for the tickets it
            // writes itself, so that what a client sent before closing is still read and
            // relayed: the same here.
            (void)BIO_reset(gathered_);
            write_directly();
            return {};
        }
        if (sent.status != net::IoStatus::ok) {
            return sent;  // the rest goes when the socket has room, before anything else
        }
        if (ret == 1) {
            write_directly();
        }
        return result;
    }

    // Plaintext OpenSSL holds already (read ahead), readable without a system call.
    bool has_buffered() const {
        if (stream_) {
            return stream_->has_buffered();
        }
        return ssl_ != nullptr && SSL_has_pending(ssl_) == 1;
    }

    bool can_read() const { return (watch_.ready & net::readable) != 0 || has_buffered(); }
    bool can_write() const { return (watch_.ready & net::writable) != 0; }

    net::IoResult read(std::span<std::byte> into) {
        if (stream_) {
            return stream_->read(watch_, into);
        }
        ERR_clear_error();
        std::size_t n = 0;
        if (SSL_read_ex(ssl_, into.data(), into.size(), &n) == 1) {
            reads_wait_ = false;
            return {net::IoStatus::ok, n, 0};
        }
        net::IoResult r = result_of(0);
        if (r.status == net::IoStatus::error && gathered_ != nullptr) {
            (void)send_gathered();  // OpenSSL's alert, best effort
        }
        if (r.status == net::IoStatus::want_read) {
            reads_wait_ = true;
            if (take_over()) {
                return stream_->read(watch_, into);  // sends what OpenSSL owed, if anything
            }
        }
        return r;
    }

    net::IoResult write(std::span<const std::byte> from) {
        if (stream_) {
            return stream_->write(watch_, from);
        }
        if (gathered_ != nullptr) {
            return write_with_tickets(from);
        }
        ERR_clear_error();
        std::size_t n = 0;
        if (SSL_write_ex(ssl_, from.data(), from.size(), &n) == 1) {
            write_pending_ = false;
            if (reads_wait_) {
                take_over();
            }
            return {net::IoStatus::ok, n, 0};
        }
        const net::IoResult r = result_of(0);
        // OpenSSL keeps the rest of a record the socket could not take, until written.
        write_pending_ = r.status == net::IoStatus::want_write;
        return r;
    }

    // Takes the record layer over from OpenSSL if the connection was watched for it and is
    // idle now; true once taken over. Called by read() and write(); public for tests.
    bool take_over() {
        if (stream_) {
            return true;
        }
        if (ssl_ == nullptr || write_pending_ || gathered_ != nullptr) {
            return false;  // busy, or session tickets still to send
        }
        Takeover t = capture_for_takeover(ssl_);
        if (t.check != TakeoverCheck::ready) {
            return false;
        }
        stream_ = std::make_unique<Tls13Stream>(t.state, t.owe_key_update);
        t.state.wipe();
        // Freed before any close_notify: with no-tls-tickets, OpenSSL drops the session from
        // this process's cache, as it does today for clients that close without one.
        SSL_free(ssl_);
        ssl_ = nullptr;
        count_taken_over();
        if (stream_->has_output()) {
            stream_->flush(watch_);  // the rest goes before the next read or write
        }
        return true;
    }

    // A half-close: TLS's close_notify, then the socket's. Best effort: a peer that cannot
    // take the alert now still sees the socket's end.
    void shutdown_write() {
        if (stream_) {
            stream_->send_close_notify(watch_);
        } else if (ssl_ != nullptr) {
            ERR_clear_error();
            SSL_shutdown(ssl_);
            (void)send_gathered();  // held tickets, then close_notify
        }
        ::shutdown(watch_.fd, SHUT_WR);
    }

    std::string describe(const net::IoResult& r) const {
        if (r.error != 0) {
            return net::errno_text(r.error);
        }
        return stream_ ? stream_->error() : error_;
    }

    void close() {
        gathered_ = nullptr;  // owned by the SSL
        release_held();
        owed_plain_ = 0;
        stream_.reset();
        reads_wait_ = write_pending_ = false;
        if (ssl_ != nullptr) {
            SSL_free(ssl_);
            ssl_ = nullptr;
        }
        net::close_watched(watch_);
    }

private:
    // The fallback for tickets held after the handshake: an entry of the thread's idle wheel,
    // allocated for the handshake only (an idle connection pays nothing for it).
    struct HeldTickets : net::IdleEntry {
        HeldTickets(TlsEnd& owner, net::IdleWheel& its_wheel)
            : IdleEntry(&HeldTickets::on_tick), end(&owner), wheel(&its_wheel) {}
        static void on_tick(net::IdleEntry* entry, net::IdleWheel&, net::Clock::time_point) {
            static_cast<HeldTickets*>(entry)->end->send_held_tickets();
        }
        TlsEnd* end;
        net::IdleWheel* wheel;
    };

    // After a TLS 1.3 handshake, what OpenSSL wrote last (in the call that read the client's
    // Finished) is its session tickets, which nothing waits for: they are held and go in the
    // same send as the first bytes to the client -- the answer to the client's first request,
    // most often -- one segment, one send and one wake-up of the client fewer per connection.
    // A server that does not write within a tick (one that is slow to answer, or waits for
    // the client) does not delay them longer: the wheel sends them (send_held_tickets()).
    bool hold_tickets() {
        if (held_ == nullptr || SSL_version(ssl_) != TLS1_3_VERSION ||
            BIO_ctrl_pending(gathered_) == 0) {
            return false;
        }
        held_->wheel->schedule(*held_, net::Clock::now() + net::IdleWheel::tick);
        return true;
    }

    // The first write with tickets held: the tickets and a record of FROM in one send. As in
    // Tls13Stream, the plaintext is reported written once all of it left (the caller offers
    // the same bytes again after a want-write).
    net::IoResult write_with_tickets(std::span<const std::byte> from) {
        if (owed_plain_ == 0) {
            ERR_clear_error();
            std::size_t n = 0;
            if (SSL_write_ex(ssl_, from.data(), from.size(), &n) != 1) {
                return result_of(0);  // a memory BIO always takes it: OpenSSL's own failure
            }
            owed_plain_ = static_cast<std::uint32_t>(n);
        }
        const net::IoResult sent = send_gathered();
        if (sent.status != net::IoStatus::ok) {
            return sent;
        }
        const std::size_t n = owed_plain_;
        owed_plain_ = 0;
        write_directly();
        if (reads_wait_) {
            take_over();
        }
        return {net::IoStatus::ok, n, 0};
    }

    // The wheel's turn came before any write: the tickets go on their own.
    void send_held_tickets() {
        if (gathered_ == nullptr || owed_plain_ != 0) {
            return;  // already sent, or a write is sending them
        }
        const net::IoResult sent = send_gathered();
        if (sent.status == net::IoStatus::want_write) {
            held_->wheel->schedule(*held_, net::Clock::now() + net::IdleWheel::tick);
            return;  // the socket is full: the next write, or the next tick
        }
        // An error is the relay's to find on its next read or write; the tickets are dropped.
        (void)BIO_reset(gathered_);
        write_directly();
        if (reads_wait_) {
            take_over();  // the connection was idle, waiting for its tickets to leave
        }
    }

    void release_held() {
        if (held_ != nullptr) {
            held_->wheel->cancel(*held_);
            delete held_;
            held_ = nullptr;
        }
    }

    // Sends what OpenSSL wrote to the gathering BIO. Want-write if the socket could not take
    // it all: the rest stays, first in line.
    net::IoResult send_gathered() {
        if (gathered_ == nullptr) {
            return {};
        }
        char* data = nullptr;
        const long size = BIO_get_mem_data(gathered_, &data);
        long done = 0;
        while (done < size) {
            const ssize_t n = ::send(watch_.fd, data + done, static_cast<std::size_t>(size - done),
                                     MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n >= 0) {
                done += n;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch_.ready &= ~net::writable;
                drop_gathered(done);
                return {net::IoStatus::want_write, 0, 0};
            } else if (errno != EINTR) {
                return {net::IoStatus::error, 0, errno};
            }
        }
        (void)BIO_reset(gathered_);
        return {};
    }

    // Takes the first DONE bytes out of the gathering BIO (after a partial send: rare).
    void drop_gathered(long done) {
        char scratch[512];
        while (done > 0) {
            const int n = BIO_read(gathered_, scratch,
                                   static_cast<int>(std::min<long>(done, sizeof scratch)));
            if (n <= 0) {
                break;
            }
            done -= n;
        }
    }

    // The handshake is done and sent: OpenSSL writes to the socket from now on.
    void write_directly() {
        release_held();
        if (gathered_ == nullptr) {
            return;
        }
        BIO* socket = SSL_get_rbio(ssl_);
        BIO_up_ref(socket);
        SSL_set0_wbio(ssl_, socket);  // frees the gathering BIO
        gathered_ = nullptr;
    }

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
    BIO* gathered_ = nullptr;              // the handshake's writes (owned by the SSL)
    std::unique_ptr<Tls13Stream> stream_;  // once taken over
    bool reads_wait_ = false;              // the last read would have blocked
    bool write_pending_ = false;           // OpenSSL holds part of a record to write
    // Plaintext sent with held tickets, not reported yet: one relay buffer at most (beside
    // the flags, so that every connection's TlsEnd stays a word smaller).
    std::uint32_t owed_plain_ = 0;
    HeldTickets* held_ = nullptr;  // from begin() until the tickets are sent
    std::string error_;            // OpenSSL's reason for the last error
};

}  // namespace tierlb::worker
