#pragma once
// TLS 1.3's record layer (RFC 8446 section 5) for the three AEAD suites, as a worker uses it
// once it has taken a connection over from OpenSSL: one direction's traffic secret, key, IV
// and sequence number; HKDF-Expand-Label for the keys and for KeyUpdate; and sealing or
// opening one record at a time. No sockets here: worker/tls13_stream.hpp moves the bytes.
//
// A cipher context (Aead) is made for one burst of records and dropped after it: an idle
// connection holds only the few hundred bytes of TrafficState.

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace tierlb::worker::tls13 {

enum class ContentType : std::uint8_t { alert = 21, handshake = 22, application_data = 23 };

// Alert descriptions this layer sends or reads (RFC 8446 section 6).
enum class AlertCode : std::uint8_t {
    close_notify = 0,
    unexpected_message = 10,
    bad_record_mac = 20,
    record_overflow = 22,
    illegal_parameter = 47,
    decode_error = 50,
    internal_error = 80,
    user_canceled = 90,
};

constexpr std::size_t header_size = 5;
constexpr std::size_t tag_size = 16;
constexpr std::size_t max_plaintext = 16384;                 // 2^14
constexpr std::size_t max_ciphertext = max_plaintext + 256;  // TLSCiphertext.length limit
constexpr std::size_t max_record = header_size + max_ciphertext;
// What sealing adds to a plaintext: the header, the inner content type and the tag.
constexpr std::size_t seal_overhead = header_size + 1 + tag_size;

constexpr std::uint8_t key_update_type = 24;  // HandshakeType.key_update

enum class Suite : std::uint16_t {
    aes_128_gcm_sha256 = 0x1301,
    aes_256_gcm_sha384 = 0x1302,
    chacha20_poly1305_sha256 = 0x1303,
};

// The suite of a TLS 1.3 cipher's IANA number, if this layer implements it (CCM: no).
std::optional<Suite> suite_of(std::uint16_t protocol_id);
std::size_t hash_size(Suite suite);
std::size_t key_size(Suite suite);
constexpr std::size_t iv_size = 12;

// HKDF-Expand-Label(SECRET, LABEL, CONTEXT, OUT.size()) with the suite's hash (RFC 8446
// section 7.1); LABEL without its "tls13 " prefix. False if OpenSSL fails.
bool hkdf_expand_label(Suite suite, std::span<const std::uint8_t> secret, std::string_view label,
                       std::span<const std::uint8_t> context, std::span<std::uint8_t> out);

// One direction: what the peer and this end both know about its records.
struct DirectionKeys {
    std::array<std::uint8_t, 48> secret{};  // application traffic secret N
    std::array<std::uint8_t, 32> key{};
    std::array<std::uint8_t, iv_size> iv{};
    std::uint64_t sequence = 0;  // of the next record
};

struct TrafficState {
    Suite suite = Suite::aes_128_gcm_sha256;
    DirectionKeys read, write;
    void wipe();  // OPENSSL_cleanse of every secret
};

// KEYS for SECRET (the suite's hash size), with the next record numbered SEQUENCE.
bool set_secret(Suite suite, std::span<const std::uint8_t> secret, std::uint64_t sequence,
                DirectionKeys& keys);
// KeyUpdate: application_traffic_secret_N+1 = HKDF-Expand-Label(N, "traffic upd", "", Hash
// length), its key and IV, and the sequence back to 0.
bool update_keys(Suite suite, DirectionKeys& keys);

// What open() found in a record.
struct Opened {
    bool ok = false;
    AlertCode alert = AlertCode::bad_record_mac;  // when not ok: the alert to send
    ContentType type = ContentType::application_data;
    std::span<std::uint8_t> plaintext;  // inside the record that was opened
};

// An AEAD context for one direction's current key, for one burst of records.
class Aead {
public:
    Aead(Suite suite, const DirectionKeys& keys, bool sealing);
    Aead(const Aead&) = delete;
    Aead& operator=(const Aead&) = delete;
    ~Aead();

    bool valid() const { return ctx_ != nullptr; }

    // Seals PLAINTEXT (at most max_plaintext bytes) as one record of TYPE into OUT, which
    // must hold plaintext.size() + seal_overhead bytes; PLAINTEXT may not overlap OUT unless
    // it starts at OUT + header_size. Returns the record's size (0 on failure); the sequence
    // number of KEYS moves on.
    std::size_t seal(DirectionKeys& keys, ContentType type, std::span<const std::uint8_t> plaintext,
                     std::span<std::uint8_t> out);

    // Opens RECORD (header and body, decrypted in place). A header that is wrong on its own
    // (not application_data outside, too long) is refused from its 5 bytes. The sequence
    // moves on only when the record is authentic.
    Opened open(DirectionKeys& keys, std::span<std::uint8_t> record);

private:
    bool start(std::span<const std::uint8_t, iv_size> nonce);

    EVP_CIPHER_CTX* ctx_ = nullptr;
    bool sealing_;
};

// The body length a record header announces (HEADER holds at least header_size bytes).
inline std::size_t body_length(std::span<const std::uint8_t> header) {
    return static_cast<std::size_t>(header[3]) << 8 | header[4];
}

}  // namespace tierlb::worker::tls13
