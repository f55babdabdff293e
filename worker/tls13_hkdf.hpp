#pragma once
// HMAC (RFC 2104), HKDF (RFC 5869) and TLS 1.3's HKDF-Expand-Label (RFC 8446 section 7.1)
// over SHA-256 and SHA-384, computed on OpenSSL's SHA block functions directly.
//
// Why not EVP_KDF: OpenSSL 3's HKDF fetches the digest by name, then sets up HMAC's three
// digest contexts, on every call: ~26,000 instructions per derivation where the hashing
// itself is a few thousand, and a TLS 1.3 handshake derives about twenty times. This is what
// the worker's OpenSSL provider (worker/provider.hpp) computes for libssl's key schedule,
// and what idle offload's record layer derives its keys with.
//
// Secrets pass through stack buffers that are cleansed before returning, but for the last
// four HMAC keys of secret size (with their padded-key digest states), which each thread keeps
// until pushed out (wiped then): a key schedule uses most secrets two to four times nearly in
// a row, and the padded key's two blocks are half of an HMAC's hashing.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>

namespace tierlb::worker::hkdf {

enum class Hash { sha256, sha384 };

constexpr std::size_t max_hash_size = 48;
std::size_t size_of(Hash hash);

// The hash named NAME as OpenSSL spells it ("SHA256", "SHA2-256", "SHA-256", any case; the
// same for 384), or nothing.
std::optional<Hash> hash_named(std::string_view name);

using Bytes = std::span<const std::uint8_t>;

// HASH(MESSAGE) into OUT, size_of(HASH) bytes.
void digest(Hash hash, Bytes message, std::uint8_t* out);

// HMAC(KEY, the concatenation of PARTS) into OUT, size_of(HASH) bytes.
void hmac(Hash hash, Bytes key, std::initializer_list<Bytes> parts, std::uint8_t* out);

// PRK = HKDF-Extract(SALT, IKM) into OUT, size_of(HASH) bytes. An empty salt is HashLen
// zeros (HMAC pads every key with zeros to a block).
void extract(Hash hash, Bytes salt, Bytes ikm, std::uint8_t* out);

// OKM = HKDF-Expand(PRK, INFO, OUT.size()). False if OUT is longer than 255 hash blocks.
bool expand(Hash hash, Bytes prk, Bytes info, std::span<std::uint8_t> out);

// HKDF-Expand-Label(SECRET, LABEL, CONTEXT, OUT.size()) where the label on the wire is
// PREFIX + LABEL (PREFIX is "tls13 " in TLS 1.3). False if a length does not fit its field.
bool expand_label(Hash hash, Bytes secret, Bytes prefix, Bytes label, Bytes context,
                  std::span<std::uint8_t> out);

}  // namespace tierlb::worker::hkdf
