#pragma once
// Between worker/provider.cpp (the provider's entry and algorithm tables) and the files
// that implement its algorithms. Not for use elsewhere: see worker/provider.hpp.

#include <openssl/core.h>

#include <atomic>
#include <cstdint>

namespace tierlb::worker::provider {

extern const OSSL_DISPATCH tls13_kdf_functions[];     // provider_tls13_kdf.cpp
extern const OSSL_DISPATCH x25519_keymgmt_functions[];  // provider_x25519.cpp
extern const OSSL_DISPATCH x25519_exchange_functions[];  // provider_x25519.cpp

extern std::atomic<std::uint64_t> tls13_derivations;
extern std::atomic<std::uint64_t> x25519_key_pairs;

using Function = void (*)();

// OSSL_DISPATCH holds every function as void (*)(); OpenSSL casts each back by its id.
template <typename F>
Function as_function(F f) {
    return reinterpret_cast<Function>(f);
}

}  // namespace tierlb::worker::provider
