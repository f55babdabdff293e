#include "worker/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tierlb::worker {

namespace {

// The ex_data slot where an SSL_CTX keeps its TicketKeys.
int keys_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

std::string base64(const std::uint8_t* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    const int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// Strict base64: groups of four characters, '=' only as the last one or two. EVP_DecodeBlock
// alone takes '=' anywhere as a zero and counts padding as data.
Expected<std::vector<std::uint8_t>> unbase64(const std::string& text) {
    const std::size_t first_pad = text.find('=');
    const std::size_t padding = first_pad == std::string::npos ? 0 : text.size() - first_pad;
    if (text.size() % 4 != 0 || padding > 2 ||
        text.find_first_not_of('=', first_pad == std::string::npos ? text.size() : first_pad) !=
            std::string::npos) {
        return unexpected("not base64");
    }
    std::vector<std::uint8_t> out(3 * (text.size() / 4));
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0 || static_cast<std::size_t>(n) < padding) {
        return unexpected("not base64");
    }
    out.resize(static_cast<std::size_t>(n) - padding);
    return out;
}

Expected<TicketKey> key_of(const std::vector<std::uint8_t>& raw) {
    TicketKey key;
    if (raw.size() == 80) {
        std::memcpy(key.name.data(), raw.data(), 16);
        std::memcpy(key.aes.data(), raw.data() + 16, 32);
        std::memcpy(key.hmac.data(), raw.data() + 48, 32);
        key.aes256 = true;
    } else if (raw.size() == 48) {
        std::memcpy(key.name.data(), raw.data(), 16);
        std::memcpy(key.aes.data(), raw.data() + 16, 16);
        std::memcpy(key.hmac.data(), raw.data() + 32, 16);
        key.aes256 = false;
    } else {
        return unexpected("a key is " + std::to_string(raw.size()) +
                          " bytes long (expected 48 for AES-128 or 80 for AES-256)");
    }
    return key;
}

std::vector<std::uint8_t> raw_of(const TicketKey& key) {
    const std::size_t part = key.aes256 ? 32 : 16;
    std::vector<std::uint8_t> raw(key.name.begin(), key.name.end());
    raw.insert(raw.end(), key.aes.begin(), key.aes.begin() + static_cast<long>(part));
    raw.insert(raw.end(), key.hmac.begin(), key.hmac.begin() + static_cast<long>(part));
    return raw;
}

// Lines to keys, checking they all have the first one's size.
Expected<std::vector<TicketKey>> parse_lines(std::istream& in, const std::string& what) {
    std::vector<TicketKey> keys;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        line.erase(std::remove_if(line.begin(), line.end(),
                                  [](unsigned char c) { return std::isspace(c) != 0; }),
                   line.end());
        if (line.empty() || line.front() == '#') {
            continue;
        }
        auto raw = unbase64(line);
        auto key = raw ? key_of(*raw) : Expected<TicketKey>(unexpected(raw.error()));
        if (!key) {
            return unexpected(what + ", line " + std::to_string(number) + ": " + key.error());
        }
        if (!keys.empty() && key->aes256 != keys.front().aes256) {
            return unexpected(what + ", line " + std::to_string(number) +
                              ": AES-128 and AES-256 keys cannot be mixed");
        }
        keys.push_back(*key);
    }
    if (keys.size() < TicketKeys::in_use) {
        return unexpected(what + ": " + std::to_string(keys.size()) + " keys, at least " +
                          std::to_string(TicketKeys::in_use) + " are needed");
    }
    keys.erase(keys.begin(), keys.end() - static_cast<long>(TicketKeys::in_use));
    return keys;
}

}  // namespace

Expected<std::vector<TicketKey>> TicketKeys::read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return unexpected("cannot read the TLS ticket keys file '" + path + "'");
    }
    return parse_lines(in, "TLS ticket keys file '" + path + "'");
}

TicketKey TicketKeys::generate_one() {
    TicketKey key;
    RAND_bytes(key.name.data(), static_cast<int>(key.name.size()));
    RAND_priv_bytes(key.aes.data(), static_cast<int>(key.aes.size()));
    RAND_priv_bytes(key.hmac.data(), static_cast<int>(key.hmac.size()));
    return key;
}

std::vector<TicketKey> TicketKeys::generate() {
    return {generate_one(), generate_one(), generate_one()};
}

std::string TicketKeys::encode(const std::vector<TicketKey>& keys) {
    std::string text;
    for (const auto& key : keys) {
        const auto raw = raw_of(key);
        text += base64(raw.data(), raw.size()) + "\n";
    }
    return text;
}

Expected<std::vector<TicketKey>> TicketKeys::decode(const std::string& text) {
    std::istringstream in(text);
    return parse_lines(in, "TLS ticket keys from the master");
}

void TicketKeys::set(std::vector<TicketKey> keys) {
    std::lock_guard lock(mutex_);
    keys_ = std::move(keys);
}

bool TicketKeys::empty() const {
    std::lock_guard lock(mutex_);
    return keys_.empty();
}

void TicketKeys::install(SSL_CTX* ctx) {
    SSL_CTX_set_ex_data(ctx, keys_index(), this);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TicketKeys::callback);
}

int TicketKeys::callback(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                         EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
    // The SSL's session context: the one the connection started on (before an SNI switch).
    auto* self = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), keys_index()));
    if (self == nullptr) {
        return encrypt ? -1 : 0;
    }
    return self->seal_or_open(key_name, iv, cipher, mac, encrypt);
}

// OpenSSL's contract: sealing returns 1 (or -1 on failure); opening returns 0 for an unknown
// key (full handshake), 1 to accept, 2 to accept and issue a fresh ticket (sealed with an
// older key: the client gets one under the current key).
int TicketKeys::seal_or_open(unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                             EVP_MAC_CTX* mac, int encrypt) {
    std::lock_guard lock(mutex_);
    if (keys_.size() < in_use) {
        return encrypt ? -1 : 0;
    }
    const TicketKey* key = nullptr;
    int result = 1;
    if (encrypt) {
        key = &keys_[keys_.size() - 2];  // the penultimate seals
        std::memcpy(key_name, key->name.data(), key->name.size());
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) {
            return -1;
        }
    } else {
        for (std::size_t i = 0; i < keys_.size(); ++i) {
            if (std::memcmp(key_name, keys_[i].name.data(), keys_[i].name.size()) == 0) {
                key = &keys_[i];
                result = i == keys_.size() - 2 ? 1 : 2;
            }
        }
        if (key == nullptr) {
            return 0;
        }
    }
    const EVP_CIPHER* algorithm = key->aes256 ? EVP_aes_256_cbc() : EVP_aes_128_cbc();
    const std::size_t part = key->aes256 ? 32 : 16;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                          const_cast<std::uint8_t*>(key->hmac.data()), part),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, params) != 1) {
        return encrypt ? -1 : 0;
    }
    const int ok = encrypt ? EVP_EncryptInit_ex(cipher, algorithm, nullptr, key->aes.data(), iv)
                           : EVP_DecryptInit_ex(cipher, algorithm, nullptr, key->aes.data(), iv);
    if (ok != 1) {
        return encrypt ? -1 : 0;
    }
    return result;
}

}  // namespace tierlb::worker
