#include "worker/tls13_records.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "worker/tls13_hkdf.hpp"

namespace tierlb::worker::tls13 {

namespace {

// Fetched once: an implicit fetch on every context would look the algorithm up each burst.
const EVP_CIPHER* cipher_of(Suite suite) {
    static EVP_CIPHER* const aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
    static EVP_CIPHER* const aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    static EVP_CIPHER* const chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    switch (suite) {
        case Suite::aes_128_gcm_sha256:
            return aes128;
        case Suite::aes_256_gcm_sha384:
            return aes256;
        case Suite::chacha20_poly1305_sha256:
            return chacha;
    }
    return nullptr;
}

// The record's nonce: the IV with the 64-bit sequence number XORed into its last bytes.
std::array<std::uint8_t, iv_size> nonce_of(const DirectionKeys& keys) {
    std::array<std::uint8_t, iv_size> nonce = keys.iv;
    for (std::size_t i = 0; i < 8; ++i) {
        nonce[iv_size - 1 - i] ^= static_cast<std::uint8_t>(keys.sequence >> (8 * i));
    }
    return nonce;
}

}  // namespace

std::optional<Suite> suite_of(std::uint16_t protocol_id) {
    switch (protocol_id) {
        case 0x1301:
            return Suite::aes_128_gcm_sha256;
        case 0x1302:
            return Suite::aes_256_gcm_sha384;
        case 0x1303:
            return Suite::chacha20_poly1305_sha256;
        default:
            return std::nullopt;  // the CCM suites, or anything newer
    }
}

std::size_t hash_size(Suite suite) {
    return suite == Suite::aes_256_gcm_sha384 ? 48 : 32;
}

std::size_t key_size(Suite suite) {
    return suite == Suite::aes_128_gcm_sha256 ? 16 : 32;
}

bool hkdf_expand_label(Suite suite, std::span<const std::uint8_t> secret, std::string_view label,
                       std::span<const std::uint8_t> context, std::span<std::uint8_t> out) {
    static constexpr std::string_view prefix = "tls13 ";
    const auto hash = suite == Suite::aes_256_gcm_sha384 ? hkdf::Hash::sha384 : hkdf::Hash::sha256;
    auto bytes = [](std::string_view text) {
        return hkdf::Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    };
    return hkdf::expand_label(hash, secret, bytes(prefix), bytes(label), context, out);
}

void TrafficState::wipe() {
    OPENSSL_cleanse(&read, sizeof read);
    OPENSSL_cleanse(&write, sizeof write);
}

bool set_secret(Suite suite, std::span<const std::uint8_t> secret, std::uint64_t sequence,
                DirectionKeys& keys) {
    if (secret.size() != hash_size(suite)) {
        return false;
    }
    std::memcpy(keys.secret.data(), secret.data(), secret.size());
    keys.sequence = sequence;
    const std::span<const std::uint8_t> current(keys.secret.data(), secret.size());
    return hkdf_expand_label(suite, current, "key", {},
                             std::span(keys.key.data(), key_size(suite))) &&
           hkdf_expand_label(suite, current, "iv", {}, keys.iv);
}

bool update_keys(Suite suite, DirectionKeys& keys) {
    std::array<std::uint8_t, 48> next{};
    const std::size_t n = hash_size(suite);
    bool ok = hkdf_expand_label(suite, std::span(keys.secret.data(), n), "traffic upd", {},
                                std::span(next.data(), n)) &&
              set_secret(suite, std::span(next.data(), n), 0, keys);
    OPENSSL_cleanse(next.data(), next.size());
    return ok;
}

Aead::Aead(Suite suite, const DirectionKeys& keys, bool sealing) : sealing_(sealing) {
    ctx_ = EVP_CIPHER_CTX_new();
    if (ctx_ != nullptr && EVP_CipherInit_ex2(ctx_, cipher_of(suite), keys.key.data(), nullptr,
                                              sealing ? 1 : 0, nullptr) != 1) {
        EVP_CIPHER_CTX_free(ctx_);
        ctx_ = nullptr;
    }
}

Aead::~Aead() {
    EVP_CIPHER_CTX_free(ctx_);
}

bool Aead::start(std::span<const std::uint8_t, iv_size> nonce) {
    return EVP_CipherInit_ex2(ctx_, nullptr, nullptr, nonce.data(), sealing_ ? 1 : 0, nullptr) == 1;
}

std::size_t Aead::seal(DirectionKeys& keys, ContentType type,
                       std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out) {
    const std::size_t inner = plaintext.size() + 1;
    const std::size_t body = inner + tag_size;
    if (ctx_ == nullptr || plaintext.size() > max_plaintext || out.size() < header_size + body) {
        return 0;
    }
    out[0] = static_cast<std::uint8_t>(ContentType::application_data);  // opaque_type
    out[1] = 0x03;                                                      // legacy_record_version
    out[2] = 0x03;
    out[3] = static_cast<std::uint8_t>(body >> 8);
    out[4] = static_cast<std::uint8_t>(body);
    std::uint8_t* text = out.data() + header_size;
    if (plaintext.data() != text) {
        std::memmove(text, plaintext.data(), plaintext.size());
    }
    text[plaintext.size()] = static_cast<std::uint8_t>(type);  // no padding
    const auto nonce = nonce_of(keys);
    int n = 0;
    int last = 0;
    if (!start(nonce) || EVP_CipherUpdate(ctx_, nullptr, &n, out.data(), header_size) != 1 ||
        EVP_CipherUpdate(ctx_, text, &n, text, static_cast<int>(inner)) != 1 ||
        EVP_CipherFinal_ex(ctx_, text + n, &last) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, tag_size, text + inner) != 1) {
        return 0;
    }
    ++keys.sequence;
    return header_size + body;
}

