// X25519 for the worker's provider (worker/provider.hpp): key management and exchange. libssl
// makes the peer's key share (public key only) and its own key pair through them; the public
// key comes from worker/x25519_base.hpp's fixed-base multiplication instead of OpenSSL's
// ladder, the shared secret from its Montgomery ladder.
//
// Parameters and answers are OpenSSL's own X25519 key management's, so that libssl and the
// EVP layer cannot tell the two apart.

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <strings.h>

#include <array>
#include <cstring>
#include <new>

#include "worker/provider_parts.hpp"
#include "worker/x25519_base.hpp"

namespace tierlb::worker::provider {

std::atomic<std::uint64_t> x25519_key_pairs{0};

namespace {

constexpr std::size_t key_size = 32;

struct Key {
    std::array<std::uint8_t, key_size> public_key{};
    std::array<std::uint8_t, key_size> private_key{};
    bool has_public = false;
    bool has_private = false;

    ~Key() { OPENSSL_cleanse(private_key.data(), private_key.size()); }
};

// A key generation in progress: what it was asked for.
struct Generation {
    int selection = 0;
};

void* new_key(void* /*provider*/) {
    return new (std::nothrow) Key();
}

void free_key(void* key) {
    delete static_cast<Key*>(key);
}

int has(const void* vkey, int selection) {
    const auto* key = static_cast<const Key*>(vkey);
    if (key == nullptr) {
        return 0;
    }
    bool ok = true;  // X25519 has no domain parameters: always "present"
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0) {
        ok = ok && key->has_public;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) {
        ok = ok && key->has_private;
    }
    return ok ? 1 : 0;
}

int match(const void* va, const void* vb, int selection) {
    const auto& a = *static_cast<const Key*>(va);
    const auto& b = *static_cast<const Key*>(vb);
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        return 1;  // same type, no parameters to compare
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && a.has_public && b.has_public) {
        return CRYPTO_memcmp(a.public_key.data(), b.public_key.data(), key_size) == 0 ? 1 : 0;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && a.has_private && b.has_private) {
        return CRYPTO_memcmp(a.private_key.data(), b.private_key.data(), key_size) == 0 ? 1 : 0;
    }
    return 0;
}

int validate(const void* vkey, int selection, int /*checktype*/) {
    const auto& key = *static_cast<const Key*>(vkey);
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == OSSL_KEYMGMT_SELECT_KEYPAIR &&
        key.has_public && key.has_private) {
        std::array<std::uint8_t, key_size> computed;
        x25519::public_from_private(computed.data(), key.private_key.data());
        return CRYPTO_memcmp(computed.data(), key.public_key.data(), key_size) == 0 ? 1 : 0;
    }
    return has(vkey, selection);
}

bool octet_param(const OSSL_PARAM* p, std::array<std::uint8_t, key_size>& out) {
    std::size_t size = 0;
    void* data = out.data();
    return p->data_type == OSSL_PARAM_OCTET_STRING && p->data_size == key_size &&
           OSSL_PARAM_get_octet_string(p, &data, key_size, &size) == 1 && size == key_size;
}

// What libssl sets on the peer's key: its key share. A new public key drops any private one.
int set_params(void* vkey, const OSSL_PARAM params[]) {
    auto& key = *static_cast<Key*>(vkey);
    const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
    if (p == nullptr) {
        return 1;
    }
    if (!octet_param(p, key.public_key)) {
        return 0;
    }
    key.has_public = true;
    OPENSSL_cleanse(key.private_key.data(), key.private_key.size());
    key.has_private = false;
    return 1;
}

const OSSL_PARAM* settable_params(void* /*provider*/) {
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_PROPERTIES, nullptr, 0),
        OSSL_PARAM_END,
    };
    return settable;
}

int get_params(void* vkey, OSSL_PARAM params[]) {
    const auto& key = *static_cast<const Key*>(vkey);
    OSSL_PARAM* p = nullptr;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS)) != nullptr &&
        OSSL_PARAM_set_int(p, 253) != 1) {
        return 0;
    }
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS)) != nullptr &&
        OSSL_PARAM_set_int(p, 128) != 1) {
        return 0;
    }
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE)) != nullptr &&
        OSSL_PARAM_set_int(p, static_cast<int>(key_size)) != 1) {
        return 0;
    }
    for (const char* name : {OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, OSSL_PKEY_PARAM_PUB_KEY}) {
        if ((p = OSSL_PARAM_locate(params, name)) != nullptr &&
            (!key.has_public ||
             OSSL_PARAM_set_octet_string(p, key.public_key.data(), key_size) != 1)) {
            return 0;
        }
    }
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY)) != nullptr &&
        (!key.has_private ||
         OSSL_PARAM_set_octet_string(p, key.private_key.data(), key_size) != 1)) {
        return 0;
    }
    return 1;
}

