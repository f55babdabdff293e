// TLS ticket keys: HAProxy's file format and rotation rule, and sessions that resume across
// two separate contexts sharing the keys (what two worker processes do).

#include "worker/ticket_keys.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tls_fixture.hpp"

using tierlb::worker::TicketKeys;

TEST_CASE("ticket keys: encode and decode round trip; the last three are kept",
          "[worker][tickets]") {
    auto keys = TicketKeys::generate();
    keys.insert(keys.begin(), TicketKeys::generate_one());  // four: the oldest is dropped
    auto decoded = TicketKeys::decode(TicketKeys::encode(keys));
    REQUIRE(decoded.has_value());
    REQUIRE(decoded->size() == 3);
    CHECK((*decoded)[0].name == keys[1].name);
    CHECK((*decoded)[2].aes == keys[3].aes);
    CHECK((*decoded)[2].hmac == keys[3].hmac);
}

TEST_CASE("ticket keys: the file format's errors", "[worker][tickets]") {
    const auto path = std::filesystem::temp_directory_path() / "tierlb-ticket-keys-test";
    auto write = [&](const std::string& text) { std::ofstream(path) << text; };
    const std::string k80 =  // bytes 0 to 79
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BB"
        "QkNERUZHSElKS0xNTk8=";
    const std::string k48 = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKT";
    SECTION("three AES-256 keys") {
        write(k80 + "\n" + k80 + "\n# a comment\n\n" + k80 + "\n");
        auto keys = TicketKeys::read_file(path);
        REQUIRE(keys.has_value());
        CHECK(keys->size() == 3);
        CHECK(keys->front().aes256);
    }
    SECTION("three AES-128 keys") {
        write(k48 + "\n" + k48 + "\n" + k48 + "\n");
        auto keys = TicketKeys::read_file(path);
        REQUIRE(keys.has_value());
        CHECK_FALSE(keys->front().aes256);
    }
    SECTION("too few") {
        write(k80 + "\n" + k80 + "\n");
        CHECK_THAT(TicketKeys::read_file(path).error(), Catch::Contains("at least 3 are needed"));
    }
    SECTION("mixed sizes") {
        write(k80 + "\n" + k48 + "\n" + k80 + "\n");
        CHECK_THAT(TicketKeys::read_file(path).error(), Catch::Contains("cannot be mixed"));
    }
    SECTION("a bad length names the line") {
        write(k80 + "\nMTIz\n" + k80 + "\n");
        CHECK_THAT(TicketKeys::read_file(path).error(), Catch::Contains("line 2"));
    }
    SECTION("a line of padding alone is an error, not an exception") {
        // Found by the ticket_keys fuzz target: "====" decoded to 3 bytes less 4 of padding,
        // and the size wrapped round (std::length_error ended the process reading the file).
        write(k80 + "\n====\n" + k80 + "\n" + k80 + "\n");
        CHECK_THAT(TicketKeys::read_file(path).error(), Catch::Contains("line 2: not base64"));
    }
    SECTION("padding inside a line is not base64") {
        write(k80.substr(0, 40) + "====" + k80.substr(40) + "\n" + k80 + "\n" + k80 + "\n");
        CHECK_THAT(TicketKeys::read_file(path).error(), Catch::Contains("line 1: not base64"));
    }
    SECTION("no file") {
        std::filesystem::remove(path);
        CHECK_THAT(TicketKeys::read_file(path).error(), Catch::Contains("cannot read"));
    }
    std::filesystem::remove(path);
}

TEST_CASE("ticket keys: a session sealed by one context opens on another with the same keys",
          "[worker][tickets]") {
    tls_fixture::Certificate cert("resume.test");
    const auto keys = TicketKeys::generate();
    TicketKeys first, second, stranger;
    first.set(keys);
    second.set(keys);
    stranger.set(TicketKeys::generate());
    auto ctx1 = tls_fixture::server_context(cert, &first);
    auto ctx2 = tls_fixture::server_context(cert, &second);
    auto ctx3 = tls_fixture::server_context(cert, &stranger);
    // A fresh session from the first context for each try (a TLS 1.3 ticket is for one use).
    auto sealed_by_first = [&] {
        SSL_SESSION* session = tls_fixture::handshake(ctx1.get(), nullptr).session;
        REQUIRE(session != nullptr);
        REQUIRE(SSL_SESSION_is_resumable(session) == 1);
        return session;
    };
    auto resumes = [](SSL_CTX* ctx, SSL_SESSION* session) {
        auto out = tls_fixture::handshake(ctx, session);
        SSL_SESSION_free(out.session);
        SSL_SESSION_free(session);
        return out.resumed;
    };
    CHECK(resumes(ctx2.get(), sealed_by_first()));
    CHECK_FALSE(resumes(ctx3.get(), sealed_by_first()));
    // Rotation: the sealing key becomes an opening-only key; the ticket still opens.
    SSL_SESSION* before_rotation = sealed_by_first();
    auto rotated = keys;
    rotated.erase(rotated.begin());
    rotated.push_back(TicketKeys::generate_one());
    second.set(rotated);
    CHECK(resumes(ctx2.get(), before_rotation));
    // Two rotations later, its key is gone: a full handshake.
    SSL_SESSION* old = sealed_by_first();
    rotated.erase(rotated.begin());
    rotated.push_back(TicketKeys::generate_one());
    rotated.erase(rotated.begin());
    rotated.push_back(TicketKeys::generate_one());
    second.set(rotated);
    CHECK_FALSE(resumes(ctx2.get(), old));
}
