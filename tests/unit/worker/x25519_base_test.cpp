// X25519 public keys from the fixed-base table: RFC 7748's vectors, OpenSSL's own public keys
// for random and edge-case private keys, and the curve points themselves checked with
// OpenSSL's BIGNUM arithmetic (independent of the field code under test). Shared secrets
// from the ladder: RFC 7748's vectors, OpenSSL's derive on random and non-canonical peers,
// and the small-order peers both refuse.

#include "worker/x25519_base.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <random>
#include <string>

namespace x25519 = tierlb::worker::x25519;

namespace {

using Bytes = std::array<std::uint8_t, 32>;

Bytes from_hex(const std::string& hex) {
    Bytes out{};
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
    return out;
}

std::string to_hex(const Bytes& bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (auto b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::string ours(const Bytes& priv) {
    Bytes pub{};
    x25519::public_from_private(pub.data(), priv.data());
    return to_hex(pub);
}

std::string openssl(const Bytes& priv) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size()),
        &EVP_PKEY_free);
    Bytes pub{};
    std::size_t len = pub.size();
    if (!key || EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 || len != 32)
        return "OpenSSL failed";
    return to_hex(pub);
}

// OpenSSL's X25519 derive, as a TLS server calls it; "refused" if it fails (it does for an
// all-zero result).
std::string openssl_shared(const Bytes& priv, const Bytes& peer) {
    using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
    const Key key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size()),
                  &EVP_PKEY_free);
    const Key peer_key(
        EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()),
        &EVP_PKEY_free);
    if (!key || !peer_key) return "OpenSSL failed";
    const std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
        EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr), &EVP_PKEY_CTX_free);
    Bytes secret{};
    std::size_t len = secret.size();
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
        EVP_PKEY_derive_set_peer(ctx.get(), peer_key.get()) != 1)
        return "OpenSSL failed";
    if (EVP_PKEY_derive(ctx.get(), secret.data(), &len) != 1) return "refused";
    return len == 32 ? to_hex(secret) : "OpenSSL failed";
}

// Ours, in the same form: the secret, or "refused" if shared_secret returned false (the
// output must then be all zeros, as OpenSSL computes it).
std::string ours_shared(const Bytes& priv, const Bytes& peer) {
    Bytes secret{};
    secret.fill(0xaa);  // so that an output never written shows
    if (x25519::shared_secret(secret.data(), priv.data(), peer.data())) return to_hex(secret);
    return secret == Bytes{} ? "refused" : "refused, but not all zeros: " + to_hex(secret);
}

// edwards25519 in affine coordinates over OpenSSL's BIGNUMs: slow and simple, a reference.
struct BnFree {
    void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

class RefCurve {
public:
    struct Point {
        Bn x, y;
    };

    RefCurve() : ctx_(BN_CTX_new(), &BN_CTX_free), p_(num(0)), d_(num(0)) {
        BN_set_bit(p_.get(), 255);
        BN_sub_word(p_.get(), 19);
        // d = -121665 / 121666
        Bn den = num(121666);
        BN_mod_inverse(den.get(), den.get(), p_.get(), ctx_.get());
        Bn minus = num(121665);
        BN_sub(minus.get(), p_.get(), minus.get());
        BN_mod_mul(d_.get(), minus.get(), den.get(), p_.get(), ctx_.get());
    }

    Bn num(unsigned long w) const {
        Bn n(BN_new());
        BN_set_word(n.get(), w);
        return n;
    }
    Bn hex(const char* text) const {
        BIGNUM* n = nullptr;
        BN_hex2bn(&n, text);
        return Bn(n);
    }
    Bn le(const std::uint8_t bytes[32]) const { return Bn(BN_lebin2bn(bytes, 32, nullptr)); }
    const BIGNUM* p() const { return p_.get(); }

    Bn mul(const BIGNUM* a, const BIGNUM* b) const {
        Bn r(BN_new());
        BN_mod_mul(r.get(), a, b, p_.get(), ctx_.get());
        return r;
    }
    Bn add(const BIGNUM* a, const BIGNUM* b) const {
        Bn r(BN_new());
        BN_mod_add(r.get(), a, b, p_.get(), ctx_.get());
        return r;
    }
    Bn sub(const BIGNUM* a, const BIGNUM* b) const {
        Bn r(BN_new());
        BN_mod_sub(r.get(), a, b, p_.get(), ctx_.get());
        return r;
    }
    Bn div(const BIGNUM* a, const BIGNUM* b) const {
        Bn inv(BN_new());
        BN_mod_inverse(inv.get(), b, p_.get(), ctx_.get());
        return mul(a, inv.get());
    }

    // -x^2 + y^2 == 1 + d x^2 y^2 (mod p), with x, y reduced.
    bool on_curve(const Point& pt) const {
        if (BN_cmp(pt.x.get(), p_.get()) >= 0 || BN_cmp(pt.y.get(), p_.get()) >= 0) return false;
        Bn xx = mul(pt.x.get(), pt.x.get()), yy = mul(pt.y.get(), pt.y.get());
        Bn lhs = sub(yy.get(), xx.get());
        Bn one = num(1);
        Bn rhs = add(one.get(), mul(d_.get(), mul(xx.get(), yy.get()).get()).get());
        return BN_cmp(lhs.get(), rhs.get()) == 0;
    }

