#include "bench/tools/tls13_light_crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include <cstring>

namespace bench::tls13_light {

// The loadgen runs one io_context per thread: each thread's connections share its contexts.
Thread_crypto& crypto() {
    thread_local Thread_crypto instance;
    return instance;
}

Hmac hmac_of(std::size_t suite) {
    return {crypto().hmac_ctx[suite], suites[suite].hash_size};
}

bool hmac(Hmac mac, std::span<const std::uint8_t> key,
          std::initializer_list<std::span<const std::uint8_t>> data, std::uint8_t* out) {
    EVP_MAC_CTX* ctx = mac.ctx;
    if (EVP_MAC_init(ctx, key.data(), key.size(), nullptr) != 1) {
        return false;
    }
    for (auto part : data) {
        if (!part.empty() && EVP_MAC_update(ctx, part.data(), part.size()) != 1) {
            return false;
        }
    }
    std::size_t length = 0;
    return EVP_MAC_final(ctx, out, &length, max_hash) == 1 && length == mac.size;
}

// T(1) = HMAC(secret, HkdfLabel || 0x01), its first out.size() bytes.
bool expand_label(Hmac mac, std::span<const std::uint8_t> secret, std::string_view label,
                  std::span<const std::uint8_t> context, std::span<std::uint8_t> out) {
    std::uint8_t info[2 + 1 + 6 + 32 + 1 + max_hash + 1];
    if (out.size() > mac.size || label.size() > 32 || context.size() > max_hash) {
        return false;  // longer than TLS 1.3 ever asks for
    }
    std::size_t n = 0;
    info[n++] = static_cast<std::uint8_t>(out.size() >> 8);
    info[n++] = static_cast<std::uint8_t>(out.size());
    info[n++] = static_cast<std::uint8_t>(6 + label.size());
    std::memcpy(info + n, "tls13 ", 6);
    n += 6;
    std::memcpy(info + n, label.data(), label.size());
    n += label.size();
    info[n++] = static_cast<std::uint8_t>(context.size());
    if (!context.empty()) {
        std::memcpy(info + n, context.data(), context.size());
        n += context.size();
    }
    info[n++] = 1;
    std::uint8_t block[max_hash];
    if (!hmac(mac, secret, {{info, n}}, block)) {
        return false;
    }
    std::memcpy(out.data(), block, out.size());
    OPENSSL_cleanse(block, sizeof block);
    return true;
}

Thread_crypto::Thread_crypto() {
    mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    snapshot = EVP_MD_CTX_new();
    aead = EVP_CIPHER_CTX_new();
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
    if (mac == nullptr || snapshot == nullptr || aead == nullptr || key == nullptr) {
        return;
    }
    std::size_t public_size = public_key.size();
    exchange = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
    if (exchange == nullptr ||
        EVP_PKEY_get_raw_public_key(key, public_key.data(), &public_size) != 1 ||
        public_size != public_key.size()) {
        return;
    }
    for (std::size_t i = 0; i < suites.size(); ++i) {
        digest[i] = EVP_MD_fetch(nullptr, suites[i].digest, nullptr);
        cipher[i] = EVP_CIPHER_fetch(nullptr, suites[i].cipher, nullptr);
        hmac_ctx[i] = EVP_MAC_CTX_new(mac);
        if (digest[i] == nullptr || cipher[i] == nullptr || hmac_ctx[i] == nullptr) {
            return;
        }
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(
                                   OSSL_MAC_PARAM_DIGEST, const_cast<char*>(suites[i].digest), 0),
                               OSSL_PARAM_construct_end()};
        unsigned length = 0;
        if (EVP_MAC_CTX_set_params(hmac_ctx[i], params) != 1 ||
            EVP_Digest("", 0, empty_hash[i].data(), &length, digest[i], nullptr) != 1) {
            return;
        }
        // early secret = HKDF-Extract(salt 0, IKM 0); then Derive-Secret(., "derived", "").
        const std::size_t size = suites[i].hash_size;
        const std::array<std::uint8_t, max_hash> zeros{};
        std::uint8_t early[max_hash];
        const Hmac suite_mac{hmac_ctx[i], size};
        if (!hmac(suite_mac, {zeros.data(), size}, {{zeros.data(), size}}, early) ||
            !expand_label(suite_mac, {early, size}, "derived", {empty_hash[i].data(), size},
                          {early_derived[i].data(), size})) {
            return;
        }
    }
    ok = true;
}

