// The worker's provider's X25519 (provider_x25519.cpp), used the way libssl uses it: a key
// pair generated, its encoded public key read, a peer's key share set, the shared secret by
// the provider's exchange against OpenSSL's on the other side; and handshakes through BindTls
// whose server key share and secret came from it, against a client on OpenSSL's own code.

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "tls_fixture.hpp"
#include "worker/provider.hpp"
#include "worker/tls_context.hpp"

using Bytes = std::vector<std::uint8_t>;

namespace {

const char* ours() {
    REQUIRE(tierlb::worker::provider_property_query() != nullptr);
    return "provider=tierlb";
}

EVP_PKEY* generate(const char* properties) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "X25519", properties);
    REQUIRE(ctx != nullptr);
    REQUIRE(EVP_PKEY_keygen_init(ctx) == 1);
    EVP_PKEY* key = nullptr;
    REQUIRE(EVP_PKEY_keygen(ctx, &key) == 1);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

Bytes raw(EVP_PKEY* key, bool private_half) {
    Bytes out(32);
    std::size_t n = out.size();
    const int ok = private_half ? EVP_PKEY_get_raw_private_key(key, out.data(), &n)
                                : EVP_PKEY_get_raw_public_key(key, out.data(), &n);
    REQUIRE(ok == 1);
    REQUIRE(n == 32);
    return out;
}

// The shared secret of OWN's private key and PEER's public key, by whichever exchange
// PROPERTIES finds (ours has none: OpenSSL's default one, which imports our keys).
Bytes derive(EVP_PKEY* own, EVP_PKEY* peer, const char* properties) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, own, properties);
    REQUIRE(ctx != nullptr);
    REQUIRE(EVP_PKEY_derive_init(ctx) == 1);
    REQUIRE(EVP_PKEY_derive_set_peer(ctx, peer) == 1);
    Bytes secret(32);
    std::size_t n = secret.size();
    REQUIRE(EVP_PKEY_derive(ctx, secret.data(), &n) == 1);
    EVP_PKEY_CTX_free(ctx);
    secret.resize(n);
    return secret;
}

// FROM's public key as libssl takes a peer's key share: set as an encoded public key on a key
// made by parameter generation, with PROPERTIES.
EVP_PKEY* key_share_of(EVP_PKEY* from, const char* properties) {
    EVP_PKEY_CTX* params = EVP_PKEY_CTX_new_from_name(nullptr, "X25519", properties);
    REQUIRE(EVP_PKEY_paramgen_init(params) == 1);
    REQUIRE(EVP_PKEY_CTX_set_group_name(params, "x25519") == 1);
    EVP_PKEY* peer = nullptr;
    REQUIRE(EVP_PKEY_paramgen(params, &peer) == 1);
    EVP_PKEY_CTX_free(params);
    unsigned char* share = nullptr;
    const std::size_t share_size = EVP_PKEY_get1_encoded_public_key(from, &share);
    REQUIRE(share_size == 32);
    REQUIRE(EVP_PKEY_set1_encoded_public_key(peer, share, share_size) == 1);
    OPENSSL_free(share);
    return peer;
}

// Our key pair against OpenSSL's, each side computing the secret with its own code, the way
// libssl takes a peer's key share.
void check_exchange_both_ways() {
    const char* provider = ours();
    EVP_PKEY* mine = generate(provider);
    EVP_PKEY* theirs = generate("provider=default");
    // As libssl does it: the peer's key share arrives as an encoded public key set on a key
    // made by parameter generation from the same key management.
    EVP_PKEY* peer = key_share_of(theirs, provider);

    const Bytes ours_side = derive(mine, peer, "?provider=tierlb");
    unsigned char* my_share = nullptr;
    REQUIRE(EVP_PKEY_get1_encoded_public_key(mine, &my_share) == 32);
    EVP_PKEY* mine_public = EVP_PKEY_new_raw_public_key_ex(nullptr, "X25519", "provider=default",
                                                           my_share, 32);
    OPENSSL_free(my_share);
    const Bytes their_side = derive(theirs, mine_public, "provider=default");
    CHECK(ours_side.size() == 32);
    CHECK(ours_side == their_side);

    // A key share of small order (u = 0): the secret would be all zeros, refused.
    EVP_PKEY* small = key_share_of(theirs, provider);
    const unsigned char zero_share[32] = {};
    REQUIRE(EVP_PKEY_set1_encoded_public_key(small, zero_share, sizeof zero_share) == 1);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, mine, "?provider=tierlb");
    REQUIRE(EVP_PKEY_derive_init(ctx) == 1);
    CHECK(std::string(OSSL_PROVIDER_get0_name(EVP_PKEY_CTX_get0_provider(ctx))) == "tierlb");
    REQUIRE(EVP_PKEY_derive_set_peer_ex(ctx, small, 0) == 1);
    Bytes secret(32);
    std::size_t n = secret.size();
    CHECK(EVP_PKEY_derive(ctx, secret.data(), &n) != 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(small);

    // A key share of the wrong size is refused.
    const unsigned char short_share[31] = {9};
    CHECK(EVP_PKEY_set1_encoded_public_key(peer, short_share, sizeof short_share) != 1);
    // The group is X25519's only.
    EVP_PKEY_CTX* other = EVP_PKEY_CTX_new_from_name(nullptr, "X25519", provider);
    REQUIRE(EVP_PKEY_paramgen_init(other) == 1);
    CHECK(EVP_PKEY_CTX_set_group_name(other, "x448") != 1);
    EVP_PKEY_CTX_free(other);
    for (EVP_PKEY* k : {mine, theirs, peer, mine_public}) {
        EVP_PKEY_free(k);
    }
}

}  // namespace

