// worker/interpose/sprintf_chk.cpp: OpenSSL's key log formats secrets with "%02x" per byte,
// which the interposer writes itself; every other format goes to glibc. This executable links
// the interposer as tierlb does, so OpenSSL's calls below reach it.

#include <openssl/ssl.h>

#include <catch2/catch.hpp>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "tls_fixture.hpp"

extern "C" int __sprintf_chk(char* out, int flag, std::size_t out_size, const char* format, ...);

TEST_CASE("sprintf_chk: two hex digits of a byte, other formats as glibc writes them",
          "[worker][interpose]") {
    char out[32] = {};
    CHECK(__sprintf_chk(out, 1, sizeof(out), "%02x", 0u) == 2);
    CHECK(std::string(out) == "00");
    CHECK(__sprintf_chk(out, 1, sizeof(out), "%02x", 0xa7u) == 2);
    CHECK(std::string(out) == "a7");
    CHECK(__sprintf_chk(out, 1, sizeof(out), "%02x", 0xffu) == 2);
    CHECK(std::string(out) == "ff");
    // Beyond a byte "%02x" is just a minimum width: glibc's answer.
    CHECK(__sprintf_chk(out, 1, sizeof(out), "%02x", 0x1abu) == 3);
    CHECK(std::string(out) == "1ab");
    CHECK(__sprintf_chk(out, 1, sizeof(out), "%02X", 0xa7u) == 2);
    CHECK(std::string(out) == "A7");
    CHECK(__sprintf_chk(out, 1, sizeof(out), "%d:%s", 42, "x") == 4);
    CHECK(std::string(out) == "42:x");
    CHECK(__sprintf_chk(out, 1, sizeof(out), "%02xz", 5u) == 3);
    CHECK(std::string(out) == "05z");
}

namespace {

std::vector<std::string> key_log;

void record_line(const SSL*, const char* line) {
    key_log.emplace_back(line);
}

std::string hex_of(const unsigned char* bytes, std::size_t size) {
    std::string text;
    for (std::size_t i = 0; i < size; ++i) {
        char two[3];
        std::snprintf(two, sizeof(two), "%02x", bytes[i]);  // not the interposed function
        text += two;
    }
    return text;
}

}  // namespace

TEST_CASE("sprintf_chk: OpenSSL's key log lines carry the client random and each secret in hex",
          "[worker][interpose]") {
    tls_fixture::Certificate cert("keylog.test", {"keylog.test"});
    auto ctx = tls_fixture::server_context(cert, nullptr);
    SSL_CTX_set_keylog_callback(ctx.get(), &record_line);
    key_log.clear();
    SSL* server = SSL_new(ctx.get());
    const auto outcome = tls_fixture::handshake_with(server, nullptr);
    REQUIRE(outcome.ok);
    unsigned char random[SSL3_RANDOM_SIZE];
    REQUIRE(SSL_get_client_random(server, random, sizeof(random)) == sizeof(random));
    const std::string random_hex = hex_of(random, sizeof(random));
    SSL_free(server);
    SSL_SESSION_free(outcome.session);

    // TLS 1.3: both handshake secrets, both application secrets, the exporter secret.
    REQUIRE(key_log.size() == 5);
    for (const std::string& line : key_log) {
        INFO(line);
        const auto first = line.find(' ');
        const auto second = line.find(' ', first + 1);
        REQUIRE(second != std::string::npos);
        CHECK(line.substr(first + 1, second - first - 1) == random_hex);
        const std::string secret = line.substr(second + 1);
        CHECK((secret.size() == 64 || secret.size() == 96));
        CHECK(secret.find_first_not_of("0123456789abcdef") == std::string::npos);
    }
}
