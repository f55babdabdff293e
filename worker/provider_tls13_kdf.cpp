// TLS13-KDF for the worker's provider (worker/provider.hpp): the parameters libssl passes,
// kept per context, and the derivation on worker/tls13_hkdf.hpp. Digests other than SHA-256
// and SHA-384 are handed to the default provider's TLS13-KDF.

#include "worker/provider_parts.hpp"

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <strings.h>

#include <array>
#include <atomic>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "worker/tls13_hkdf.hpp"

namespace tierlb::worker::provider {

std::atomic<std::uint64_t> tls13_derivations{0};

namespace {

// A parameter's bytes, kept until the context is reset or freed. TLS13-KDF's inputs are
// secrets (key, salt) and public strings (prefix, label, transcript hash): in TLS 1.3 all
// but a finite-field shared secret fit the inline bytes, so that the ~20 derivations of a
// handshake, five parameters each, allocate nothing for them.
class Field {
public:
    Field() = default;
    Field(const Field& other) { copy(other.view(), other.set_); }
    Field& operator=(const Field& other) {
        if (this != &other) {
            copy(other.view(), other.set_);
        }
        return *this;
    }
    ~Field() { clear(); }

    void clear() {
        OPENSSL_cleanse(inline_.data(), size_ < inline_.size() ? size_ : inline_.size());
        if (!large_.empty()) {
            OPENSSL_cleanse(large_.data(), large_.size());
            large_.clear();
        }
        size_ = 0;
        set_ = false;
    }
    bool assign(const OSSL_PARAM& p) {
        if (p.data_type != OSSL_PARAM_OCTET_STRING) {
            return false;
        }
        const auto* data = static_cast<const std::uint8_t*>(p.data);
        copy(hkdf::Bytes(data, data != nullptr ? p.data_size : 0), true);
        return true;
    }
    bool set() const { return set_; }
    hkdf::Bytes view() const {
        return hkdf::Bytes(size_ <= inline_.size() ? inline_.data() : large_.data(), size_);
    }

private:
    void copy(hkdf::Bytes from, bool set) {
        clear();
        if (from.size() <= inline_.size()) {
            if (!from.empty()) {
                std::memcpy(inline_.data(), from.data(), from.size());
            }
        } else {
            large_.assign(from.begin(), from.end());
        }
        size_ = from.size();
        set_ = set;
    }

    std::array<std::uint8_t, 64> inline_{};
    std::vector<std::uint8_t> large_;
    std::size_t size_ = 0;
    bool set_ = false;
};

// One EVP_KDF_CTX of TLS13-KDF: the parameters as OpenSSL's own implementation takes them.
struct KdfContext {
    int mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;  // refused at derive: TLS13-KDF has two
    std::string digest;
    Field key, salt, prefix, label, data;