const OSSL_PARAM* gettable_params(void* /*provider*/) {
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, nullptr, 0),
        OSSL_PARAM_END,
    };
    return gettable;
}

const OSSL_PARAM* key_types(int /*selection*/) {
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, nullptr, 0),
        OSSL_PARAM_END,
    };
    return types;
}

// A private key alone gets its public key computed, as OpenSSL's import does.
int import_key(void* vkey, int selection, const OSSL_PARAM params[]) {
    auto& key = *static_cast<Key*>(vkey);
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        return 1;
    }
    const OSSL_PARAM* pub = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY);
    const OSSL_PARAM* priv = (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
                                 ? OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY)
                                 : nullptr;
    if (pub == nullptr && priv == nullptr) {
        return 0;
    }
    if (priv != nullptr) {
        if (!octet_param(priv, key.private_key)) {
            return 0;
        }
        key.has_private = true;
    }
    if (pub != nullptr) {
        if (!octet_param(pub, key.public_key)) {
            return 0;
        }
    } else {
        x25519::public_from_private(key.public_key.data(), key.private_key.data());
    }
    key.has_public = true;
    return 1;
}

int export_key(void* vkey, int selection, OSSL_CALLBACK* callback, void* argument) {
    auto& key = *static_cast<Key*>(vkey);
    std::array<OSSL_PARAM, 3> params;
    std::size_t n = 0;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0) {
        if (key.has_public) {
            params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                            key.public_key.data(), key_size);
        }
        if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && key.has_private) {
            params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY,
                                                            key.private_key.data(), key_size);
        }
    }
    params[n] = OSSL_PARAM_construct_end();
    return callback(params.data(), argument);
}

void* duplicate_key(const void* vkey, int selection) {
    const auto& from = *static_cast<const Key*>(vkey);
    auto* key = new (std::nothrow) Key();
    if (key == nullptr) {
        return nullptr;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0) {
        key->public_key = from.public_key;
        key->has_public = from.has_public;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) {
        key->private_key = from.private_key;
        key->has_private = from.has_private;
    }
    return key;
}

int generation_set_params(void* /*generation*/, const OSSL_PARAM params[]) {
    const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
    if (p == nullptr) {
        return 1;
    }
    const char* group = nullptr;
    return OSSL_PARAM_get_utf8_string_ptr(p, &group) == 1 && group != nullptr &&
                   ::strcasecmp(group, "x25519") == 0
               ? 1
               : 0;
}

const OSSL_PARAM* generation_settable_params(void* /*generation*/, void* /*provider*/) {
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_PROPERTIES, nullptr, 0),
        OSSL_PARAM_END,
    };
    return settable;
}

void* generation_init(void* /*provider*/, int selection, const OSSL_PARAM params[]) {
    auto* generation = new (std::nothrow) Generation{selection};
    if (generation != nullptr && generation_set_params(generation, params) != 1) {
        delete generation;
        return nullptr;
    }
    return generation;
}

