// The worker's HKDF (tls13_hkdf) and its OpenSSL provider of TLS13-KDF (provider_tls13_kdf.cpp):
// RFC 5869's and RFC 8448's published values, OpenSSL's own HMAC/HKDF/TLS13-KDF on random
// inputs, the hand-on of other digests to the default provider, and a handshake through
// BindTls computed by the provider against a client that derives with OpenSSL's own code.

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "tls_fixture.hpp"
#include "worker/tls13_hkdf.hpp"
#include "worker/provider.hpp"
#include "worker/tls_context.hpp"

namespace hkdf = tierlb::worker::hkdf;
using Bytes = std::vector<std::uint8_t>;
using tierlb::worker::BindTls;

namespace {

Bytes hex(const std::string& text) {
    Bytes out;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
        out.push_back(static_cast<std::uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16)));
    }
    return out;
}

Bytes text(const std::string& s) {
    return Bytes(s.begin(), s.end());
}

Bytes random_bytes(std::size_t n) {
    Bytes out(n);
    if (n > 0) {
        REQUIRE(RAND_bytes(out.data(), static_cast<int>(n)) == 1);
    }
    return out;
}

const char* md_name(hkdf::Hash hash) {
    return hash == hkdf::Hash::sha384 ? "SHA384" : "SHA256";
}

struct Inputs {
    std::string digest;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    const Bytes* key = nullptr;
    const Bytes* salt = nullptr;
    Bytes prefix = text("tls13 ");
    Bytes label;
    const Bytes* data = nullptr;
};

// TLS13-KDF as libssl calls it, from the provider PROPERTIES selects; empty on failure.
Bytes tls13_kdf(const char* properties, const Inputs& in, std::size_t size) {
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_TLS1_3_KDF, properties);
    REQUIRE(kdf != nullptr);
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    REQUIRE(ctx != nullptr);
    int mode = in.mode;
    std::vector<OSSL_PARAM> params;
    params.push_back(OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode));
    params.push_back(OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                      const_cast<char*>(in.digest.c_str()), 0));
    auto add = [&](const char* name, const Bytes* bytes) {
        if (bytes != nullptr) {
            params.push_back(OSSL_PARAM_construct_octet_string(
                name, const_cast<std::uint8_t*>(bytes->data()), bytes->size()));
        }
    };
    add(OSSL_KDF_PARAM_KEY, in.key);
    add(OSSL_KDF_PARAM_SALT, in.salt);
    add(OSSL_KDF_PARAM_PREFIX, &in.prefix);
    add(OSSL_KDF_PARAM_LABEL, &in.label);
    add(OSSL_KDF_PARAM_DATA, in.data);
    params.push_back(OSSL_PARAM_construct_end());
    Bytes out(size);
    const bool ok = EVP_KDF_derive(ctx, out.data(), out.size(), params.data()) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok ? out : Bytes{};
}

const char* ours() {
    REQUIRE(tierlb::worker::provider_property_query() != nullptr);
    return "provider=tierlb";
}

}  // namespace

TEST_CASE("HKDF: RFC 5869's first test case", "[worker][tls][hkdf]") {
    const Bytes ikm(22, 0x0b);
    const Bytes salt = hex("000102030405060708090a0b0c");
    const Bytes info = hex("f0f1f2f3f4f5f6f7f8f9");
    Bytes prk(32);
    hkdf::extract(hkdf::Hash::sha256, salt, ikm, prk.data());
    CHECK(prk == hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"));
    Bytes okm(42);
    REQUIRE(hkdf::expand(hkdf::Hash::sha256, prk, info, okm));
    CHECK(okm == hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b8"
                     "87185865"));
    Bytes too_long(255 * 32 + 1);
    CHECK_FALSE(hkdf::expand(hkdf::Hash::sha256, prk, info, too_long));
}

TEST_CASE("HMAC and HKDF agree with OpenSSL's on random inputs", "[worker][tls][hkdf]") {
    for (const auto hash : {hkdf::Hash::sha256, hkdf::Hash::sha384}) {
        const EVP_MD* md = hash == hkdf::Hash::sha384 ? EVP_sha384() : EVP_sha256();
        // Keys around and over the block sizes (64, 128): over a block, HMAC hashes the key.
        for (const std::size_t key_size : {0, 1, 32, 48, 64, 65, 127, 128, 129, 300}) {
            const Bytes key = random_bytes(key_size);
            const Bytes a = random_bytes(key_size % 7 * 11), b = random_bytes(200);
            Bytes joined = a;
            joined.insert(joined.end(), b.begin(), b.end());
            Bytes mine(hkdf::size_of(hash)), theirs(EVP_MAX_MD_SIZE);
            unsigned n = 0;
            hkdf::hmac(hash, key, {a, b}, mine.data());
            REQUIRE(HMAC(md, key.data(), static_cast<int>(key.size()), joined.data(),
                         joined.size(), theirs.data(), &n) != nullptr);
            theirs.resize(n);
            INFO("key of " << key_size << " bytes, " << md_name(hash));
            CHECK(mine == theirs);
        }
        // Expand across several blocks, against OpenSSL's HKDF.
        const Bytes prk = random_bytes(hkdf::size_of(hash)), info = random_bytes(40);
        for (const std::size_t size : {1, 12, 32, 48, 49, 100, 500}) {
            Bytes mine(size), theirs(size);
            REQUIRE(hkdf::expand(hash, prk, info, mine));
            EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
            REQUIRE(EVP_PKEY_derive_init(ctx) == 1);
            REQUIRE(EVP_PKEY_CTX_set_hkdf_mode(ctx, EVP_PKEY_HKDEF_MODE_EXPAND_ONLY) == 1);
            REQUIRE(EVP_PKEY_CTX_set_hkdf_md(ctx, md) == 1);
            REQUIRE(EVP_PKEY_CTX_set1_hkdf_key(ctx, prk.data(), static_cast<int>(prk.size())) ==
                    1);
            REQUIRE(EVP_PKEY_CTX_add1_hkdf_info(ctx, info.data(), static_cast<int>(info.size())) ==
                    1);
            std::size_t n = size;
            REQUIRE(EVP_PKEY_derive(ctx, theirs.data(), &n) == 1);
            EVP_PKEY_CTX_free(ctx);
            INFO(size << " bytes, " << md_name(hash));
            CHECK(mine == theirs);
        }
    }
}

