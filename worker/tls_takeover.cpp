#include "worker/tls_takeover.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>

#include <atomic>
#include <cstring>
#include <string_view>

#include "common/log/event_log.hpp"
#include "common/net/tls_offload_counters.hpp"

namespace tierlb::worker {

namespace {

// What the callbacks saw of one SSL.
struct Probe {
    std::array<std::uint8_t, 48> client_secret{};  // CLIENT_TRAFFIC_SECRET_0: what we read
    std::array<std::uint8_t, 48> server_secret{};  // SERVER_TRAFFIC_SECRET_0: what we write
    std::uint8_t client_size = 0, server_size = 0;
    // Records under the current application key of each direction, and KeyUpdates since _0.
    std::uint64_t read_records = 0, write_records = 0;
    std::uint32_t read_updates = 0, write_updates = 0;
    // The Finished that switches each direction to the application keys has gone by.
    bool read_keyed = false, write_keyed = false;
};

std::atomic<bool> offload_enabled{true};
net::TlsOffloadCounters& counts = net::tls_offload_counters;

void free_probe(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    if (ptr != nullptr) {
        OPENSSL_cleanse(ptr, sizeof(Probe));
        delete static_cast<Probe*>(ptr);
    }
}

int probe_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_probe);
    return index;
}

Probe* probe_of(const SSL* ssl) {
    return static_cast<Probe*>(SSL_get_ex_data(ssl, probe_index()));
}

// Every record header OpenSSL reads or writes (SSL3_RT_HEADER), and the handshake messages:
// a Finished starts the count of its direction, a KeyUpdate restarts it under the next key.
// OpenSSL reports a record's header before the message it carries.
void on_message(int write_p, int, int content_type, const void* buf, std::size_t length, SSL*,
                void* arg) {
    auto* probe = static_cast<Probe*>(arg);
    if (probe == nullptr || length == 0) {
        return;
    }
    const bool writing = write_p != 0;
    if (content_type == SSL3_RT_HEADER) {
        if (writing && probe->write_keyed) {
            ++probe->write_records;
        } else if (!writing && probe->read_keyed) {
            ++probe->read_records;
        }
        return;
    }
    if (content_type != SSL3_RT_HANDSHAKE) {
        return;
    }
    const auto type = *static_cast<const std::uint8_t*>(buf);
    bool& keyed = writing ? probe->write_keyed : probe->read_keyed;
    std::uint64_t& records = writing ? probe->write_records : probe->read_records;
    if (type == SSL3_MT_FINISHED && !keyed) {
        keyed = true;
        records = 0;
    } else if (type == SSL3_MT_KEY_UPDATE && keyed) {
        ++(writing ? probe->write_updates : probe->read_updates);
        records = 0;
    }
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// "LABEL <client random> <secret>", NSS's key log format: keeps the two application traffic
// secrets, nothing else.
void on_keylog(const SSL* ssl, const char* line) {
    Probe* probe = probe_of(ssl);
    if (probe == nullptr) {
        return;
    }
    const std::string_view text(line);
    std::array<std::uint8_t, 48>* secret = nullptr;
    std::uint8_t* size = nullptr;
    if (text.rfind("CLIENT_TRAFFIC_SECRET_0 ", 0) == 0) {
        secret = &probe->client_secret;
        size = &probe->client_size;
    } else if (text.rfind("SERVER_TRAFFIC_SECRET_0 ", 0) == 0) {
        secret = &probe->server_secret;
        size = &probe->server_size;
    } else {
        return;
    }
    const auto last_space = text.rfind(' ');
    const std::string_view hex = text.substr(last_space + 1);
    if (hex.size() % 2 != 0 || hex.size() / 2 > secret->size()) {
        return;
    }
    for (std::size_t i = 0; i < hex.size() / 2; ++i) {
        const int high = hex_digit(hex[2 * i]);
        const int low = hex_digit(hex[2 * i + 1]);
        if (high < 0 || low < 0) {
            *size = 0;
            return;
        }
        (*secret)[i] = static_cast<std::uint8_t>(high << 4 | low);
    }
    *size = static_cast<std::uint8_t>(hex.size() / 2);
}

// KEYS from the secret _0 of its direction, after UPDATES KeyUpdates and RECORDS records.
bool keys_from(tls13::Suite suite, const std::array<std::uint8_t, 48>& secret, std::uint8_t size,
               std::uint32_t updates, std::uint64_t records, tls13::DirectionKeys& keys) {
    if (!tls13::set_secret(suite, std::span(secret.data(), size), 0, keys)) {
        return false;
    }
    for (std::uint32_t i = 0; i < updates; ++i) {
        if (!tls13::update_keys(suite, keys)) {
            return false;
        }
    }
    keys.sequence = records;
    return true;
}

Takeover never(SSL* ssl, const char* why) {
    if (probe_of(ssl) != nullptr) {
        SSL_set_msg_callback(ssl, nullptr);
        SSL_set_msg_callback_arg(ssl, nullptr);
        free_probe(nullptr, probe_of(ssl), nullptr, 0, 0, nullptr);
        SSL_set_ex_data(ssl, probe_index(), nullptr);
        counts.kept.fetch_add(1, std::memory_order_relaxed);
        log::debug("TLS connection kept on OpenSSL (no idle offload): {}", why);
    }
    Takeover result;
    result.why = why;
    return result;
}

}  // namespace