Opened Aead::open(DirectionKeys& keys, std::span<std::uint8_t> record) {
    Opened result;
    if (record[0] != static_cast<std::uint8_t>(ContentType::application_data)) {
        // Protected records are all application_data outside; a change_cipher_spec after the
        // handshake is unexpected too (RFC 8446 section 5).
        result.alert = AlertCode::unexpected_message;
        return result;
    }
    const std::size_t body = body_length(record);
    if (body > max_ciphertext) {
        result.alert = AlertCode::record_overflow;
        return result;
    }
    if (ctx_ == nullptr || body < tag_size + 1 || record.size() != header_size + body) {
        return result;  // bad_record_mac: cannot be authentic
    }
    const std::size_t sealed = body - tag_size;
    std::uint8_t* text = record.data() + header_size;
    const auto nonce = nonce_of(keys);
    int n = 0;
    int last = 0;
    if (!start(nonce) || EVP_CipherUpdate(ctx_, nullptr, &n, record.data(), header_size) != 1 ||
        EVP_CipherUpdate(ctx_, text, &n, text, static_cast<int>(sealed)) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, tag_size, text + sealed) != 1 ||
        EVP_CipherFinal_ex(ctx_, text + n, &last) != 1) {
        return result;
    }
    ++keys.sequence;
    // TLSInnerPlaintext: content, then the type, then zeros (padding).
    std::size_t end = sealed;
    while (end > 0 && text[end - 1] == 0) {
        --end;
    }
    if (end == 0) {
        result.alert = AlertCode::unexpected_message;  // no non-zero type
        return result;
    }
    const std::uint8_t type = text[end - 1];
    if (end - 1 > max_plaintext) {
        result.alert = AlertCode::record_overflow;
        return result;
    }
    if (type != static_cast<std::uint8_t>(ContentType::alert) &&
        type != static_cast<std::uint8_t>(ContentType::handshake) &&
        type != static_cast<std::uint8_t>(ContentType::application_data)) {
        result.alert = AlertCode::unexpected_message;
        return result;
    }
    result.ok = true;
    result.type = static_cast<ContentType>(type);
    result.plaintext = std::span(text, end - 1);
    return result;
}

}  // namespace tierlb::worker::tls13