TEST_CASE("TLS13-KDF: RFC 8448's key schedule (simple 1-RTT)", "[worker][tls][hkdf]") {
    const char* provider = ours();
    const auto before = tierlb::worker::provider_tls13_derivations();
    Inputs in;
    in.digest = "SHA2-256";  // as libssl names it
    in.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
    in.label = text("derived");
    // Early secret: no salt, no PSK (HashLen zeros).
    const Bytes early = tls13_kdf(provider, in, 32);
    CHECK(early == hex("33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a"));
    // Handshake secret: Derive-Secret(early, "derived", "") as salt, the (EC)DHE secret.
    const Bytes ecdhe = hex("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d");
    in.salt = &early;
    in.key = &ecdhe;
    const Bytes handshake = tls13_kdf(provider, in, 32);
    CHECK(handshake == hex("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac"));
    // Master secret: no key.
    in.salt = &handshake;
    in.key = nullptr;
    CHECK(tls13_kdf(provider, in, 32) ==
          hex("18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919"));
    // Client and server handshake traffic secrets, over the hash of ClientHello..ServerHello.
    const Bytes transcript =
        hex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8");
    Inputs expand;
    expand.digest = "SHA256";
    expand.key = &handshake;
    expand.data = &transcript;
    expand.label = text("c hs traffic");
    CHECK(tls13_kdf(provider, expand, 32) ==
          hex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21"));
    expand.label = text("s hs traffic");
    CHECK(tls13_kdf(provider, expand, 32) ==
          hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38"));
    CHECK(tierlb::worker::provider_tls13_derivations() - before == 5);
}

TEST_CASE("TLS13-KDF: the provider and OpenSSL's agree on random inputs", "[worker][tls][hkdf]") {
    const char* provider = ours();
    for (const std::string digest : {"SHA256", "SHA2-384", "sha-384"}) {
        const std::size_t n = digest == "SHA256" ? 32 : 48;
        const Bytes secret = random_bytes(n), shared = random_bytes(97), context = random_bytes(n);
        for (int round = 0; round < 4; ++round) {
            INFO(digest << " round " << round);
            Inputs in;
            in.digest = digest;
            in.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
            in.label = text("derived");
            in.salt = round % 2 == 0 ? &secret : nullptr;
            in.key = round / 2 == 0 ? &shared : nullptr;
            const Bytes extracted = tls13_kdf(provider, in, n);
            CHECK(extracted.size() == n);
            CHECK(extracted == tls13_kdf("provider=default", in, n));

            in.mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
            in.key = &secret;
            in.salt = nullptr;
            in.label = text(round == 3 ? "a label of some length, up to the limit" : "key");
            in.data = round % 2 == 0 ? &context : nullptr;
            for (const std::size_t size : {12, 16, 32, 48, 80}) {
                const Bytes expanded = tls13_kdf(provider, in, size);
                CHECK(expanded.size() == size);
                CHECK(expanded == tls13_kdf("provider=default", in, size));
            }
        }
    }
}

TEST_CASE("TLS13-KDF: other digests go to the default provider; bad requests fail",
          "[worker][tls][hkdf]") {
    const char* provider = ours();
    const Bytes secret = random_bytes(64);
    Inputs in;
    in.digest = "SHA512";
    in.key = &secret;
    in.label = text("key");
    const auto before = tierlb::worker::provider_tls13_derivations();
    const Bytes handed_on = tls13_kdf(provider, in, 32);
    CHECK(handed_on.size() == 32);
    CHECK(handed_on == tls13_kdf("provider=default", in, 32));
    CHECK(tierlb::worker::provider_tls13_derivations() == before);  // not computed here

    in.digest = "SHA256";
    in.mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;  // not a TLS13-KDF mode
    CHECK(tls13_kdf(provider, in, 32).empty());
    in.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;  // an Extract gives exactly HashLen bytes
    CHECK(tls13_kdf(provider, in, 31).empty());
    CHECK(tls13_kdf(provider, in, 32).size() == 32);
    in.mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    in.label = Bytes(250, 'x');  // "tls13 " + 250 bytes does not fit the label's length byte
    CHECK(tls13_kdf(provider, in, 32).empty());
}

TEST_CASE("a handshake through BindTls derives its keys in the provider", "[worker][tls][hkdf]") {
    tls_fixture::Certificate cert("kdf.example");
    tls_fixture::BoundTls bound(cert);
    const auto before = tierlb::worker::provider_tls13_derivations();
    SSL* server = bound.tls->new_connection();
    // The test client derives with OpenSSL's own TLS13-KDF (tls_fixture): a key the provider
    // got wrong would fail the Finished check on one side.
    auto out = tls_fixture::handshake_with(server, nullptr, "kdf.example");
    SSL_free(server);
    SSL_SESSION_free(out.session);
    CHECK(out.ok);
    CHECK(out.subject_cn == "kdf.example");
    // The server's key schedule: three Extracts, traffic secrets, their keys, tickets (~20).
    CHECK(tierlb::worker::provider_tls13_derivations() - before >= 15);
}
