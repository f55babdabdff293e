#pragma once
// An OpenSSL provider named "tierlb" with one algorithm: TLS13-KDF, the key derivation libssl
// runs TLS 1.3's key schedule with (HKDF-Extract and HKDF-Expand-Label, about twenty per full
// handshake), computed by worker/tls13_hkdf.hpp instead of OpenSSL's EVP_KDF/EVP_MAC chain:
// the same bytes for ~1/5 of the instructions. Digests other than SHA-256 and SHA-384 are
// handed to the default provider's TLS13-KDF.
//
// The worker's server SSL_CTXs are made with tls13_kdf_property_query() as their property
// query, which prefers this provider where it has the algorithm and changes nothing else
// ("?provider=tierlb": optional). The provider is loaded into the default library context
// with OpenSSL's fallback providers kept, so what the system's configuration loads still
// applies to every other algorithm.

#include <cstdint>

namespace tierlb::worker {

// Loads the provider once per process. The property query for SSL_CTX_new_ex, or nullptr
// when OpenSSL refused the provider (libssl then derives keys its own way).
const char* tls13_kdf_property_query();

// Derivations this process's provider has computed itself (not handed on): for tests.
std::uint64_t tls13_kdf_derivations();

}  // namespace tierlb::worker
