#pragma once
// A TLS 1.3 connection after the worker took it over from OpenSSL (worker/tls_takeover.hpp):
// records read and written on the socket with the keys alone. The same read/write contract
// as the ends in common/net/stream_end.hpp: readiness bits cleared when the kernel has no
// more, and a write the kernel could not take whole is finished by the next call with the
// same bytes (as OpenSSL's partial writes are).
//
// What it handles after the handshake: application data, KeyUpdate (answered when the peer
// asks), close_notify (end of stream), other alerts (an error). Anything else is refused
// with an unexpected_message alert, as are records that do not authenticate (bad_record_mac).
//
// Memory: the keys (TrafficState) and a few counters. Buffers come from the pool while a
// record is half-read or half-written, and go back as soon as none is.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/net/buffer_pool.hpp"
#include "common/net/poller.hpp"
#include "common/net/stream_end.hpp"
#include "worker/tls13_records.hpp"

namespace tierlb::worker {

class Tls13Stream {
public:
    // OWE_KEY_UPDATE: the peer asked for a KeyUpdate that OpenSSL had not sent yet.
    Tls13Stream(const tls13::TrafficState& state, bool owe_key_update);
    Tls13Stream(const Tls13Stream&) = delete;
    Tls13Stream& operator=(const Tls13Stream&) = delete;
    ~Tls13Stream();

    net::IoResult read(net::PollWatch& watch, std::span<std::byte> into);
    net::IoResult write(net::PollWatch& watch, std::span<const std::byte> from);

    // Something read() can return without the kernel: plaintext, a whole record, or the end.
    bool has_buffered() const;

    // close_notify, as far as the socket takes it now (the caller shuts the socket down).
    void send_close_notify(net::PollWatch& watch);

    // Records still to send (a KeyUpdate or an alert the kernel could not take yet).
    bool has_output() const { return out_begin_ < out_end_; }
    net::IoResult flush(net::PollWatch& watch);

    // Why the last read or write failed with no errno.
    const std::string& error() const { return error_; }

    const tls13::TrafficState& state() const { return state_; }  // for tests

private:
    // What a record did to the keys of the burst's cipher context.
    enum class Outcome { data, keys_changed, stop };

    std::size_t take_plaintext(std::span<std::byte> into);
    std::size_t complete_record() const;  // size of the whole record buffered first, or 0
    Outcome on_record(net::PollWatch& watch, tls13::Aead& aead, std::size_t size);
    Outcome on_handshake(net::PollWatch& watch, std::span<const std::uint8_t> messages);
    Outcome on_alert(net::PollWatch& watch, std::span<const std::uint8_t> alert);
    // Seals one record of TYPE into the output (after what is waiting there).
    bool queue(tls13::ContentType type, std::span<const std::uint8_t> payload);
    Outcome fail(net::PollWatch& watch, tls13::AlertCode alert, std::string why);
    void release_input_if_empty();

    tls13::TrafficState state_;
    net::Buffer in_;  // [plain_begin_, plain_end_) plaintext, [cipher_begin_, cipher_end_) records
    net::Buffer out_;
    std::uint32_t plain_begin_ = 0, plain_end_ = 0, cipher_begin_ = 0, cipher_end_ = 0;
    std::uint32_t out_begin_ = 0, out_end_ = 0;
    std::uint32_t pending_plain_ = 0;  // plaintext sealed in out_ that write() has not reported
    bool closed_ = false;              // close_notify or the socket's end
    bool failed_ = false;
    std::string error_;
};

}  // namespace tierlb::worker