Thread_crypto::~Thread_crypto() {
    for (std::size_t i = 0; i < suites.size(); ++i) {
        EVP_MAC_CTX_free(hmac_ctx[i]);
        EVP_CIPHER_free(cipher[i]);
        EVP_MD_free(digest[i]);
    }
    EVP_PKEY_CTX_free(exchange);
    EVP_PKEY_free(key);
    EVP_CIPHER_CTX_free(aead);
    EVP_MD_CTX_free(snapshot);
    EVP_MAC_free(mac);
}

namespace {

// The per-record nonce: the IV with the sequence number XORed into its last 8 bytes.
std::array<std::uint8_t, iv_size> nonce_of(const Keys& keys) {
    auto nonce = keys.iv;
    for (std::size_t i = 0; i < 8; ++i) {
        nonce[iv_size - 1 - i] ^= static_cast<std::uint8_t>(keys.sequence >> (8 * i));
    }
    return nonce;
}

}  // namespace

bool open_record(std::size_t suite, Keys& keys, std::span<std::uint8_t> record,
                 std::span<std::uint8_t>& plaintext, std::uint8_t& type) {
    if (record.size() < header_size + tag_size + 1) {
        return false;
    }
    EVP_CIPHER_CTX* ctx = crypto().aead;
    auto nonce = nonce_of(keys);
    std::uint8_t* body = record.data() + header_size;
    int body_size = static_cast<int>(record.size() - header_size - tag_size);
    int length = 0;
    std::uint8_t ignored[16];
    if (EVP_DecryptInit_ex2(ctx, crypto().cipher[suite], keys.key.data(), nonce.data(), nullptr) !=
            1 ||
        EVP_DecryptUpdate(ctx, nullptr, &length, record.data(), header_size) != 1 ||
        EVP_DecryptUpdate(ctx, body, &length, body, body_size) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, tag_size, body + body_size) != 1 ||
        EVP_DecryptFinal_ex(ctx, ignored, &length) != 1) {
        return false;
    }
    ++keys.sequence;
    // TLSInnerPlaintext: content, the real type, then zero padding.
    int end = body_size;
    while (end > 0 && body[end - 1] == 0) {
        --end;
    }
    if (end == 0) {
        return false;
    }
    type = body[end - 1];
    plaintext = {body, static_cast<std::size_t>(end - 1)};
    return true;
}

bool seal_record(std::size_t suite, Keys& keys, std::uint8_t type,
                 std::span<const std::uint8_t> plaintext, Bytes& out) {
    std::size_t at = out.size();
    std::size_t inner = plaintext.size() + 1;
    out.resize(at + header_size + inner + tag_size);
    std::uint8_t* header = out.data() + at;
    header[0] = type_application_data;
    header[1] = 3;
    header[2] = 3;
    header[3] = static_cast<std::uint8_t>((inner + tag_size) >> 8);
    header[4] = static_cast<std::uint8_t>(inner + tag_size);
    std::uint8_t* body = header + header_size;
    if (!plaintext.empty()) {
        std::memcpy(body, plaintext.data(), plaintext.size());
    }
    body[plaintext.size()] = type;
    EVP_CIPHER_CTX* ctx = crypto().aead;
    auto nonce = nonce_of(keys);
    int length = 0;
    int final_length = 0;
    if (EVP_EncryptInit_ex2(ctx, crypto().cipher[suite], keys.key.data(), nonce.data(), nullptr) !=
            1 ||
        EVP_EncryptUpdate(ctx, nullptr, &length, header, header_size) != 1 ||
        EVP_EncryptUpdate(ctx, body, &length, body, static_cast<int>(inner)) != 1 ||
        EVP_EncryptFinal_ex(ctx, body + length, &final_length) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, tag_size, body + inner) != 1) {
        out.resize(at);
        return false;
    }
    ++keys.sequence;
    return true;
}
}  // namespace bench::tls13_light
