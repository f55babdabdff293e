// X25519 public keys through edwards25519 and a table of multiples of its base point B, and
// shared secrets through RFC 7748's Montgomery ladder (at the end of the file).
//
// X25519(k, 9) is the Montgomery u of k * B, and the Edwards point k * B maps to
// u = (1 + y) / (1 - y). With the scalar written in radix 16 as sum e[i] 16^i, signed digits
// e[i] in [-8, 8], k * B = sum e[i] 16^i B; the table holds 1..8 times 256^j B for each j, so
// the odd digits' terms are 16 * (e[i] * 256^(i/2) B) and the even digits' e[i] * 256^(i/2) B:
// 32 table additions, 4 doublings (the factor 16), 32 more additions. Signed digits halve the
// table (8 entries a row instead of 16): a negative digit negates the entry, which is cheap.
// Radix 16 because every look-up scans its whole row: a wider window would save additions
// but make each scan longer and the table larger than the L1 cache; this one is 32 KB.
//
// Constant time: the digits are secret, so nothing branches on them and no memory address
// depends on them. Each table look-up reads all entries of its row and keeps one with masks,
// and the sign is applied with a mask too.

#include "worker/x25519_base.hpp"

#include <openssl/crypto.h>

#include <array>
#include <bit>
#include <cstdlib>
#include <cstring>

