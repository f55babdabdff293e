// The TLS 1.3 record layer against RFC 8448's "Simple 1-RTT Handshake" trace (section 3):
// the application traffic keys derived from the secrets, and the records of the trace sealed
// and opened byte for byte -- from the server's side, as a worker sees them.

#include "worker/tls13_records.hpp"

#include <openssl/hmac.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace tls13 = tierlb::worker::tls13;

namespace {

std::vector<std::uint8_t> hex(const std::string& text) {
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
        out.push_back(static_cast<std::uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16)));
    }
    return out;
}

// RFC 8448 section 3: "derive secret tls13 c ap traffic" and "tls13 s ap traffic".
const auto client_secret = hex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5");
const auto server_secret = hex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643");

// The server's NewSessionTicket (the first record under the server's application key).
const auto ticket_message =
    hex("040000c90000001efad6aac502000000b22c035d829359ee5ff7af4ec900000000262a6494dc486d2c8a34cb"
        "33fa90bf1b0070ad3c498883c9367c09a2be785abc55cd226097a3a982117283f82a03a143efd3ff5dd36d64"
        "e861be7fd61d2827db279cce145077d454a3664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529513e3da2"
        "677fa5906c5b3f7d8f92f228bda40dda721470f9fbf297b5aea617646fac5c03272e970727c621a79141ef5f"
        "7de6505e5bfbc388e93343694093934ae4d3570008002a000400000400");
const auto ticket_record =
    hex("17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c7"
        "58db289a015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1"
        "b6c0d4a3d03f75e09c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc1"
        "81a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f6"
        "50db4d023e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779"
        "b37bf15985684f");
// 50 bytes of application data each way: the client's (its first record), and the server's
// answer (its second record, after the ticket).
const auto client_data_record =
    hex("1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a"
        "20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4");
const auto server_data_record =
    hex("17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb"
        "501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d");

std::vector<std::uint8_t> counting(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        v[i] = static_cast<std::uint8_t>(i);
    }
    return v;
}

// A server's state at the end of the trace's handshake.
tls13::TrafficState server_state() {
    tls13::TrafficState s;
    s.suite = tls13::Suite::aes_128_gcm_sha256;
    REQUIRE(tls13::set_secret(s.suite, client_secret, 0, s.read));
    REQUIRE(tls13::set_secret(s.suite, server_secret, 0, s.write));
    return s;
}

}  // namespace

TEST_CASE("RFC 8448: application keys and IVs from the traffic secrets", "[worker][tls13]") {
    const tls13::TrafficState s = server_state();
    CHECK(std::vector(s.write.key.begin(), s.write.key.begin() + 16) ==
          hex("9f02283b6c9c07efc26bb9f2ac92e356"));
    CHECK(std::vector(s.write.iv.begin(), s.write.iv.end()) == hex("cf782b88dd83549aadf1e984"));
    CHECK(std::vector(s.read.key.begin(), s.read.key.begin() + 16) ==
          hex("17422dda596ed5d9acd890e3c63f5051"));
    CHECK(std::vector(s.read.iv.begin(), s.read.iv.end()) == hex("5b78923dee08579033e523d9"));
}

TEST_CASE("RFC 8448: the server's ticket and data records, sealed byte for byte",
          "[worker][tls13]") {
    tls13::TrafficState s = server_state();
    tls13::Aead aead(s.suite, s.write, true);
    REQUIRE(aead.valid());
    std::vector<std::uint8_t> out(tls13::max_record);
    const std::size_t ticket =
        aead.seal(s.write, tls13::ContentType::handshake, ticket_message, out);
    CHECK(std::vector(out.begin(), out.begin() + static_cast<long>(ticket)) == ticket_record);
    CHECK(s.write.sequence == 1);
    const std::size_t data =
        aead.seal(s.write, tls13::ContentType::application_data, counting(50), out);
    CHECK(std::vector(out.begin(), out.begin() + static_cast<long>(data)) == server_data_record);
    CHECK(s.write.sequence == 2);
}

TEST_CASE("RFC 8448: the client's data record opens; a flipped bit does not", "[worker][tls13]") {
    tls13::TrafficState s = server_state();
    tls13::Aead aead(s.suite, s.read, false);

    // Every bit of the header (additional data) and of the body counts.
    for (std::size_t at : {std::size_t{2}, std::size_t{4}, std::size_t{5}, std::size_t{40},
                           client_data_record.size() - 1}) {
        auto bad = client_data_record;
        bad[at] ^= 0x01;
        const tls13::Opened refused = aead.open(s.read, bad);
        INFO("byte " << at);
        CHECK_FALSE(refused.ok);
        CHECK(s.read.sequence == 0);  // a forged record does not move the sequence
    }

    auto record = client_data_record;
    const tls13::Opened opened = aead.open(s.read, record);
    REQUIRE(opened.ok);
    CHECK(opened.type == tls13::ContentType::application_data);
    CHECK(std::vector(opened.plaintext.begin(), opened.plaintext.end()) == counting(50));
    CHECK(s.read.sequence == 1);

    // The same record again is out of sequence: it no longer authenticates.
    record = client_data_record;
    const tls13::Opened replayed = aead.open(s.read, record);
    CHECK_FALSE(replayed.ok);
    CHECK(replayed.alert == tls13::AlertCode::bad_record_mac);
}

