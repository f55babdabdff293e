#include "worker/provider.hpp"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/prov_ssl.h>

#include <string_view>

#include "worker/provider_parts.hpp"

namespace tierlb::worker {

namespace provider {
namespace {

constexpr const char* name = "tierlb";

const OSSL_ALGORITHM kdfs[] = {
    {"TLS13-KDF", "provider=tierlb", tls13_kdf_functions,
     "TLS 1.3 key schedule on direct SHA-256/SHA-384 HMAC"},
    {nullptr, nullptr, nullptr, nullptr},
};

// OpenSSL's own names for X25519: libssl asks for the algorithm by name, and EVP matches our
// keys with OpenSSL's (comparison, export) by the name too.
const OSSL_ALGORITHM key_managements[] = {
    {"X25519:1.3.101.110", "provider=tierlb", x25519_keymgmt_functions,
     "X25519 key pairs from a table of the base point's multiples"},
    {nullptr, nullptr, nullptr, nullptr},
};

const OSSL_ALGORITHM key_exchanges[] = {
    {"X25519:1.3.101.110", "provider=tierlb", x25519_exchange_functions,
     "X25519 shared secrets on this provider's keys"},
    {nullptr, nullptr, nullptr, nullptr},
};

const OSSL_ALGORITHM* query_operation(void* /*provider*/, int operation, int* no_store) {
    *no_store = 0;
    switch (operation) {
        case OSSL_OP_KDF:
            return kdfs;
        case OSSL_OP_KEYMGMT:
            return key_managements;
        case OSSL_OP_KEYEXCH:
            return key_exchanges;
        default:
            return nullptr;
    }
}

// libssl offers a TLS group only if the key management its property query finds belongs to
// the provider that declared the group: with ours preferred, the default provider's X25519
// group would be dropped (and clients asked to retry with P-256). So the group is declared
// here too, with the default provider's values (RFC 8446's x25519, 29).
int get_capabilities(void* /*provider*/, const char* capability, OSSL_CALLBACK* callback,
                     void* argument) {
    if (std::string_view(capability) != "TLS-GROUP") {
        return 1;  // nothing else to declare
    }
    static unsigned int group_id = 29, security_bits = 128;
    static int min_tls = TLS1_VERSION, max_tls = 0, min_dtls = DTLS1_VERSION, max_dtls = 0;
    static char tls_name[] = "x25519", internal_name[] = "X25519", algorithm[] = "X25519";
    static const OSSL_PARAM x25519[] = {
        OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME, tls_name, sizeof tls_name),
        OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME_INTERNAL, internal_name,
                               sizeof internal_name),
        OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_ALG, algorithm, sizeof algorithm),
        OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_ID, &group_id),
        OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_SECURITY_BITS, &security_bits),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_TLS, &min_tls),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_TLS, &max_tls),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_DTLS, &min_dtls),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_DTLS, &max_dtls),
        OSSL_PARAM_END,
    };
    return callback(x25519, argument);
}

const OSSL_PARAM* gettable_params(void* /*provider*/) {
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, nullptr, 0),
        OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, nullptr),
        OSSL_PARAM_END,
    };
    return gettable;
}

int get_params(void* /*provider*/, OSSL_PARAM params[]) {
    OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != nullptr && OSSL_PARAM_set_utf8_ptr(p, "tierlb's TLS 1.3 handshake helpers") != 1) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    return p == nullptr || OSSL_PARAM_set_int(p, 1) == 1 ? 1 : 0;
}

const OSSL_DISPATCH functions[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, as_function(&query_operation)},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, as_function(&gettable_params)},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, as_function(&get_params)},
    {OSSL_FUNC_PROVIDER_GET_CAPABILITIES, as_function(&get_capabilities)},
    {0, nullptr},
};

int init(const OSSL_CORE_HANDLE* /*core*/, const OSSL_DISPATCH* /*in*/, const OSSL_DISPATCH** out,
         void** provider) {
    *out = functions;
    *provider = nullptr;  // no state: every context stands alone
    return 1;
}

// The provider loaded for the process's lifetime; unloaded at exit, before OpenSSL's own
// clean-up (registered earlier, so run later), which then frees it with the rest.
struct Loaded {
    OSSL_PROVIDER* provider = nullptr;

    Loaded() {
        // retain_fallbacks: loading a provider by hand would otherwise stop OpenSSL from
        // loading its default one when the configuration names none.
        if (OSSL_PROVIDER_add_builtin(nullptr, name, &init) == 1) {
            provider = OSSL_PROVIDER_try_load(nullptr, name, 1);
        }
    }
    ~Loaded() {
        if (provider != nullptr) {
            OSSL_PROVIDER_unload(provider);
        }
    }
    Loaded(const Loaded&) = delete;
    Loaded& operator=(const Loaded&) = delete;
};

}  // namespace
}  // namespace provider

const char* provider_property_query() {
    static const provider::Loaded loaded;  // thread-safe once
    return loaded.provider != nullptr ? "?provider=tierlb" : nullptr;
}

std::uint64_t provider_tls13_derivations() {
    return provider::tls13_derivations.load(std::memory_order_relaxed);
}

std::uint64_t provider_x25519_key_pairs() {
    return provider::x25519_key_pairs.load(std::memory_order_relaxed);
}

}  // namespace tierlb::worker
