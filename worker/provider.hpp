#pragma once
// An OpenSSL provider named "tierlb", built into the worker, with the two pieces of a TLS 1.3
// handshake where OpenSSL 3.0 spends far more than the arithmetic needs:
// - TLS13-KDF, the key schedule (HKDF-Extract and HKDF-Expand-Label, about twenty per full
//   handshake), on worker/tls13_hkdf.hpp instead of the EVP_KDF/EVP_MAC chain, which fetches
//   the digest and sets up three digest contexts per derivation (provider_tls13_kdf.cpp);
// - X25519: making a key pair on a precomputed table of the base point's multiples
//   (worker/x25519_base.hpp), where OpenSSL runs a full Montgomery ladder, and the shared
//   secret on a ladder of our own (provider_x25519.cpp); the provider declares the x25519
//   TLS group too, which libssl needs to offer a group on another provider's keys.
//
// The worker's server SSL_CTXs are made with provider_property_query() as their property
// query, "?provider=tierlb": prefer this provider where it has the algorithm, and change
// nothing else. The provider is loaded into the default library context with OpenSSL's
// fallback providers kept, so what the system's configuration loads still applies to every
// other algorithm.

#include <cstdint>

namespace tierlb::worker {

// Loads the provider once per process. The property query for SSL_CTX_new_ex, or nullptr
// when OpenSSL refused the provider (libssl then uses its own code throughout).
const char* provider_property_query();

// What this process's provider computed itself: for tests.
std::uint64_t provider_tls13_derivations();  // TLS13-KDF (not those handed on)
std::uint64_t provider_x25519_key_pairs();   // X25519 key pairs generated

}  // namespace tierlb::worker