    void reset() {
        mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;
        digest.clear();
        for (Field* f : {&key, &salt, &prefix, &label, &data}) {
            f->clear();
        }
    }
    ~KdfContext() { reset(); }
};

bool set_mode(KdfContext& ctx, const OSSL_PARAM& p) {
    int mode = -1;
    if (p.data_type == OSSL_PARAM_UTF8_STRING) {
        const char* name = static_cast<const char*>(p.data);
        if (name == nullptr) {
            return false;
        }
        if (::strcasecmp(name, "EXTRACT_AND_EXPAND") == 0) {
            mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;
        } else if (::strcasecmp(name, "EXTRACT_ONLY") == 0) {
            mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
        } else if (::strcasecmp(name, "EXPAND_ONLY") == 0) {
            mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
        }
    } else if (OSSL_PARAM_get_int(&p, &mode) != 1) {
        return false;
    }
    if (mode != EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND && mode != EVP_KDF_HKDF_MODE_EXTRACT_ONLY &&
        mode != EVP_KDF_HKDF_MODE_EXPAND_ONLY) {
        return false;
    }
    ctx.mode = mode;
    return true;
}

int set_ctx_params(void* vctx, const OSSL_PARAM params[]) {
    auto& ctx = *static_cast<KdfContext*>(vctx);
    for (const OSSL_PARAM* p = params; p != nullptr && p->key != nullptr; ++p) {
        const std::string_view name = p->key;
        bool ok = true;
        if (name == OSSL_KDF_PARAM_MODE) {
            ok = set_mode(ctx, *p);
        } else if (name == OSSL_KDF_PARAM_DIGEST) {
            ok = p->data_type == OSSL_PARAM_UTF8_STRING && p->data != nullptr;
            if (ok) {
                ctx.digest.assign(static_cast<const char*>(p->data));
            }
        } else if (name == OSSL_KDF_PARAM_KEY) {
            ok = ctx.key.assign(*p);
        } else if (name == OSSL_KDF_PARAM_SALT) {
            ok = ctx.salt.assign(*p);
        } else if (name == OSSL_KDF_PARAM_PREFIX) {
            ok = ctx.prefix.assign(*p);
        } else if (name == OSSL_KDF_PARAM_LABEL) {
            ok = ctx.label.assign(*p);
        } else if (name == OSSL_KDF_PARAM_DATA) {
            ok = ctx.data.assign(*p);
        }  // others (properties): the digest is ours, nothing to fetch
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

// A digest this file does not compute: the default provider's TLS13-KDF, same parameters.
int derive_elsewhere(const KdfContext& ctx, unsigned char* out, std::size_t size) {
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_TLS1_3_KDF, "provider=default");
    EVP_KDF_CTX* other = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
    EVP_KDF_free(kdf);
    if (other == nullptr) {
        return 0;
    }
    int mode = ctx.mode;
    std::array<OSSL_PARAM, 8> params;
    std::size_t n = 0;
    params[n++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                   const_cast<char*>(ctx.digest.c_str()), 0);
    auto add = [&](const char* name, const Field& field) {
        if (field.set()) {
            params[n++] = OSSL_PARAM_construct_octet_string(
                name, const_cast<std::uint8_t*>(field.view().data()), field.view().size());
        }
    };
    add(OSSL_KDF_PARAM_KEY, ctx.key);
    add(OSSL_KDF_PARAM_SALT, ctx.salt);
    add(OSSL_KDF_PARAM_PREFIX, ctx.prefix);
    add(OSSL_KDF_PARAM_LABEL, ctx.label);
    add(OSSL_KDF_PARAM_DATA, ctx.data);
    params[n] = OSSL_PARAM_construct_end();
    const int ok = EVP_KDF_derive(other, out, size, params.data());
    EVP_KDF_CTX_free(other);
    return ok;
}

// Hash(""): the context of every "derived" salt.
hkdf::Bytes hash_of_nothing(hkdf::Hash hash) {
    static const auto computed = [] {
        std::array<std::array<std::uint8_t, hkdf::max_hash_size>, 2> h{};
        hkdf::digest(hkdf::Hash::sha256, {}, h[0].data());
        hkdf::digest(hkdf::Hash::sha384, {}, h[1].data());
        return h;
    }();
    const auto& h = computed[hash == hkdf::Hash::sha384 ? 1 : 0];
    return hkdf::Bytes(h.data(), hkdf::size_of(hash));
}

// RFC 8446 section 7.1's Derive-Secret before each Extract but the first: the salt is
// HKDF-Expand-Label(previous secret, LABEL ("derived"), Hash(""), HashLen).
bool extract(hkdf::Hash hash, const KdfContext& ctx, unsigned char* out, std::size_t size) {
    const std::size_t n = hkdf::size_of(hash);
    if (size != n) {
        return false;
    }
    // No key: HashLen zeros (the master secret's Extract, and the early one without PSK).
    static constexpr std::array<std::uint8_t, hkdf::max_hash_size> zeros{};
    const hkdf::Bytes ikm = ctx.key.set() ? ctx.key.view() : hkdf::Bytes(zeros.data(), n);
    if (!ctx.salt.set()) {
        hkdf::extract(hash, {}, ikm, out);
        return true;
    }
    std::array<std::uint8_t, hkdf::max_hash_size> derived{};
    const bool ok = hkdf::expand_label(hash, ctx.salt.view(), ctx.prefix.view(), ctx.label.view(),
                                       hash_of_nothing(hash), std::span(derived.data(), n));
    if (ok) {
        hkdf::extract(hash, hkdf::Bytes(derived.data(), n), ikm, out);
    }
    OPENSSL_cleanse(derived.data(), derived.size());
    return ok;
}

int derive(void* vctx, unsigned char* out, std::size_t size, const OSSL_PARAM params[]) {
    auto& ctx = *static_cast<KdfContext*>(vctx);
    if (set_ctx_params(vctx, params) != 1 || out == nullptr) {
        return 0;
    }
    const auto hash = hkdf::hash_named(ctx.digest);
    if (!hash) {
        return derive_elsewhere(ctx, out, size);
    }
    tls13_derivations.fetch_add(1, std::memory_order_relaxed);
    std::span<std::uint8_t> output(out, size);
    switch (ctx.mode) {
        case EVP_KDF_HKDF_MODE_EXPAND_ONLY:
            return hkdf::expand_label(*hash, ctx.key.view(), ctx.prefix.view(), ctx.label.view(),
                                      ctx.data.view(), output)
                       ? 1
                       : 0;
        case EVP_KDF_HKDF_MODE_EXTRACT_ONLY:
            return extract(*hash, ctx, out, size) ? 1 : 0;
        default:
            return 0;  // TLS13-KDF has no extract-and-expand
    }
}

void* new_context(void* /*provider*/) {
    return new (std::nothrow) KdfContext();
}

void* duplicate_context(void* vctx) {
    return new (std::nothrow) KdfContext(*static_cast<const KdfContext*>(vctx));
}

void free_context(void* vctx) {
    delete static_cast<KdfContext*>(vctx);
}

void reset_context(void* vctx) {
    static_cast<KdfContext*>(vctx)->reset();
}

const OSSL_PARAM* settable_ctx_params(void* /*ctx*/, void* /*provider*/) {
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_MODE, nullptr, 0),
        OSSL_PARAM_int(OSSL_KDF_PARAM_MODE, nullptr),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_PROPERTIES, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_PREFIX, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_LABEL, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_DATA, nullptr, 0),
        OSSL_PARAM_END,
    };
    return settable;
}