    // The complete affine addition law (a = -1).
    Point add(const Point& a, const Point& b) const {
        Bn x1y2 = mul(a.x.get(), b.y.get()), y1x2 = mul(a.y.get(), b.x.get());
        Bn y1y2 = mul(a.y.get(), b.y.get()), x1x2 = mul(a.x.get(), b.x.get());
        Bn t = mul(d_.get(), mul(x1x2.get(), y1y2.get()).get());
        Bn one = num(1);
        return {div(add(x1y2.get(), y1x2.get()).get(), add(one.get(), t.get()).get()),
                div(add(y1y2.get(), x1x2.get()).get(), sub(one.get(), t.get()).get())};
    }

    Point copy(const Point& a) const { return {Bn(BN_dup(a.x.get())), Bn(BN_dup(a.y.get()))}; }

private:
    std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)> ctx_;
    Bn p_, d_;
};

RefCurve::Point table_point(const RefCurve& ref, std::size_t i, std::size_t j) {
    std::uint8_t x[32], y[32];
    x25519::detail::table_point(i, j, x, y);
    return {ref.le(x), ref.le(y)};
}

}  // namespace

TEST_CASE("x25519 base: RFC 7748 section 6.1 public keys", "[worker][x25519]") {
    CHECK(ours(from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")) ==
          "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    CHECK(ours(from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")) ==
          "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
}

TEST_CASE("x25519 base: random private keys give OpenSSL's public keys", "[worker][x25519]") {
    std::mt19937 rng(7748);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int n = 0; n < 2000; ++n) {
        Bytes priv{};
        for (auto& b : priv) b = static_cast<std::uint8_t>(byte(rng));
        INFO("private key " << to_hex(priv));
        CHECK(ours(priv) == openssl(priv));
    }
}

TEST_CASE("x25519 base: edge-case private keys and clamping", "[worker][x25519]") {
    Bytes zeros{}, ones{};
    ones.fill(0xff);
    CHECK(ours(zeros) == openssl(zeros));
    CHECK(ours(ones) == openssl(ones));

    // Clamped, these are all 2^254: the smallest clamped scalar.
    Bytes bit254{};
    bit254[31] = 0x40;
    Bytes low_and_top{};
    low_and_top[0] = 0x07;
    low_and_top[31] = 0x80;
    CHECK(ours(bit254) == openssl(bit254));
    CHECK(ours(bit254) == ours(zeros));
    CHECK(ours(low_and_top) == ours(zeros));

    // The largest clamped scalar, and one with every digit's radix-16 carry.
    Bytes largest{};
    largest.fill(0xff);
    largest[0] = 0xf8;
    largest[31] = 0x7f;
    CHECK(ours(largest) == openssl(largest));
    CHECK(ours(largest) == ours(ones));
    Bytes eights{};
    eights.fill(0x88);
    CHECK(ours(eights) == openssl(eights));

    // The bits clamping sets or clears make no difference.
    std::mt19937 rng(255);
    for (int n = 0; n < 20; ++n) {
        Bytes priv{};
        for (auto& b : priv) b = static_cast<std::uint8_t>(rng());
        Bytes flipped = priv;
        flipped[0] ^= 0x07;
        flipped[31] ^= 0xc0;
        CHECK(ours(flipped) == ours(priv));
    }
}

TEST_CASE("x25519 base: the base point and the table's entries", "[worker][x25519]") {
    const RefCurve ref;
    std::uint8_t x[32], y[32];
    x25519::detail::base_point(x, y);
    const RefCurve::Point b{ref.le(x), ref.le(y)};
    CHECK(BN_cmp(b.x.get(),
                 ref.hex("216936D3CD6E53FEC0A4E231FDD6DC5C692CC7609525A7B2C9562D608F25D51A")
                     .get()) == 0);
    CHECK(BN_cmp(b.y.get(),
                 ref.hex("6666666666666666666666666666666666666666666666666666666666666658")
                     .get()) == 0);
    CHECK(ref.on_curve(b));
    // y = 4/5, and its Montgomery u = (1 + y) / (1 - y) is 9.
    Bn five = ref.num(5), four = ref.num(4), one = ref.num(1), nine = ref.num(9);
    CHECK(BN_cmp(ref.mul(b.y.get(), five.get()).get(), four.get()) == 0);
    CHECK(BN_cmp(ref.div(ref.add(one.get(), b.y.get()).get(), ref.sub(one.get(), b.y.get()).get())
                     .get(),
                 nine.get()) == 0);

    // Spot checks: on the curve, and equal to (j + 1) * 256^i * B computed here.
    const std::pair<std::size_t, std::size_t> spots[] = {{0, 0}, {0, 1}, {0, 7}, {1, 0},
                                                         {5, 3}, {17, 6}, {31, 0}, {31, 7}};
    for (auto [i, j] : spots) {
        INFO("entry " << i << ", " << j);
        const RefCurve::Point entry = table_point(ref, i, j);
        CHECK(ref.on_curve(entry));
        RefCurve::Point expected = ref.copy(b);
        for (std::size_t k = 0; k < j; ++k) expected = ref.add(expected, b);
        for (std::size_t k = 0; k < 8 * i; ++k) expected = ref.add(expected, expected);
        CHECK(BN_cmp(entry.x.get(), expected.x.get()) == 0);
        CHECK(BN_cmp(entry.y.get(), expected.y.get()) == 0);
    }
}

