#pragma once
// X25519 public keys (fixed-base scalar multiplication), fast and constant time.
//
// OpenSSL 3.0 computes X25519(k, 9) with the same Montgomery ladder it uses for an arbitrary
// peer point (255 ladder steps), and a TLS server computes one public key per handshake. With
// the base point fixed, a table of its multiples built once per process does the same work in
// about a quarter of the field operations: 64 table additions on the birationally equivalent
// Edwards curve (edwards25519) and 4 doublings, then one inversion to map back to Montgomery u.
//
// The shared secret, X25519(k, peer's u), has no such shortcut: shared_secret() is RFC 7748's
// ladder on the same field code, to spare a handshake OpenSSL's EVP layer around it.

#include <cstddef>
#include <cstdint>

namespace tierlb::worker::x25519 {

// OUT = X25519(SCALAR, 9): the public key of private key SCALAR (RFC 7748), clamped as
// RFC 7748 says (bits 0-2 and 255 cleared, bit 254 set). Constant time in SCALAR.
void public_from_private(std::uint8_t out[32], const std::uint8_t scalar[32]);

// OUT = X25519(SCALAR, U) (RFC 7748 section 5): the Montgomery ladder on the peer's
// u-coordinate U (its top bit ignored, non-canonical values accepted as RFC 7748 says),
// SCALAR clamped. Constant time in SCALAR. Returns false if the result is all zeros
// (U of small order), as OpenSSL's X25519 does, and the caller must then fail.
[[nodiscard]] bool shared_secret(std::uint8_t out[32], const std::uint8_t scalar[32],
                                 const std::uint8_t u[32]);

namespace detail {
// For the tests: affine Edwards coordinates (canonical, little-endian) of the base point B and
// of the table entry (j + 1) * 256^i * B, for i < 32 and j < 8.
void base_point(std::uint8_t x[32], std::uint8_t y[32]);
void table_point(std::size_t i, std::size_t j, std::uint8_t x[32], std::uint8_t y[32]);
}  // namespace detail

}  // namespace tierlb::worker::x25519