void enable_idle_offload(bool on) {
    offload_enabled.store(on, std::memory_order_relaxed);
}

bool idle_offload_enabled() {
    return offload_enabled.load(std::memory_order_relaxed);
}

void install_takeover_callbacks(SSL_CTX* ctx) {
    SSL_CTX_set_keylog_callback(ctx, &on_keylog);
}

bool watch_for_takeover(SSL* ssl) {
    auto* probe = new (std::nothrow) Probe;
    if (probe == nullptr) {
        return false;
    }
    if (SSL_set_ex_data(ssl, probe_index(), probe) != 1) {
        delete probe;
        return false;
    }
    SSL_set_msg_callback(ssl, &on_message);
    SSL_set_msg_callback_arg(ssl, probe);
    return true;
}

Takeover capture_for_takeover(SSL* ssl) {
    const Probe* probe = probe_of(ssl);
    if (probe == nullptr) {
        return {};
    }
    if (SSL_version(ssl) != TLS1_3_VERSION) {
        return never(ssl, "not TLS 1.3");
    }
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
    const auto suite =
        cipher != nullptr ? tls13::suite_of(SSL_CIPHER_get_protocol_id(cipher)) : std::nullopt;
    if (!suite) {
        return never(ssl, "cipher suite without a record layer here (CCM)");
    }
    if (SSL_get_shutdown(ssl) != 0) {
        return never(ssl, "closing");
    }
    if (SSL_get_key_update_type(ssl) == SSL_KEY_UPDATE_REQUESTED) {
        return never(ssl, "a KeyUpdate request of ours is pending");
    }
    Takeover result;
    if (SSL_is_init_finished(ssl) != 1 || SSL_has_pending(ssl) != 0 || SSL_pending(ssl) != 0 ||
        BIO_wpending(SSL_get_wbio(ssl)) != 0) {
        result.check = TakeoverCheck::not_yet;
        return result;
    }
    const std::size_t size = tls13::hash_size(*suite);
    if (!probe->read_keyed || !probe->write_keyed || probe->client_size != size ||
        probe->server_size != size) {
        return never(ssl, "the traffic secrets or record counts were not seen");
    }
    result.state.suite = *suite;
    if (!keys_from(*suite, probe->client_secret, probe->client_size, probe->read_updates,
                   probe->read_records, result.state.read) ||
        !keys_from(*suite, probe->server_secret, probe->server_size, probe->write_updates,
                   probe->write_records, result.state.write)) {
        result.state.wipe();
        return never(ssl, "cannot derive the traffic keys");
    }
    result.owe_key_update = SSL_get_key_update_type(ssl) == SSL_KEY_UPDATE_NOT_REQUESTED;
    result.check = TakeoverCheck::ready;
    return result;
}

TakeoverCounts takeover_counts() {
    return {counts.taken.load(std::memory_order_relaxed),
            counts.kept.load(std::memory_order_relaxed)};
}

void count_taken_over() {
    counts.taken.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace tierlb::worker
