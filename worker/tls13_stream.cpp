#include "worker/tls13_stream.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

namespace tierlb::worker {

namespace {

using net::IoResult;
using net::IoStatus;
using tls13::AlertCode;
using tls13::ContentType;

constexpr std::size_t buffer_size = net::BufferPool::buffer_size;
static_assert(buffer_size >= 2 * tls13::max_record);

std::uint8_t* bytes(const net::Buffer& b) {
    return reinterpret_cast<std::uint8_t*>(b.data());
}

std::string alert_text(AlertCode alert) {
    switch (alert) {
        case AlertCode::bad_record_mac:
            return "decryption failed or bad record mac";
        case AlertCode::record_overflow:
            return "record overflow";
        case AlertCode::decode_error:
            return "decode error";
        case AlertCode::illegal_parameter:
            return "illegal parameter";
        case AlertCode::internal_error:
            return "internal error";
        default:
            return "unexpected message";
    }
}

}  // namespace

Tls13Stream::Tls13Stream(const tls13::TrafficState& state, bool owe_key_update) : state_(state) {
    if (owe_key_update) {
        const std::uint8_t key_update[] = {tls13::key_update_type, 0, 0, 1, 0};
        if (!queue(ContentType::handshake, key_update) ||
            !tls13::update_keys(state_.suite, state_.write)) {
            failed_ = true;
            error_ = "cannot send the KeyUpdate the peer asked for";
        }
    }
}

Tls13Stream::~Tls13Stream() {
    state_.wipe();
}

bool Tls13Stream::has_buffered() const {
    return plain_begin_ < plain_end_ || complete_record() != 0 || closed_ || failed_;
}

std::size_t Tls13Stream::complete_record() const {
    const std::size_t have = cipher_end_ - cipher_begin_;
    if (have < tls13::header_size) {
        return 0;
    }
    const std::span<const std::uint8_t> header(bytes(in_) + cipher_begin_, tls13::header_size);
    const std::size_t body = tls13::body_length(header);
    if (header[0] != static_cast<std::uint8_t>(tls13::ContentType::application_data) ||
        body > tls13::max_ciphertext) {
        return tls13::header_size;  // wrong from its header: open() refuses it now
    }
    return have >= tls13::header_size + body ? tls13::header_size + body : 0;
}

std::size_t Tls13Stream::take_plaintext(std::span<std::byte> into) {
    const std::size_t n = std::min<std::size_t>(into.size(), plain_end_ - plain_begin_);
    if (n != 0) {
        std::memcpy(into.data(), in_.data() + plain_begin_, n);
        plain_begin_ += static_cast<std::uint32_t>(n);
    }
    return n;
}

void Tls13Stream::release_input_if_empty() {
    if (plain_begin_ == plain_end_ && cipher_begin_ == cipher_end_) {
        in_.release();
        plain_begin_ = plain_end_ = cipher_begin_ = cipher_end_ = 0;
    }
}

IoResult Tls13Stream::read(net::PollWatch& watch, std::span<std::byte> into) {
    if (has_output() && pending_plain_ == 0) {
        // A KeyUpdate or alert of ours is waiting: it goes first (write() may not be called).
        const IoResult sent = flush(watch);
        if (sent.status != IoStatus::ok) {
            return sent;
        }
    }
    std::optional<tls13::Aead> aead;  // one per burst, for the current read key
    std::size_t done = 0;
    while (true) {
        done += take_plaintext(into.subspan(done));
        if (done == into.size() || closed_ || failed_) {
            break;
        }
        if (const std::size_t size = complete_record()) {
            if (!aead) {
                aead.emplace(state_.suite, state_.read, false);
            }
            if (on_record(watch, *aead, size) == Outcome::keys_changed) {
                aead.reset();
            }
            continue;
        }
        if (done > 0) {
            break;  // what is here first; the rest on the next call
        }
        if (!in_) {
            in_ = net::Buffer::borrow();
        }
        if (cipher_begin_ > 0) {  // no plaintext is left: move the partial record to the front
            std::memmove(in_.data(), in_.data() + cipher_begin_, cipher_end_ - cipher_begin_);
            cipher_end_ -= cipher_begin_;
            cipher_begin_ = plain_begin_ = plain_end_ = 0;
        }
        const std::size_t room = buffer_size - cipher_end_;
        const ssize_t n = ::recv(watch.fd, in_.data() + cipher_end_, room, MSG_DONTWAIT);
        if (n > 0) {
            cipher_end_ += static_cast<std::uint32_t>(n);
            if (static_cast<std::size_t>(n) < room && (watch.ready & net::hung_up) == 0) {
                watch.ready &= ~net::readable;  // drained: the next bytes bring an event
            }
            continue;
        }
        if (n == 0) {
            closed_ = true;  // the socket's end; a record cut short is dropped (as OpenSSL)
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        const int error = errno;
        release_input_if_empty();
        if (error == EAGAIN || error == EWOULDBLOCK) {
            watch.ready &= ~net::readable;
            return {IoStatus::want_read, 0, 0};
        }
        return {IoStatus::error, 0, error};
    }
    release_input_if_empty();
    if (done > 0) {
        return {IoStatus::ok, done, 0};
    }
    if (failed_) {
        return {IoStatus::error, 0, 0};
    }
    return {IoStatus::eof, 0, 0};
}

Tls13Stream::Outcome Tls13Stream::on_record(net::PollWatch& watch, tls13::Aead& aead,
                                            std::size_t size) {
    std::span<std::uint8_t> record(bytes(in_) + cipher_begin_, size);
    const tls13::Opened opened = aead.open(state_.read, record);
    cipher_begin_ += static_cast<std::uint32_t>(size);
    if (!opened.ok) {
        return fail(watch, opened.alert, alert_text(opened.alert));
    }
    switch (opened.type) {
        case ContentType::application_data:
            plain_begin_ = static_cast<std::uint32_t>(opened.plaintext.data() - bytes(in_));
            plain_end_ = plain_begin_ + static_cast<std::uint32_t>(opened.plaintext.size());
            return Outcome::data;
        case ContentType::handshake:
            return on_handshake(watch, opened.plaintext);
        case ContentType::alert:
            return on_alert(watch, opened.plaintext);
    }
    return fail(watch, AlertCode::unexpected_message, "unexpected message");
}

// After the handshake, a client may send only KeyUpdate; a NewSessionTicket is the server's
// to send and a CertificateRequest is never asked for. A KeyUpdate ends its record: the next
// record is under the new key.
Tls13Stream::Outcome Tls13Stream::on_handshake(net::PollWatch& watch,
                                               std::span<const std::uint8_t> messages) {
    if (messages.size() < 4 || messages[0] != tls13::key_update_type) {
        return fail(watch, AlertCode::unexpected_message,
                    "unexpected message (a handshake message after the handshake)");
    }
    const std::size_t length = static_cast<std::size_t>(messages[1]) << 16 |
                               static_cast<std::size_t>(messages[2]) << 8 | messages[3];
    if (length != 1 || messages.size() < 5) {
        return fail(watch, AlertCode::decode_error, "decode error (KeyUpdate)");
    }
    if (messages.size() > 5) {
        return fail(watch, AlertCode::unexpected_message,
                    "unexpected message (data after a KeyUpdate in its record)");
    }
    const std::uint8_t requested = messages[4];
    if (requested > 1) {
        return fail(watch, AlertCode::illegal_parameter, "illegal parameter (KeyUpdate)");
    }
    if (!tls13::update_keys(state_.suite, state_.read)) {
        return fail(watch, AlertCode::internal_error, "internal error (KeyUpdate)");
    }
    if (requested == 1) {
        // Ours goes out under the current write key, and the write key changes after it.
        const std::uint8_t key_update[] = {tls13::key_update_type, 0, 0, 1, 0};
        if (!queue(ContentType::handshake, key_update) ||
            !tls13::update_keys(state_.suite, state_.write)) {
            return fail(watch, AlertCode::internal_error, "internal error (KeyUpdate)");
        }
        flush(watch);  // what the kernel cannot take now goes before the next read or write
    }
    return Outcome::keys_changed;
}

// TLS 1.3 reads close_notify and user_canceled at either level and any other alert as fatal
// (as OpenSSL does). A record that is not exactly one alert is answered with decode_error.
Tls13Stream::Outcome Tls13Stream::on_alert(net::PollWatch& watch,
                                           std::span<const std::uint8_t> alert) {
    if (alert.size() != 2) {
        return fail(watch, AlertCode::decode_error, "decode error (alert)");
    }
    const auto code = static_cast<AlertCode>(alert[1]);
    if (code == AlertCode::close_notify) {
        closed_ = true;
        return Outcome::stop;
    }
    if (code == AlertCode::user_canceled) {
        return Outcome::data;  // a warning; its close_notify follows
    }
    failed_ = true;
    error_ = "alert " + std::to_string(alert[1]) + " from the client";
    return Outcome::stop;
}

bool Tls13Stream::queue(ContentType type, std::span<const std::uint8_t> payload) {
    if (!out_) {
        out_ = net::Buffer::borrow();
        out_begin_ = out_end_ = 0;
    }
    const std::size_t need = payload.size() + tls13::seal_overhead;
    if (buffer_size - out_end_ < need) {
        std::memmove(out_.data(), out_.data() + out_begin_, out_end_ - out_begin_);
        out_end_ -= out_begin_;
        out_begin_ = 0;
        if (buffer_size - out_end_ < need) {
            return false;
        }
    }
    tls13::Aead aead(state_.suite, state_.write, true);
    const std::size_t n = aead.seal(state_.write, type, payload,
                                    std::span(bytes(out_) + out_end_, buffer_size - out_end_));
    out_end_ += static_cast<std::uint32_t>(n);
    return n != 0;
}

Tls13Stream::Outcome Tls13Stream::fail(net::PollWatch& watch, AlertCode alert, std::string why) {
    if (!failed_) {
        const std::uint8_t fatal[] = {2, static_cast<std::uint8_t>(alert)};
        if (queue(ContentType::alert, fatal)) {
            flush(watch);  // best effort: the connection ends anyway
        }
        failed_ = true;
        error_ = std::move(why);
    }
    return Outcome::stop;
}

IoResult Tls13Stream::flush(net::PollWatch& watch) {
    while (out_begin_ < out_end_) {
        const ssize_t n = ::send(watch.fd, out_.data() + out_begin_, out_end_ - out_begin_,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            out_begin_ += static_cast<std::uint32_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch.ready &= ~net::writable;
            return {IoStatus::want_write, 0, 0};
        }
        return {IoStatus::error, 0, n < 0 ? errno : EPIPE};
    }
    out_.release();
    out_begin_ = out_end_ = 0;
    return {IoStatus::ok, 0, 0};
}

IoResult Tls13Stream::write(net::PollWatch& watch, std::span<const std::byte> from) {
    if (failed_) {
        return {IoStatus::error, 0, 0};
    }
    if (has_output()) {
        const IoResult sent = flush(watch);
        if (sent.status != IoStatus::ok) {
            return sent;
        }
    }
    if (pending_plain_ > 0) {
        // The caller repeats the write it was told to wait for: those bytes are out now.
        return {IoStatus::ok, std::exchange(pending_plain_, 0), 0};
    }
    if (from.empty()) {
        return {IoStatus::ok, 0, 0};
    }
    tls13::Aead aead(state_.suite, state_.write, true);
    out_ = net::Buffer::borrow();
    out_begin_ = out_end_ = 0;
    std::size_t taken = 0;
    while (taken < from.size() && buffer_size - out_end_ > tls13::seal_overhead) {
        const std::size_t chunk = std::min({tls13::max_plaintext, from.size() - taken,
                                            buffer_size - out_end_ - tls13::seal_overhead});
        const auto* text = reinterpret_cast<const std::uint8_t*>(from.data()) + taken;
        const std::size_t n =
            aead.seal(state_.write, ContentType::application_data, std::span(text, chunk),
                      std::span(bytes(out_) + out_end_, buffer_size - out_end_));
        if (n == 0) {
            out_.release();
            out_begin_ = out_end_ = 0;
            failed_ = true;
            error_ = "internal error (cannot encrypt)";
            return {IoStatus::error, 0, 0};
        }
        out_end_ += static_cast<std::uint32_t>(n);
        taken += chunk;
    }
    const IoResult sent = flush(watch);
    if (sent.status == IoStatus::want_write) {
        pending_plain_ = static_cast<std::uint32_t>(taken);
        return sent;
    }
    if (sent.status != IoStatus::ok) {
        return sent;
    }
    return {IoStatus::ok, taken, 0};
}

void Tls13Stream::send_close_notify(net::PollWatch& watch) {
    if (failed_) {
        return;
    }
    const std::uint8_t close_notify[] = {1, 0};
    if (queue(ContentType::alert, close_notify)) {
        flush(watch);
    }
}

}  // namespace tierlb::worker