namespace tierlb::worker::x25519 {
namespace {

using u64 = std::uint64_t;
__extension__ typedef unsigned __int128 u128;

// ---- The field GF(p), p = 2^255 - 19 ------------------------------------------------------
// Five limbs of 51 bits: a product of two limbs fits in 128 bits with room to add five of
// them, and 2^255 = 19 (mod p) folds the high limbs back in with a multiplication by 19.
// Bounds: mul, sq, mul_small and carry return "tight" limbs (below 2^51 + 2^13); add and sub
// do not carry, and mul, sq and mul_small accept their "loose" results as long as limbs stay
// below 2^54 (true of sums of up to three tight elements, plus sub's 4p); sub needs a
// subtrahend below 4p (2^53 - 76 a limb: tight, or a sum of two tight elements). Keeping to
// these rules is what keeps limbs from overflowing; carry() brings anything else back to tight.
//
// The field operations are forced inline: at -O2 g++ would otherwise call them, and the
// calls, with their results passed through memory, made the whole 15% slower.
#define X25519_INLINE [[gnu::always_inline]] inline

constexpr u64 mask51 = (u64{1} << 51) - 1;

struct Fe {
    u64 v[5];
};

constexpr Fe fe_zero{{0, 0, 0, 0, 0}};
constexpr Fe fe_one{{1, 0, 0, 0, 0}};

// Keeps the compiler from seeing that a mask is all-zeros or all-ones, and so from turning a
// masked select back into a branch.
X25519_INLINE u64 barrier(u64 x) {
    __asm__("" : "+r"(x));
    return x;
}

X25519_INLINE u128 mul64(u64 a, u64 b) { return static_cast<u128>(a) * b; }
X25519_INLINE u64 lo(u128 x) { return static_cast<u64>(x); }

// Any limbs below 2^63 to tight ones.
X25519_INLINE Fe carry(const Fe& a) {
    u64 v0 = a.v[0], v1 = a.v[1], v2 = a.v[2], v3 = a.v[3], v4 = a.v[4];
    v1 += v0 >> 51, v0 &= mask51;
    v2 += v1 >> 51, v1 &= mask51;
    v3 += v2 >> 51, v2 &= mask51;
    v4 += v3 >> 51, v3 &= mask51;
    v0 += 19 * (v4 >> 51), v4 &= mask51;
    v1 += v0 >> 51, v0 &= mask51;
    return {{v0, v1, v2, v3, v4}};
}

X25519_INLINE Fe add(const Fe& a, const Fe& b) {
    return {{a.v[0] + b.v[0], a.v[1] + b.v[1], a.v[2] + b.v[2], a.v[3] + b.v[3],
             a.v[4] + b.v[4]}};
}

// a - b as a + 4p - b, so that no limb goes negative: b's limbs must be below 4p's
// (2^53 - 76), which tight limbs and sums of two tight ones are.
X25519_INLINE Fe sub(const Fe& a, const Fe& b) {
    constexpr u64 four_p0 = 4 * (mask51 - 18), four_p = 4 * mask51;
    return {{a.v[0] + four_p0 - b.v[0], a.v[1] + four_p - b.v[1], a.v[2] + four_p - b.v[2],
             a.v[3] + four_p - b.v[3], a.v[4] + four_p - b.v[4]}};
}

X25519_INLINE Fe neg(const Fe& a) { return sub(fe_zero, a); }

// The five 128-bit column sums of a product to tight limbs. With inputs below 2^54 the sums
// are below 2^115, and the two carries added in 64 bits (into limb 3, and the top one times
// 19 into limb 0) below 2^63 and 2^64 - 2^51. Two carry chains run side by side
// (0 -> 1 -> 2 -> 3 and 3 -> 4 -> 0 -> 1), four steps of latency instead of six: the 254
// squarings of an inversion each wait on the one before.
X25519_INLINE Fe reduce(u128 t0, u128 t1, u128 t2, u128 t3, u128 t4) {
    t1 += t0 >> 51;
    t4 += t3 >> 51;
    u64 r0 = lo(t0) & mask51, r3 = lo(t3) & mask51;
    t2 += t1 >> 51;
    r0 += lo(t4 >> 51) * 19;
    u64 r1 = lo(t1) & mask51, r4 = lo(t4) & mask51;
    r3 += lo(t2 >> 51);
    r1 += r0 >> 51, r0 &= mask51;
    r4 += r3 >> 51, r3 &= mask51;
    return {{r0, r1, lo(t2) & mask51, r3, r4}};
}

X25519_INLINE Fe mul(const Fe& a, const Fe& b) {
    const u64 a0 = a.v[0], a1 = a.v[1], a2 = a.v[2], a3 = a.v[3], a4 = a.v[4];
    const u64 b0 = b.v[0], b1 = b.v[1], b2 = b.v[2], b3 = b.v[3], b4 = b.v[4];
    const u64 b1_19 = 19 * b1, b2_19 = 19 * b2, b3_19 = 19 * b3, b4_19 = 19 * b4;
    return reduce(
        mul64(a0, b0) + mul64(a1, b4_19) + mul64(a2, b3_19) + mul64(a3, b2_19) + mul64(a4, b1_19),
        mul64(a0, b1) + mul64(a1, b0) + mul64(a2, b4_19) + mul64(a3, b3_19) + mul64(a4, b2_19),
        mul64(a0, b2) + mul64(a1, b1) + mul64(a2, b0) + mul64(a3, b4_19) + mul64(a4, b3_19),
        mul64(a0, b3) + mul64(a1, b2) + mul64(a2, b1) + mul64(a3, b0) + mul64(a4, b4_19),
        mul64(a0, b4) + mul64(a1, b3) + mul64(a2, b2) + mul64(a3, b1) + mul64(a4, b0));
}

// a * c for a small constant c (below 2^20): five products instead of twenty-five, for the
// ladder's a24. With limbs below 2^54 the products are below 2^74, far inside reduce()'s
// bounds; they still need 128 bits, which is why this is not a plain 64-bit multiply.
X25519_INLINE Fe mul_small(const Fe& a, u64 c) {
    return reduce(mul64(a.v[0], c), mul64(a.v[1], c), mul64(a.v[2], c), mul64(a.v[3], c),
                  mul64(a.v[4], c));
}

// mul(a, a) with the symmetric products computed once.
X25519_INLINE Fe sq(const Fe& a) {
    const u64 a0 = a.v[0], a1 = a.v[1], a2 = a.v[2], a3 = a.v[3], a4 = a.v[4];
    const u64 d0 = 2 * a0, d1 = 2 * a1, d2 = 2 * a2, a3_19 = 19 * a3, a4_19 = 19 * a4;
    return reduce(mul64(a0, a0) + mul64(d1, a4_19) + mul64(d2, a3_19),
                  mul64(d0, a1) + mul64(d2, a4_19) + mul64(a3, a3_19),
                  mul64(d0, a2) + mul64(a1, a1) + mul64(2 * a3, a4_19),
                  mul64(d0, a3) + mul64(d1, a2) + mul64(a4, a4_19),
                  mul64(d0, a4) + mul64(d1, a3) + mul64(a2, a2));
}

Fe sq_n(Fe a, int n) {
    while (n-- > 0) a = sq(a);
    return a;
}

// z^(p-2) = 1/z (0 for 0), p - 2 = 2^255 - 21, by the usual chain of 254 squarings and 11
// multiplications. Names say the exponent: z_a_b = z^(2^a - 2^b).
Fe invert(const Fe& z) {
    const Fe z2 = sq(z);
    const Fe z9 = mul(sq_n(z2, 2), z);
    const Fe z11 = mul(z9, z2);
    const Fe z_5_0 = mul(sq(z11), z9);
    const Fe z_10_0 = mul(sq_n(z_5_0, 5), z_5_0);
    const Fe z_20_0 = mul(sq_n(z_10_0, 10), z_10_0);
    const Fe z_40_0 = mul(sq_n(z_20_0, 20), z_20_0);
    const Fe z_50_0 = mul(sq_n(z_40_0, 10), z_10_0);
    const Fe z_100_0 = mul(sq_n(z_50_0, 50), z_50_0);
    const Fe z_200_0 = mul(sq_n(z_100_0, 100), z_100_0);
    const Fe z_250_0 = mul(sq_n(z_200_0, 50), z_50_0);
    return mul(sq_n(z_250_0, 5), z11);  // 2^255 - 2^5 + 11
}

u64 load64_le(const std::uint8_t* p) {
    u64 x = 0;
    for (int i = 7; i >= 0; --i) x = (x << 8) | p[i];
    return x;
}

void store64_le(std::uint8_t* p, u64 x) {
    for (int i = 0; i < 8; ++i, x >>= 8) p[i] = static_cast<std::uint8_t>(x);
}

// The canonical encoding: fully reduced (below p), little-endian, bit 255 clear.
void to_bytes(std::uint8_t out[32], const Fe& a) {
    Fe h = carry(a);  // now h < 2^255 + 2^51 < 2p
    // q = 1 if h >= p, i.e. if h + 19 carries out of bit 255; then h - p = h + 19 - 2^255.
    u64 q = (h.v[0] + 19) >> 51;
    for (int i = 1; i < 5; ++i) q = (h.v[i] + q) >> 51;
    h.v[0] += 19 * q;
    for (int i = 0; i < 4; ++i) {
        h.v[i + 1] += h.v[i] >> 51;
        h.v[i] &= mask51;
    }
    h.v[4] &= mask51;  // drops the 2^255
    store64_le(out, h.v[0] | h.v[1] << 51);
    store64_le(out + 8, h.v[1] >> 13 | h.v[2] << 38);
    store64_le(out + 16, h.v[2] >> 26 | h.v[3] << 25);
    store64_le(out + 24, h.v[3] >> 39 | h.v[4] << 12);
}

// Little-endian, bit 255 ignored.
Fe from_bytes(const std::uint8_t in[32]) {
    const u64 w0 = load64_le(in), w1 = load64_le(in + 8), w2 = load64_le(in + 16),
              w3 = load64_le(in + 24);
    return {{w0 & mask51, (w0 >> 51 | w1 << 13) & mask51, (w1 >> 38 | w2 << 26) & mask51,
             (w2 >> 25 | w3 << 39) & mask51, (w3 >> 12) & mask51}};
}

bool equal(const Fe& a, const Fe& b) {  // not constant time: for the start-up checks only
    std::uint8_t ea[32], eb[32];
    to_bytes(ea, a);
    to_bytes(eb, b);
    return std::memcmp(ea, eb, 32) == 0;
}

Fe from_u64(u64 x) { return carry({{x, 0, 0, 0, 0}}); }

// ---- edwards25519: -x^2 + y^2 = 1 + d x^2 y^2, d = -121665/121666 ------------------------
// The ref10 representations: projective P2 (x = X/Z, y = Y/Z), extended P3 (also T = XY/Z),
// "completed" P1P1 (x = X/Z, y = Y/T), the intermediate result of an addition or doubling,
// and Precomp, an affine point as (y + x, y - x, 2dxy), the form the addition formula reads.

struct P2 {
    Fe X, Y, Z;
};
struct P3 {
    Fe X, Y, Z, T;
};
struct P1P1 {
    Fe X, Y, Z, T;
};
struct Precomp {
    Fe yplusx, yminusx, xy2d;
};

P2 to_p2(const P1P1& p) { return {mul(p.X, p.T), mul(p.Y, p.Z), mul(p.Z, p.T)}; }
P2 to_p2(const P3& p) { return {p.X, p.Y, p.Z}; }
X25519_INLINE P3 to_p3(const P1P1& p) {
    return {mul(p.X, p.T), mul(p.Y, p.Z), mul(p.Z, p.T), mul(p.X, p.Y)};
}

// q in extended coordinates, for the first term of a sum (one multiplication, where adding it
// to the identity would take seven). With E = (y + x) - (y - x) = 2x and H = 2y,
// (X : Y : Z : T) = (2E : 2H : 4 : EH).
P3 from_precomp(const Precomp& q) {
    const Fe e = sub(q.yplusx, q.yminusx), h = add(q.yplusx, q.yminusx);
    return {carry(add(e, e)), carry(add(h, h)), from_u64(4), mul(e, h)};
}

// p + q (Hisil-Wong-Carter-Dawson, a = -1; complete, so also right for p = q).
X25519_INLINE P1P1 madd(const P3& p, const Precomp& q) {
    const Fe a = mul(sub(p.Y, p.X), q.yminusx);
    const Fe b = mul(add(p.Y, p.X), q.yplusx);
    const Fe c = mul(q.xy2d, p.T);
    const Fe d = add(p.Z, p.Z);
    return {sub(b, a), add(b, a), add(d, c), sub(d, c)};
}

// 2p. Every coordinate comes out negated, the same projective point.
P1P1 dbl(const P2& p) {
    const Fe a = sq(p.X);
    const Fe b = sq(p.Y);
    const Fe c = add(sq(p.Z), sq(p.Z));
    const Fe b_plus_a = add(b, a);
    // c - (b - a) as (c + a) - b: b - a is loose, too big to subtract.
    return {sub(sq(add(p.X, p.Y)), b_plus_a), b_plus_a, sub(b, a), sub(add(c, a), b)};
}

// ---- The table: (j + 1) * 256^i * B, i < 32, j < 8 -----------------------------------------
// Built at first use, not written out in the source: 30 KB of constants would be unreadable
// and unreviewable, while building it costs ~256 inversions (well under a millisecond), once
// per process. Affine entries (Z = 1) make each addition cheaper (mixed addition).

// Entries as plain words for select(), each on two cache lines of its own (128 bytes: the
// padding makes the table 32 KB instead of 30, and every vector load aligned).
using Words = std::array<u64, 15>;
static_assert(sizeof(Words) == sizeof(Precomp));
struct alignas(64) Entry {
    Words words;
    u64 padding;
};

struct Table {
    Entry entry[32][8];
};

// Big-endian hex, as the constants are usually written.
Fe from_hex(const char* hex) {
    auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'A' + 10; };
    std::uint8_t le[32];
    for (int i = 0; i < 32; ++i) {
        le[31 - i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    }
    return from_bytes(le);
}

struct Curve {
    Fe d2;  // 2d
    Fe bx, by;
};

const Curve& curve() {
    static const Curve c = [] {
        const Fe d = mul(neg(from_u64(121665)), invert(from_u64(121666)));
        const Fe bx = from_hex("216936D3CD6E53FEC0A4E231FDD6DC5C692CC7609525A7B2C9562D608F25D51A");
        const Fe by = from_hex("6666666666666666666666666666666666666666666666666666666666666658");
        // The constants are B's: y = 4/5, on the curve, x even. Checked because a wrong digit
        // would silently give wrong public keys.
        const Fe xx = sq(bx), yy = sq(by);
        std::uint8_t x_bytes[32];
        to_bytes(x_bytes, bx);
        if (!equal(mul(by, from_u64(5)), from_u64(4)) ||
            !equal(sub(yy, xx), add(fe_one, mul(d, mul(xx, yy)))) || (x_bytes[0] & 1) != 0)
            std::abort();
        return Curve{add(d, d), bx, by};
    }();
    return c;
}

Precomp to_precomp(const P3& p) {
    const Fe zinv = invert(p.Z);
    const Fe x = mul(p.X, zinv), y = mul(p.Y, zinv);
    return {carry(add(y, x)), carry(sub(y, x)), mul(mul(x, y), curve().d2)};
}

Table build_table() {
    Table table;
    const Curve& c = curve();
    P3 row_base{c.bx, c.by, fe_one, mul(c.bx, c.by)};  // 256^i * B
    for (auto& row : table.entry) {
        const Precomp base = to_precomp(row_base);
        row[0].words = std::bit_cast<Words>(base);
        P3 multiple = row_base;
        for (int j = 1; j < 8; ++j) {
            multiple = to_p3(madd(multiple, base));
            row[j].words = std::bit_cast<Words>(to_precomp(multiple));
        }
        for (int k = 0; k < 8; ++k) row_base = to_p3(dbl(to_p2(row_base)));
    }
    return table;
}

const Table& table() {
    static const Table t = build_table();  // thread-safe initialisation (C++11 statics)
    return t;
}

// All ones if a == b, else zero (a, b below 2^63), without a comparison the compiler could
// turn into a branch.
X25519_INLINE u64 equal_mask(u64 a, u64 b) { return barrier(0 - (((a ^ b) - 1) >> 63)); }

// e * row[0] for a digit e in [-8, 8], read in constant time: every entry of the row is read
// and the one wanted kept by mask (none if e = 0: the identity then), then negated by mask if
// e < 0; the negation of (y + x, y - x, 2dxy) is (y - x, y + x, -2dxy). Flat arrays of words
// (and the unrolled loops) let g++ keep the 15 words in vector registers.
X25519_INLINE Precomp select(const Entry row[8], std::int8_t e) {
    const u64 ev = static_cast<u64>(static_cast<std::int64_t>(e));
    const u64 negative = ev >> 63;
    const u64 magnitude = (ev ^ (0 - negative)) + negative;

    Words acc{};
    acc[0] = acc[5] = 1 & equal_mask(magnitude, 0);  // the identity, (1, 1, 0)
    for (u64 j = 0; j < 8; ++j) {
        const u64 mask = equal_mask(magnitude, j + 1);
#pragma GCC unroll 15
        for (std::size_t k = 0; k < 15; ++k) acc[k] |= row[j].words[k] & mask;
    }

    Words minus;
    constexpr u64 four_p[5] = {4 * (mask51 - 18), 4 * mask51, 4 * mask51, 4 * mask51, 4 * mask51};
    for (std::size_t k = 0; k < 5; ++k) {
        minus[k] = acc[5 + k];
        minus[5 + k] = acc[k];
        minus[10 + k] = four_p[k] - acc[10 + k];  // neg(), as sub() computes it
    }
    const u64 neg_mask = barrier(0 - negative);
#pragma GCC unroll 15
    for (std::size_t k = 0; k < 15; ++k) acc[k] ^= neg_mask & (acc[k] ^ minus[k]);
    return std::bit_cast<Precomp>(acc);
}

// ---- The Montgomery ladder (RFC 7748 section 5) ---------------------------------------------
// The ladder's state: x_2/z_2 and x_3/z_3 are the projective u of n * P and (n + 1) * P for n,
// the scalar's bits read so far; kept in one struct so that one cleanse wipes it.
struct Ladder {
    Fe x2, z2, x3, z3;
};

// Exchanges a and b if mask is all ones, leaves them if it is zero, with the same instructions
// and memory accesses either way: the mask comes from a scalar bit.
X25519_INLINE void cswap(Fe& a, Fe& b, u64 mask) {
    for (int i = 0; i < 5; ++i) {
        const u64 t = mask & (a.v[i] ^ b.v[i]);
        a.v[i] ^= t;
        b.v[i] ^= t;
    }
}

// One ladder step, RFC 7748's formulas as written (5 mul, 4 sq, 1 mul_small): (x_2 : z_2)
// doubled, and (x_3 : z_3) replaced by the sum of the two points, which Montgomery's
// differential addition computes from their difference: always the peer's point, u = x1.
// Bounds: the state is tight (mul/sq results; the start values are tight too), so A and C,
// sums of two tight elements, and B, D and E, differences of two, are loose but below 2^54,
// which is all mul, sq and mul_small ask; AA + a24 E, DA + CB and DA - CB likewise.
X25519_INLINE void ladder_step(Ladder& s, const Fe& x1) {
    constexpr u64 a24 = 121665;  // (A - 2) / 4 for A = 486662, RFC 7748's form
    const Fe a = add(s.x2, s.z2);
    const Fe aa = sq(a);
    const Fe b = sub(s.x2, s.z2);
    const Fe bb = sq(b);
    const Fe e = sub(aa, bb);
    const Fe c = add(s.x3, s.z3);
    const Fe d = sub(s.x3, s.z3);
    const Fe da = mul(d, a);
    const Fe cb = mul(c, b);
    s.x3 = sq(add(da, cb));
    s.z3 = mul(x1, sq(sub(da, cb)));
    s.x2 = mul(aa, bb);
    s.z2 = mul(e, add(aa, mul_small(e, a24)));
}

#undef X25519_INLINE

}  // namespace

void public_from_private(std::uint8_t out[32], const std::uint8_t scalar[32]) {
    const Table& tab = table();

    std::uint8_t k[32];
    std::memcpy(k, scalar, 32);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;

    // Radix 16, signed digits: nibbles in [0, 15], then any digit above 7 becomes digit - 16
    // with a carry into the next. The top digit stays in [0, 8] since k < 2^255.
    std::int8_t e[64];
    for (int i = 0; i < 32; ++i) {
        e[2 * i] = static_cast<std::int8_t>(k[i] & 15);
        e[2 * i + 1] = static_cast<std::int8_t>(k[i] >> 4);
    }
    int carry_in = 0;
    for (int i = 0; i < 63; ++i) {
        const int digit = e[i] + carry_in;
        carry_in = (digit + 8) >> 4;
        e[i] = static_cast<std::int8_t>(digit - (carry_in << 4));
    }
    e[63] = static_cast<std::int8_t>(e[63] + carry_in);

    // The odd digits' terms, times 16, plus the even digits' terms.
    P3 h = from_precomp(select(tab.entry[0], e[1]));
    for (int i = 3; i < 64; i += 2) h = to_p3(madd(h, select(tab.entry[i / 2], e[i])));
    P1P1 r = dbl(to_p2(h));
    r = dbl(to_p2(r));
    r = dbl(to_p2(r));
    r = dbl(to_p2(r));
    h = to_p3(r);
    for (int i = 0; i < 62; i += 2) h = to_p3(madd(h, select(tab.entry[i / 2], e[i])));
    r = madd(h, select(tab.entry[31], e[62]));

    // Montgomery u = (1 + y) / (1 - y), y = Y/T in the completed point: (T + Y) / (T - Y).
    // T - Y is never 0: that would be y = 1, the identity, and a clamped scalar is never a
    // multiple of B's order.
    // (T is a difference itself: carried, so that the sum and difference stay below 2^54.)
    to_bytes(out, mul(carry(add(r.T, r.Y)), invert(carry(sub(r.T, r.Y)))));

    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(e, sizeof e);
}

bool shared_secret(std::uint8_t out[32], const std::uint8_t scalar[32],
                   const std::uint8_t u[32]) {
    std::uint8_t k[32];
    std::memcpy(k, scalar, 32);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;

    // from_bytes drops bit 255, and a value in [p, 2^255) needs nothing more: the field code
    // works modulo p on any limbs within its bounds, and to_bytes reduces fully at the end.
    const Fe x1 = from_bytes(u);
    Ladder s{fe_one, fe_zero, x1, fe_one};

    // The swap is deferred, as RFC 7748 writes it: instead of swapping in and back out around
    // each step, the state stays swapped while bits repeat, so each step's mask is this bit
    // XOR the previous one (the swap runs every step, masked), and one more after the loop
    // undoes the last bit's. (Clamping clears bit 0, so that last swap never exchanges
    // anything; it stays so that the ladder is RFC 7748's as written.)
    u64 swap = 0;
    for (int t = 254; t >= 0; --t) {
        const u64 bit = (k[t >> 3] >> (t & 7)) & 1;  // t is public: so is the address
        swap ^= bit;
        const u64 mask = barrier(0 - swap);
        cswap(s.x2, s.x3, mask);
        cswap(s.z2, s.z3, mask);
        swap = bit;
        ladder_step(s, x1);
    }
    const u64 mask = barrier(0 - swap);
    cswap(s.x2, s.x3, mask);
    cswap(s.z2, s.z3, mask);

    // A small-order u ends with z_2 = 0, whose "inverse" is 0: the result is then all zeros,
    // which is what the check below looks for. It ORs every byte and compares once, so that
    // the time taken does not say where the first nonzero byte was.
    Fe z2_inv = invert(s.z2);
    to_bytes(out, mul(s.x2, z2_inv));
    std::uint8_t any = 0;
    for (int i = 0; i < 32; ++i) any = static_cast<std::uint8_t>(any | out[i]);

    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(&s, sizeof s);
    OPENSSL_cleanse(&z2_inv, sizeof z2_inv);
    OPENSSL_cleanse(&swap, sizeof swap);
    return any != 0;
}

namespace detail {

void base_point(std::uint8_t x[32], std::uint8_t y[32]) {
    to_bytes(x, curve().bx);
    to_bytes(y, curve().by);
}

void table_point(std::size_t i, std::size_t j, std::uint8_t x[32], std::uint8_t y[32]) {
    const Precomp p = std::bit_cast<Precomp>(table().entry[i][j].words);
    const Fe half = invert(from_u64(2));
    to_bytes(x, mul(sub(p.yplusx, p.yminusx), half));
    to_bytes(y, mul(add(p.yplusx, p.yminusx), half));
}

}  // namespace detail
}  // namespace tierlb::worker::x25519
