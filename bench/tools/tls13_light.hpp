// bench_loadgen's light TLS 1.3 client (--light): the client side of a full TLS 1.3 handshake
// (X25519, AES-GCM) written on OpenSSL's primitives, for the rate mode only.
//
// Why: the load generator shares the 2 cores with the servers it measures, and OpenSSL 3.0's
// client spends more per handshake than a TLS server does (~5 M instructions, 1.5 M of them
// decoding the server's certificate and 0.85 M checking its signature), so every handshake-rate
// ratio was squeezed toward 1 by the client's own cost. This client does what a server cannot
// tell apart from a real client (the same ClientHello extensions that matter, its Finished, the
// request, close_notify) and skips what only protects the client: it neither decodes the
// certificate nor verifies the CertificateVerify signature, and each thread reuses one X25519
// key (the server's key is fresh per handshake, so the server's work is unchanged). It does
// check the server's Finished, so a wrong key schedule cannot pass unnoticed.
//
// No sockets here: the caller moves the bytes (loadgen_modes.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "bench/tools/tls13_light_crypto.hpp"

namespace bench::tls13_light {

struct Light_options {
    std::string sni;   // empty: no server_name extension
    std::string alpn;  // ALPN wire format (length-prefixed names), empty: none
};

// One connection's client. Feed it what the socket read; send what it appends to `out`.
class Connection {
public:
    explicit Connection(const Light_options& options);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Appends the ClientHello record to OUT. False (see error()) if the crypto failed.
    bool start(Bytes& out);

    // Consumes DATA read from the socket. During the handshake it may append the client's
    // Finished to OUT (then established() is true); afterwards application data is appended to
    // APP. Returns false on a protocol failure, an alert (error() says which) or once the peer's
    // close_notify was read (peer_closed()).
    bool receive(std::span<const std::uint8_t> data, Bytes& out, Bytes& app);

    // Appends DATA as application-data records to OUT (established connections only).
    bool send(std::span<const std::uint8_t> data, Bytes& out);
    // Appends the close_notify alert to OUT.
    bool close_notify(Bytes& out);

    bool established() const { return state_ == State::established; }
    bool peer_closed() const { return peer_closed_; }
    const std::string& error() const { return error_; }
    // What the handshake settled, as a JSON object (version, cipher, group, alpn).
    std::string describe() const;

private:
    enum class State { server_hello, encrypted_handshake, established, failed };
    struct Secrets;

    bool fail(std::string reason);
    bool on_record(std::uint8_t type, std::span<std::uint8_t> record, Bytes& out, Bytes& app);
    bool on_server_hello(std::span<const std::uint8_t> message);
    bool on_handshake_message(std::span<const std::uint8_t> message, Bytes& out);
    bool finish_handshake(std::span<const std::uint8_t> server_finished, Bytes& out);
    bool seal(std::uint8_t type, std::span<const std::uint8_t> plaintext, Bytes& out);

    Light_options options_;
    State state_ = State::server_hello;
    bool peer_closed_ = false;
    std::string error_;
    std::uint16_t suite_ = 0;
    std::string alpn_;
    Bytes client_hello_;  // the handshake message, until the suite names the transcript hash
    Bytes pending_;       // received bytes not yet a whole record
    Bytes messages_;      // decrypted handshake bytes not yet a whole message
    std::unique_ptr<Secrets> secrets_;  // the key schedule, from the ServerHello on
};

}  // namespace bench::tls13_light