TEST_CASE("records: padding, content types and limits", "[worker][tls13]") {
    tls13::TrafficState s = server_state();
    tls13::TrafficState peer = s;  // the client: our read keys are its write keys
    std::swap(peer.read, peer.write);
    tls13::Aead seal(peer.suite, peer.write, true);
    tls13::Aead open(s.suite, s.read, false);
    std::vector<std::uint8_t> out(tls13::max_record + 64);

    SECTION("a full record of 2^14 bytes, then one byte more is refused when sealing") {
        const auto text = counting(tls13::max_plaintext);
        const std::size_t n =
            seal.seal(peer.write, tls13::ContentType::application_data, text, out);
        REQUIRE(n == tls13::max_plaintext + tls13::seal_overhead);
        const tls13::Opened opened = open.open(s.read, std::span(out.data(), n));
        REQUIRE(opened.ok);
        CHECK(opened.plaintext.size() == tls13::max_plaintext);
        CHECK(seal.seal(peer.write, tls13::ContentType::application_data,
                        counting(tls13::max_plaintext + 1), out) == 0);
    }
    SECTION("zero padding after the content type is removed") {
        // "hi", its type and three zeros of padding: sealed as content with a zero "type".
        const std::vector<std::uint8_t> padded = {'h', 'i', 23, 0, 0, 0};
        const std::size_t n =
            seal.seal(peer.write, static_cast<tls13::ContentType>(0), padded, out);
        const tls13::Opened opened = open.open(s.read, std::span(out.data(), n));
        REQUIRE(opened.ok);
        CHECK(opened.type == tls13::ContentType::application_data);
        CHECK(std::string(opened.plaintext.begin(), opened.plaintext.end()) == "hi");
    }
    SECTION("all zeros (no content type) is an unexpected message") {
        const std::vector<std::uint8_t> zeros(4, 0);
        const std::size_t n = seal.seal(peer.write, static_cast<tls13::ContentType>(0), zeros, out);
        const tls13::Opened opened = open.open(s.read, std::span(out.data(), n));
        CHECK_FALSE(opened.ok);
        CHECK(opened.alert == tls13::AlertCode::unexpected_message);
    }
    SECTION("an unprotected record type is an unexpected message") {
        const std::size_t n =
            seal.seal(peer.write, tls13::ContentType::application_data, counting(10), out);
        out[0] = 20;  // change_cipher_spec
        const tls13::Opened opened = open.open(s.read, std::span(out.data(), n));
        CHECK_FALSE(opened.ok);
        CHECK(opened.alert == tls13::AlertCode::unexpected_message);
    }
    SECTION("a record longer than 2^14 + 256 is an overflow") {
        std::vector<std::uint8_t> huge(tls13::max_record + 1);
        huge[0] = 23;
        huge[1] = huge[2] = 3;
        huge[3] = static_cast<std::uint8_t>((tls13::max_ciphertext + 1) >> 8);
        huge[4] = static_cast<std::uint8_t>(tls13::max_ciphertext + 1);
        const tls13::Opened opened = open.open(s.read, huge);
        CHECK_FALSE(opened.ok);
        CHECK(opened.alert == tls13::AlertCode::record_overflow);
    }
}

TEST_CASE("KeyUpdate: the next secret is HKDF-Expand-Label(secret, \"traffic upd\")",
          "[worker][tls13]") {
    for (const auto suite : {tls13::Suite::aes_128_gcm_sha256, tls13::Suite::aes_256_gcm_sha384,
                             tls13::Suite::chacha20_poly1305_sha256}) {
        const std::size_t n = tls13::hash_size(suite);
        const auto secret = counting(n);
        tls13::DirectionKeys keys;
        REQUIRE(tls13::set_secret(suite, secret, 7, keys));
        CHECK(keys.sequence == 7);
        REQUIRE(tls13::update_keys(suite, keys));
        CHECK(keys.sequence == 0);
        // The label's bytes, done by hand: uint16 length, "tls13 traffic upd", empty context.
        std::string info = {static_cast<char>(n >> 8), static_cast<char>(n), 17};
        info += "tls13 traffic upd";
        info += '\0';
        // HKDF-Expand with one block (n <= hash size): HMAC(secret, info || 0x01).
        info += '\1';
        std::vector<std::uint8_t> expected(n);
        unsigned length = 0;
        HMAC(suite == tls13::Suite::aes_256_gcm_sha384 ? EVP_sha384() : EVP_sha256(), secret.data(),
             static_cast<int>(n), reinterpret_cast<const unsigned char*>(info.data()), info.size(),
             expected.data(), &length);
        CHECK(std::vector(keys.secret.begin(), keys.secret.begin() + static_cast<long>(n)) ==
              expected);
    }
}
