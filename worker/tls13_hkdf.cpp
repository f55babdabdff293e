// OpenSSL 3 deprecates the one-shot SHA contexts in favour of EVP_MD, whose per-call set-up
// is the cost this file exists to avoid; they remain exported and call the same block code.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "worker/tls13_hkdf.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace tierlb::worker::hkdf {

namespace {

constexpr std::size_t max_block_size = 128;  // SHA-384's; SHA-256's is 64

std::size_t block_size_of(Hash hash) {
    return hash == Hash::sha384 ? 128 : 64;
}

// One running hash of either kind. Copyable: HMAC starts every message under one key from
// the same two states.
class Digest {
public:
    Digest() : Digest(Hash::sha256) {}
    explicit Digest(Hash hash) : hash_(hash) {
        if (hash_ == Hash::sha384) {
            SHA384_Init(&state_.sha384);
        } else {
            SHA256_Init(&state_.sha256);
        }
    }
    ~Digest() { OPENSSL_cleanse(&state_, sizeof state_); }
    Digest(const Digest&) = default;
    Digest& operator=(const Digest&) = default;

    void update(Bytes bytes) {
        if (bytes.empty()) {
            return;
        }
        if (hash_ == Hash::sha384) {
            SHA384_Update(&state_.sha384, bytes.data(), bytes.size());
        } else {
            SHA256_Update(&state_.sha256, bytes.data(), bytes.size());
        }
    }
    void final(std::uint8_t* out) {
        if (hash_ == Hash::sha384) {
            SHA384_Final(out, &state_.sha384);
        } else {
            SHA256_Final(out, &state_.sha256);
        }
    }

private:
    Hash hash_;
    union {
        SHA256_CTX sha256;
        SHA512_CTX sha384;
    } state_;
};

// HMAC's key padded to a block: the key itself, or its hash when longer than a block.
struct PaddedKey {
    std::array<std::uint8_t, max_block_size> bytes{};
    ~PaddedKey() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

void pad_key(Hash hash, Bytes key, PaddedKey& padded) {
    if (key.size() > block_size_of(hash)) {
        Digest digest(hash);
        digest.update(key);
        digest.final(padded.bytes.data());
    } else if (!key.empty()) {
        std::memcpy(padded.bytes.data(), key.data(), key.size());
    }
}

void hash_with_pad(Digest& digest, const PaddedKey& key, std::size_t block, std::uint8_t pad) {
    std::array<std::uint8_t, max_block_size> padded;
    for (std::size_t i = 0; i < block; ++i) {
        padded[i] = key.bytes[i] ^ pad;
    }
    digest.update(Bytes(padded.data(), block));
    OPENSSL_cleanse(padded.data(), block);
}

// HMAC's two digests once the padded key's block went through each: every HMAC under one
// key starts from them.
struct KeyedStart {
    Digest inner, outer;
};

void start_keyed(Hash hash, Bytes key, KeyedStart& start) {
    const std::size_t block = block_size_of(hash);
    PaddedKey padded;
    pad_key(hash, key, padded);
    start.inner = Digest(hash);
    hash_with_pad(start.inner, padded, block, 0x36);
    start.outer = Digest(hash);
    hash_with_pad(start.outer, padded, block, 0x5c);
}

// The last few secrets' starts, per thread. A TLS 1.3 key schedule uses most secrets two to
// four times in a row or nearly (a traffic secret gives its key, IV and finished key; the
// handshake secret both traffic secrets and the next salt), and each start costs two of the
// four blocks an HMAC hashes: SHA-384's ~4,000 instructions each. Only secret-sized keys are
// kept; an entry pushed out is wiped.
class RecentKeys {
public:
    const KeyedStart& find_or_add(Hash hash, Bytes key) {
        for (Entry& e : entries_) {
            if (e.size == key.size() && e.hash == hash && e.size > 0 &&
                std::memcmp(e.key.data(), key.data(), key.size()) == 0) {
                return e.start;
            }
        }
        Entry& e = entries_[next_];
        next_ = (next_ + 1) % entries_.size();
        OPENSSL_cleanse(e.key.data(), e.key.size());
        e.hash = hash;
        e.size = key.size();
        std::memcpy(e.key.data(), key.data(), key.size());
        start_keyed(hash, key, e.start);
        return e.start;
    }
    ~RecentKeys() {
        for (Entry& e : entries_) {
            OPENSSL_cleanse(e.key.data(), e.key.size());
        }
    }

private:
    struct Entry {
        Hash hash = Hash::sha256;
        std::size_t size = 0;  // 0: empty
        std::array<std::uint8_t, max_hash_size> key{};
        KeyedStart start;
    };
    std::array<Entry, 4> entries_;
    std::size_t next_ = 0;
};

const KeyedStart& keyed_start(Hash hash, Bytes key) {
    if (key.empty() || key.size() > max_hash_size) {
        thread_local KeyedStart once;  // not a secret's size: not kept for later
        start_keyed(hash, key, once);
        return once;
    }
    thread_local RecentKeys recent;
    return recent.find_or_add(hash, key);
}

}  // namespace

std::size_t size_of(Hash hash) {
    return hash == Hash::sha384 ? 48 : 32;
}

std::optional<Hash> hash_named(std::string_view name) {
    auto is = [&](std::string_view candidate) {
        return name.size() == candidate.size() &&
               ::strncasecmp(name.data(), candidate.data(), name.size()) == 0;
    };
    if (is("SHA256") || is("SHA2-256") || is("SHA-256")) {
        return Hash::sha256;
    }
    if (is("SHA384") || is("SHA2-384") || is("SHA-384")) {
        return Hash::sha384;
    }
    return std::nullopt;
}

void digest(Hash hash, Bytes message, std::uint8_t* out) {
    Digest running(hash);
    running.update(message);
    running.final(out);
}

void hmac(Hash hash, Bytes key, std::initializer_list<Bytes> parts, std::uint8_t* out) {
    const KeyedStart& start = keyed_start(hash, key);
    std::array<std::uint8_t, max_hash_size> inner_hash;
    Digest inner = start.inner;
    for (Bytes part : parts) {
        inner.update(part);
    }
    inner.final(inner_hash.data());
    Digest outer = start.outer;
    outer.update(Bytes(inner_hash.data(), size_of(hash)));
    outer.final(out);
    OPENSSL_cleanse(inner_hash.data(), inner_hash.size());
}

void extract(Hash hash, Bytes salt, Bytes ikm, std::uint8_t* out) {
    hmac(hash, salt, {ikm}, out);
}

bool expand(Hash hash, Bytes prk, Bytes info, std::span<std::uint8_t> out) {
    const std::size_t n = size_of(hash);
    if (out.size() > 255 * n) {
        return false;
    }
    // T(i) = HMAC(PRK, T(i-1) | info | i); the output is T(1) | T(2) | ... cut to length.
    std::array<std::uint8_t, max_hash_size> t{};
    std::size_t t_size = 0;
    for (std::size_t done = 0, i = 1; done < out.size(); ++i) {
        const std::uint8_t counter = static_cast<std::uint8_t>(i);
        hmac(hash, prk, {Bytes(t.data(), t_size), info, Bytes(&counter, 1)}, t.data());
        t_size = n;
        const std::size_t take = std::min(n, out.size() - done);
        std::memcpy(out.data() + done, t.data(), take);
        done += take;
    }
    OPENSSL_cleanse(t.data(), t.size());
    return true;
}

bool expand_label(Hash hash, Bytes secret, Bytes prefix, Bytes label, Bytes context,
                  std::span<std::uint8_t> out) {
    // struct { uint16 length; opaque label<7..255> = prefix + Label; opaque context<0..255>; }
    if (prefix.size() + label.size() > 255 || context.size() > 255 || out.size() > 0xffff) {
        return false;
    }
    std::array<std::uint8_t, 2 + 1 + 255 + 1 + 255> info;
    std::size_t size = 0;
    auto append = [&](Bytes bytes) {
        if (!bytes.empty()) {  // an empty span's data() may be null, which memcpy must not get
            std::memcpy(info.data() + size, bytes.data(), bytes.size());
            size += bytes.size();
        }
    };
    info[size++] = static_cast<std::uint8_t>(out.size() >> 8);
    info[size++] = static_cast<std::uint8_t>(out.size());
    info[size++] = static_cast<std::uint8_t>(prefix.size() + label.size());
    append(prefix);
    append(label);
    info[size++] = static_cast<std::uint8_t>(context.size());
    append(context);
    return expand(hash, secret, Bytes(info.data(), size), out);
}

}  // namespace tierlb::worker::hkdf
