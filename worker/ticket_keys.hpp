#pragma once
// TLS session-ticket keys shared by every worker process, so that a client resumes its
// session on any worker (a ticket sealed by one is opened by another). HAProxy's scheme and
// file format (tls-ticket-keys): keys of 48 bytes (name 16, AES-128 16, HMAC 16) or 80 bytes
// (name 16, AES-256 32, HMAC 32), base64, one per line; the last three open tickets and the
// penultimate seals them, so appending a key (and reloading) rotates. Without a file, the
// master makes the keys at start, hands them to every process and rotates them hourly.

#include <openssl/ssl.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/expected.hpp"

namespace tierlb::worker {

struct TicketKey {
    std::array<std::uint8_t, 16> name{};
    std::array<std::uint8_t, 32> aes{};
    std::array<std::uint8_t, 32> hmac{};
    bool aes256 = true;  // else 16-byte AES and HMAC keys (a 48-byte key)
};

class TicketKeys {
public:
    static constexpr std::size_t in_use = 3;  // HAProxy's TLS_TICKETS_NO

    // Reads a tls-ticket-keys file. The error says what is wrong with which line.
    static Expected<std::vector<TicketKey>> read_file(const std::string& path);
    // Three fresh random keys (AES-256).
    static std::vector<TicketKey> generate();
    // One fresh key, to append when rotating.
    static TicketKey generate_one();

    // Base64 lines, as in a keys file: what the master sends to the processes.
    static std::string encode(const std::vector<TicketKey>& keys);
    static Expected<std::vector<TicketKey>> decode(const std::string& text);

    // Replaces the keys in use (thread-safe: handshakes of other threads read them).
    void set(std::vector<TicketKey> keys);
    bool empty() const;

    // Installs the ticket callback on CTX, reading the keys of this object.
    void install(SSL_CTX* ctx);

private:
    static int callback(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                        EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt);
    int seal_or_open(unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                     EVP_MAC_CTX* mac, int encrypt);

    mutable std::mutex mutex_;
    std::vector<TicketKey> keys_;  // the last `in_use` of the list
};

}  // namespace tierlb::worker
