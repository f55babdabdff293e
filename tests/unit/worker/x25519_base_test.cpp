// X25519 public keys from the fixed-base table: RFC 7748's vectors, OpenSSL's own public keys
// for random and edge-case private keys, and the curve points themselves checked with
// OpenSSL's BIGNUM arithmetic (independent of the field code under test).

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