TEST_CASE("X25519 key pairs from the provider are OpenSSL's for the same private key",
          "[worker][tls][x25519]") {
    const char* provider = ours();
    const auto before = tierlb::worker::provider_x25519_key_pairs();
    for (int i = 0; i < 50; ++i) {
        EVP_PKEY* key = generate(provider);
        REQUIRE(std::string(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(key))) == "tierlb");
        const Bytes priv = raw(key, true);
        CHECK((priv[0] & 7) == 0);  // stored clamped, as OpenSSL stores it
        CHECK((priv[31] & 0xc0) == 0x40);
        EVP_PKEY* theirs =
            EVP_PKEY_new_raw_private_key_ex(nullptr, "X25519", "provider=default", priv.data(), 32);
        REQUIRE(theirs != nullptr);
        CHECK(raw(key, false) == raw(theirs, false));
        CHECK(EVP_PKEY_get_bits(key) == 253);
        CHECK(EVP_PKEY_get_security_bits(key) == 128);
        CHECK(EVP_PKEY_get_size(key) == 32);
        EVP_PKEY_free(theirs);
        EVP_PKEY_free(key);
    }
    CHECK(tierlb::worker::provider_x25519_key_pairs() - before == 50);
}

TEST_CASE("X25519: OpenSSL's exchange on the provider's keys, both ways",
          "[worker][tls][x25519]") {
    check_exchange_both_ways();
}

TEST_CASE("X25519: import and export, as OpenSSL's", "[worker][tls][x25519]") {
    const char* provider = ours();
    EVP_PKEY* key = generate("provider=default");
    const Bytes priv = raw(key, true), pub = raw(key, false);
    // A private key alone: the provider computes the public key.
    EVP_PKEY* imported = EVP_PKEY_new_raw_private_key_ex(nullptr, "X25519", provider,
                                                         priv.data(), priv.size());
    REQUIRE(imported != nullptr);
    CHECK(std::string(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(imported))) == "tierlb");
    CHECK(raw(imported, false) == pub);
    CHECK(EVP_PKEY_eq(imported, key) == 1);
    EVP_PKEY* copy = EVP_PKEY_dup(imported);
    REQUIRE(copy != nullptr);
    CHECK(raw(copy, true) == priv);
    EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, imported, provider);
    CHECK(EVP_PKEY_pairwise_check(check) == 1);
    EVP_PKEY_CTX_free(check);
    for (EVP_PKEY* k : {key, imported, copy}) {
        EVP_PKEY_free(k);
    }
}

TEST_CASE("a handshake through BindTls makes its key share in the provider",
          "[worker][tls][x25519]") {
    // Derivations on the provider's keys first, before any TLS context: were they to go
    // through OpenSSL's exchange (EVP exporting our keys to it), OpenSSL 3.0 would cache its
    // own key management under the property query, and handshakes would make keys there.
    check_exchange_both_ways();
    tls_fixture::Certificate cert("x25519.example");
    tls_fixture::BoundTls bound(cert);
    for (int i = 0; i < 5; ++i) {
        const auto before = tierlb::worker::provider_x25519_key_pairs();
        SSL* server = bound.tls->new_connection();
        // The client's key share and secret are OpenSSL's own (tls_fixture): a wrong public
        // key from the provider would fail the handshake.
        auto out = tls_fixture::handshake_with(server, nullptr, "x25519.example");
        // X25519 itself, at once: a group dropped from the server's list would still make a
        // handshake, on P-256 after a HelloRetryRequest.
        CHECK(SSL_get_negotiated_group(server) == NID_X25519);
        SSL_free(server);
        SSL_SESSION_free(out.session);
        CHECK(out.ok);
        CHECK(tierlb::worker::provider_x25519_key_pairs() - before == 1);
    }
}