// The private key as RFC 7748 uses it (clamped, as OpenSSL stores it), the public key from
// the table. Without a key pair asked for (parameter generation), an empty key.
void* generate(void* vgeneration, OSSL_CALLBACK* /*callback*/, void* /*argument*/) {
    const auto& generation = *static_cast<const Generation*>(vgeneration);
    auto* key = new (std::nothrow) Key();
    if (key == nullptr || (generation.selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        return key;
    }
    if (RAND_priv_bytes_ex(nullptr, key->private_key.data(), key_size, 0) != 1) {
        delete key;
        return nullptr;
    }
    key->private_key[0] &= 248;
    key->private_key[31] &= 127;
    key->private_key[31] |= 64;
    x25519::public_from_private(key->public_key.data(), key->private_key.data());
    key->has_private = key->has_public = true;
    x25519_key_pairs.fetch_add(1, std::memory_order_relaxed);
    return key;
}

void generation_cleanup(void* generation) {
    delete static_cast<Generation*>(generation);
}

const char* operation_name(int /*operation*/) {
    return "X25519";
}

// The exchange: this provider's own, so that libssl's derivation never reaches OpenSSL's
// exchange through EVP's export of our keys. That path fetches OpenSSL's X25519 key
// management with libssl's property query and OpenSSL 3.0 caches the answer under that
// query for every later fetch: from the second handshake on, libssl would make its keys on
// OpenSSL's key management again. The secret is x25519_base's ladder, a little faster than
// OpenSSL's with its EVP set-up (24.6 against 25.7 µs here).
struct Exchange {
    Key own, peer;
};

void* exchange_new(void* /*provider*/) {
    return new (std::nothrow) Exchange();
}

void* exchange_duplicate(void* vexchange) {
    return new (std::nothrow) Exchange(*static_cast<const Exchange*>(vexchange));
}

void exchange_free(void* vexchange) {
    delete static_cast<Exchange*>(vexchange);
}

int exchange_init(void* vexchange, void* vkey, const OSSL_PARAM /*params*/[]) {
    auto& exchange = *static_cast<Exchange*>(vexchange);
    const auto* key = static_cast<const Key*>(vkey);
    if (key == nullptr || !key->has_private || !key->has_public) {
        return 0;
    }
    exchange.own = *key;
    return 1;
}

int exchange_set_peer(void* vexchange, void* vkey) {
    auto& exchange = *static_cast<Exchange*>(vexchange);
    const auto* key = static_cast<const Key*>(vkey);
    if (key == nullptr || !key->has_public) {
        return 0;
    }
    exchange.peer.public_key = key->public_key;
    exchange.peer.has_public = true;
    return 1;
}

int exchange_derive(void* vexchange, unsigned char* secret, std::size_t* secret_size,
                    std::size_t out_size) {
    const auto& exchange = *static_cast<const Exchange*>(vexchange);
    if (secret == nullptr) {
        *secret_size = key_size;
        return 1;
    }
    if (out_size < key_size || !exchange.own.has_private || !exchange.peer.has_public) {
        return 0;
    }
    // Refused, as OpenSSL refuses it, when the result is all zeros (a peer key of small order).
    if (!x25519::shared_secret(secret, exchange.own.private_key.data(),
                               exchange.peer.public_key.data())) {
        OPENSSL_cleanse(secret, key_size);
        return 0;
    }
    *secret_size = key_size;
    return 1;
}

}  // namespace

const OSSL_DISPATCH x25519_exchange_functions[] = {
    {OSSL_FUNC_KEYEXCH_NEWCTX, as_function(&exchange_new)},
    {OSSL_FUNC_KEYEXCH_DUPCTX, as_function(&exchange_duplicate)},
    {OSSL_FUNC_KEYEXCH_FREECTX, as_function(&exchange_free)},
    {OSSL_FUNC_KEYEXCH_INIT, as_function(&exchange_init)},
    {OSSL_FUNC_KEYEXCH_SET_PEER, as_function(&exchange_set_peer)},
    {OSSL_FUNC_KEYEXCH_DERIVE, as_function(&exchange_derive)},
    {0, nullptr},
};

const OSSL_DISPATCH x25519_keymgmt_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, as_function(&new_key)},
    {OSSL_FUNC_KEYMGMT_FREE, as_function(&free_key)},
    {OSSL_FUNC_KEYMGMT_HAS, as_function(&has)},
    {OSSL_FUNC_KEYMGMT_MATCH, as_function(&match)},
    {OSSL_FUNC_KEYMGMT_VALIDATE, as_function(&validate)},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, as_function(&get_params)},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, as_function(&gettable_params)},
    {OSSL_FUNC_KEYMGMT_SET_PARAMS, as_function(&set_params)},
    {OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, as_function(&settable_params)},
    {OSSL_FUNC_KEYMGMT_IMPORT, as_function(&import_key)},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, as_function(&key_types)},
    {OSSL_FUNC_KEYMGMT_EXPORT, as_function(&export_key)},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, as_function(&key_types)},
    {OSSL_FUNC_KEYMGMT_DUP, as_function(&duplicate_key)},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, as_function(&generation_init)},
    {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, as_function(&generation_set_params)},
    {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, as_function(&generation_settable_params)},
    {OSSL_FUNC_KEYMGMT_GEN, as_function(&generate)},
    {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, as_function(&generation_cleanup)},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, as_function(&operation_name)},
    {0, nullptr},
};

}  // namespace tierlb::worker::provider
