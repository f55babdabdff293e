// The cryptography of the light TLS 1.3 client (tls13_light.hpp): the suites it offers, the
// per-thread OpenSSL contexts every connection of a thread reuses, HKDF-Expand-Label, and one
// record sealed or opened at a time. Benchmark code: see tls13_light.hpp for what it skips.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

namespace bench::tls13_light {

using Bytes = std::vector<std::uint8_t>;

// The suites offered, in the order OpenSSL's own client prefers them (CHACHA20 left out).
struct Suite_info {
    std::uint16_t id;
    const char* name;
    const char* digest;
    const char* cipher;
    std::size_t hash_size;
    std::size_t key_size;
};
inline constexpr std::array<Suite_info, 2> suites{{
    {0x1302, "TLS_AES_256_GCM_SHA384", "SHA384", "AES-256-GCM", 48, 32},
    {0x1301, "TLS_AES_128_GCM_SHA256", "SHA256", "AES-128-GCM", 32, 16},
}};

constexpr std::size_t max_hash = 48;
constexpr std::size_t iv_size = 12;
constexpr std::size_t tag_size = 16;
constexpr std::size_t header_size = 5;
constexpr std::size_t max_plaintext = 16384;
constexpr std::size_t max_ciphertext = max_plaintext + 256;

constexpr std::uint8_t type_change_cipher_spec = 20;
constexpr std::uint8_t type_alert = 21;
constexpr std::uint8_t type_handshake = 22;
constexpr std::uint8_t type_application_data = 23;

// What every connection of a thread shares: fetched algorithms, reusable contexts, the
// thread's X25519 key, and per suite the constants of the key schedule (the hash of the empty
// string, and Derive-Secret(early secret, "derived", "") since no PSK is ever offered).
struct Thread_crypto {
    bool ok = false;
    EVP_MAC* mac = nullptr;
    std::array<EVP_MD*, suites.size()> digest{};
    std::array<EVP_CIPHER*, suites.size()> cipher{};
    std::array<EVP_MAC_CTX*, suites.size()> hmac_ctx{};
    std::array<std::array<std::uint8_t, max_hash>, suites.size()> empty_hash{};
    std::array<std::array<std::uint8_t, max_hash>, suites.size()> early_derived{};
    EVP_MD_CTX* snapshot = nullptr;
    EVP_CIPHER_CTX* aead = nullptr;
    EVP_PKEY* key = nullptr;
    EVP_PKEY_CTX* exchange = nullptr;
    std::array<std::uint8_t, 32> public_key{};

    Thread_crypto();
    ~Thread_crypto();
    Thread_crypto(const Thread_crypto&) = delete;
    Thread_crypto& operator=(const Thread_crypto&) = delete;
};

// This thread's contexts (made on first use; one io_context per loadgen thread).
Thread_crypto& crypto();

// HMAC with one suite's hash, on a context that is re-keyed for each use.
struct Hmac {
    EVP_MAC_CTX* ctx;
    std::size_t size;
};
Hmac hmac_of(std::size_t suite);

// HMAC(KEY, the concatenation of DATA) into OUT (mac.size bytes).
bool hmac(Hmac mac, std::span<const std::uint8_t> key,
          std::initializer_list<std::span<const std::uint8_t>> data, std::uint8_t* out);

// HKDF-Expand-Label (RFC 8446 section 7.1) for outputs of at most one hash block, which is all
// TLS 1.3 asks for; LABEL without its "tls13 " prefix.
bool expand_label(Hmac mac, std::span<const std::uint8_t> secret, std::string_view label,
                  std::span<const std::uint8_t> context, std::span<std::uint8_t> out);

// One direction's record protection.
struct Keys {
    std::array<std::uint8_t, 32> key{};
    std::array<std::uint8_t, iv_size> iv{};
    std::uint64_t sequence = 0;
};

// Decrypts RECORD (header and body) in place; PLAINTEXT and TYPE get the inner content. The
// sequence number moves on only when the record is authentic.
bool open_record(std::size_t suite, Keys& keys, std::span<std::uint8_t> record,
                 std::span<std::uint8_t>& plaintext, std::uint8_t& type);

// Appends PLAINTEXT (at most max_plaintext) as one protected record of inner TYPE to OUT.
bool seal_record(std::size_t suite, Keys& keys, std::uint8_t type,
                 std::span<const std::uint8_t> plaintext, Bytes& out);

}  // namespace bench::tls13_light