const OSSL_PARAM* gettable_ctx_params(void* /*ctx*/, void* /*provider*/) {
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, nullptr),
        OSSL_PARAM_END,
    };
    return gettable;
}

// The output size: HashLen for an Extract, unbounded (SIZE_MAX) for an Expand, as OpenSSL's.
int get_ctx_params(void* vctx, OSSL_PARAM params[]) {
    const auto& ctx = *static_cast<const KdfContext*>(vctx);
    OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_SIZE);
    if (p == nullptr) {
        return 1;
    }
    std::size_t size = SIZE_MAX;
    if (ctx.mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY) {
        const auto hash = hkdf::hash_named(ctx.digest);
        if (!hash) {
            return 0;
        }
        size = hkdf::size_of(*hash);
    }
    return OSSL_PARAM_set_size_t(p, size);
}


}  // namespace

const OSSL_DISPATCH tls13_kdf_functions[] = {
    {OSSL_FUNC_KDF_NEWCTX, as_function(&new_context)},
    {OSSL_FUNC_KDF_DUPCTX, as_function(&duplicate_context)},
    {OSSL_FUNC_KDF_FREECTX, as_function(&free_context)},
    {OSSL_FUNC_KDF_RESET, as_function(&reset_context)},
    {OSSL_FUNC_KDF_DERIVE, as_function(&derive)},
    {OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, as_function(&settable_ctx_params)},
    {OSSL_FUNC_KDF_SET_CTX_PARAMS, as_function(&set_ctx_params)},
    {OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, as_function(&gettable_ctx_params)},
    {OSSL_FUNC_KDF_GET_CTX_PARAMS, as_function(&get_ctx_params)},
    {0, nullptr},
};

}  // namespace tierlb::worker::provider