TEST_CASE("x25519 shared: RFC 7748 section 5.2 vectors", "[worker][x25519]") {
    CHECK(ours_shared(from_hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
                      from_hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")) ==
          "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
    // This u has its top bit set: it must be ignored.
    CHECK(ours_shared(from_hex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
                      from_hex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")) ==
          "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");

    // The iterated test: k = u = 9, then each round k, u = X25519(k, u), k.
    Bytes k{}, u{};
    k[0] = u[0] = 9;
    auto iterate = [&](int rounds) {
        for (int i = 0; i < rounds; ++i) {
            Bytes next{};
            REQUIRE(x25519::shared_secret(next.data(), k.data(), u.data()));
            u = k;
            k = next;
        }
    };
    iterate(1);
    CHECK(to_hex(k) == "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    iterate(999);
    CHECK(to_hex(k) == "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

TEST_CASE("x25519 shared: RFC 7748 section 6.1 key agreement", "[worker][x25519]") {
    const Bytes alice = from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const Bytes bob = from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    const Bytes alice_pub =
        from_hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    const Bytes bob_pub = from_hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const std::string shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    CHECK(ours_shared(alice, bob_pub) == shared);
    CHECK(ours_shared(bob, alice_pub) == shared);
}

TEST_CASE("x25519 shared: random pairs give OpenSSL's secrets", "[worker][x25519]") {
    std::mt19937 rng(7749);
    std::uniform_int_distribution<int> byte(0, 255);
    auto random_bytes = [&] {
        Bytes out{};
        for (auto& b : out) b = static_cast<std::uint8_t>(byte(rng));
        return out;
    };
    // p = 2^255 - 19, little-endian.
    Bytes p{};
    p.fill(0xff);
    p[0] = 0xed;
    p[31] = 0x7f;

    for (int n = 0; n < 2000; ++n) {
        const Bytes priv = random_bytes();
        Bytes peer{};
        switch (n % 4) {
            case 0:  // a real public key: X25519(random, 9)
            case 1:
                x25519::public_from_private(peer.data(), random_bytes().data());
                break;
            case 2:  // any 32 bytes, top bit set
                peer = random_bytes();
                peer[31] |= 0x80;
                break;
            default:  // non-canonical: p + r for r < 19 (and the top bit at random)
                peer = p;
                peer[0] = static_cast<std::uint8_t>(0xed + byte(rng) % 19);
                peer[31] = static_cast<std::uint8_t>(peer[31] | (byte(rng) & 0x80));
                break;
        }
        INFO("private key " << to_hex(priv) << ", peer " << to_hex(peer));
        const std::string theirs = openssl_shared(priv, peer);
        CHECK(ours_shared(priv, peer) == theirs);
        // p + 0 and p + 1 are small-order peers (0 and 1); the rest must not be refused.
        if (n % 4 != 3 || peer[0] > 0xee) CHECK(theirs != "refused");
    }
}

TEST_CASE("x25519 shared: non-canonical peers, top byte by top byte", "[worker][x25519]") {
    // Values >= p that are not of small order, each also with the top bit set: OpenSSL and ours
    // reduce them the same way.
    const Bytes priv = from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    for (int low = 0xef; low <= 0xff; ++low) {
        for (int top : {0x7f, 0xff}) {
            Bytes peer{};
            peer.fill(0xff);
            peer[0] = static_cast<std::uint8_t>(low);
            peer[31] = static_cast<std::uint8_t>(top);
            INFO("peer " << to_hex(peer));
            const std::string theirs = openssl_shared(priv, peer);
            CHECK(theirs != "refused");
            CHECK(ours_shared(priv, peer) == theirs);
        }
    }
}

TEST_CASE("x25519 shared: small-order peers are refused", "[worker][x25519]") {
    const char* const small_order[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",  // 0
        "0100000000000000000000000000000000000000000000000000000000000000",  // 1
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",  // order 8
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",  // order 8
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p - 1
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p, i.e. 0
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p + 1, i.e. 1
    };
    std::mt19937 rng(8);
    for (const char* hex : small_order) {
        for (std::uint8_t top_bit : {0x00, 0x80}) {  // ignored, so refused either way
            Bytes peer = from_hex(hex);
            peer[31] = static_cast<std::uint8_t>(peer[31] | top_bit);
            for (int n = 0; n < 4; ++n) {
                Bytes priv{};
                for (auto& b : priv) b = static_cast<std::uint8_t>(rng());
                INFO("peer " << to_hex(peer) << ", private key " << to_hex(priv));
                CHECK(ours_shared(priv, peer) == "refused");
                CHECK(openssl_shared(priv, peer) == "refused");
            }
        }
    }
}
