#include "bench/tools/tls13_light.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "bench/tools/common.hpp"
#include "bench/tools/tls13_light_crypto.hpp"

namespace bench::tls13_light {

namespace {

// ServerHello.random of a HelloRetryRequest (RFC 8446 section 4.1.3): SHA-256("HelloRetryRequest").
constexpr std::array<std::uint8_t, 32> hello_retry_random{
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

void put8(Bytes& out, std::size_t value) {
    out.push_back(static_cast<std::uint8_t>(value));
}
void put16(Bytes& out, std::size_t value) {
    put8(out, value >> 8);
    put8(out, value);
}
void put24(Bytes& out, std::size_t value) {
    put8(out, value >> 16);
    put16(out, value);
}
void put(Bytes& out, std::span<const std::uint8_t> bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
}
void put(Bytes& out, std::string_view text) {
    out.insert(out.end(), text.begin(), text.end());
}
// Writes the big-endian length of what follows AT (LENGTH_SIZE bytes reserved there).
void patch_length(Bytes& out, std::size_t at, std::size_t length_size) {
    std::size_t length = out.size() - at - length_size;
    for (std::size_t i = 0; i < length_size; ++i) {
        out[at + i] = static_cast<std::uint8_t>(length >> (8 * (length_size - 1 - i)));
    }
}

// A bounds-checked reader over a received message.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}
    bool ok() const { return ok_; }
    bool empty() const { return data_.empty(); }
    std::size_t number(std::size_t size) {
        std::size_t value = 0;
        for (auto byte : bytes(size)) {
            value = value << 8 | byte;
        }
        return value;
    }
    std::span<const std::uint8_t> bytes(std::size_t size) {
        if (!ok_ || size > data_.size()) {
            ok_ = false;
            return {};
        }
        auto taken = data_.first(size);
        data_ = data_.subspan(size);
        return taken;
    }
    std::span<const std::uint8_t> vector(std::size_t length_size) {
        return bytes(number(length_size));
    }

private:
    std::span<const std::uint8_t> data_;
    bool ok_ = true;
};

// The length of the whole handshake message at the front of DATA, or 0 if incomplete.
std::size_t whole_message(const Bytes& data) {
    if (data.size() < 4) {
        return 0;
    }
    std::size_t length = 4 + (std::size_t{data[1]} << 16 | std::size_t{data[2]} << 8 | data[3]);
    return data.size() >= length ? length : 0;
}

}  // namespace

struct Connection::Secrets {
    std::size_t suite = 0;  // index in `suites`
    EVP_MD_CTX* transcript = nullptr;
    std::array<std::uint8_t, max_hash> handshake_secret{};
    std::array<std::uint8_t, max_hash> client_handshake{};
    std::array<std::uint8_t, max_hash> server_handshake{};
    Keys read, write;

    std::size_t hash_size() const { return suites[suite].hash_size; }
    std::span<const std::uint8_t> secret(const std::array<std::uint8_t, max_hash>& s) const {
        return {s.data(), hash_size()};
    }
    // The transcript hash so far, into OUT (hash_size() bytes).
    bool transcript_hash(std::uint8_t* out) const {
        EVP_MD_CTX* copy = crypto().snapshot;
        unsigned length = 0;
        return EVP_MD_CTX_copy_ex(copy, transcript) == 1 &&
               EVP_DigestFinal_ex(copy, out, &length) == 1;
    }
    bool add(std::span<const std::uint8_t> message) {
        return EVP_DigestUpdate(transcript, message.data(), message.size()) == 1;
    }
    // The record key and IV of a traffic SECRET.
    bool set_keys(std::span<const std::uint8_t> traffic, Keys& keys) const {
        keys.sequence = 0;
        return expand_label(hmac_of(suite), traffic, "key", {},
                            {keys.key.data(), suites[suite].key_size}) &&
               expand_label(hmac_of(suite), traffic, "iv", {}, keys.iv);
    }
    ~Secrets() {
        EVP_MD_CTX_free(transcript);
        OPENSSL_cleanse(handshake_secret.data(), handshake_secret.size());
        OPENSSL_cleanse(client_handshake.data(), client_handshake.size());
        OPENSSL_cleanse(server_handshake.data(), server_handshake.size());
    }
};

Connection::Connection(const Light_options& options) : options_(options) {}

Connection::~Connection() = default;

bool Connection::fail(std::string reason) {
    state_ = State::failed;
    if (error_.empty()) {
        error_ = std::move(reason);
    }
    return false;
}

bool Connection::start(Bytes& out) {
    Thread_crypto& thread = crypto();
    if (!thread.ok) {
        return fail("OpenSSL lacks X25519, HMAC or AES-GCM");
    }
    Bytes& hello = client_hello_;
    hello.clear();
    put8(hello, 1);  // client_hello
    put24(hello, 0);
    put16(hello, 0x0303);
    std::array<std::uint8_t, 32> random{};
    if (RAND_bytes(random.data(), random.size()) != 1) {
        return fail("RAND_bytes failed");
    }
    put(hello, random);
    put8(hello, 0);  // no legacy session id
    put16(hello, 2 * suites.size());
    for (const auto& suite : suites) {
        put16(hello, suite.id);
    }
    put8(hello, 1);  // compression methods: null only
    put8(hello, 0);
    std::size_t extensions = hello.size();
    put16(hello, 0);
    if (!options_.sni.empty()) {
        put16(hello, 0x0000);  // server_name: one host_name
        put16(hello, options_.sni.size() + 5);
        put16(hello, options_.sni.size() + 3);
        put8(hello, 0);
        put16(hello, options_.sni.size());
        put(hello, options_.sni);
    }
    put16(hello, 0x000a);  // supported_groups: x25519
    put16(hello, 4);
    put16(hello, 2);
    put16(hello, 0x001d);
    // signature_algorithms: ECDSA P-256/384/521, RSA-PSS, Ed25519, RSA PKCS#1 (certificates)
    constexpr std::uint16_t signatures[] = {0x0403, 0x0503, 0x0603, 0x0807, 0x0804,
                                            0x0805, 0x0806, 0x0401, 0x0501, 0x0601};
    put16(hello, 0x000d);
    put16(hello, 2 + 2 * std::size(signatures));
    put16(hello, 2 * std::size(signatures));
    for (auto scheme : signatures) {
        put16(hello, scheme);
    }
    if (!options_.alpn.empty()) {
        put16(hello, 0x0010);
        put16(hello, options_.alpn.size() + 2);
        put16(hello, options_.alpn.size());
        put(hello, options_.alpn);
    }
    put16(hello, 0x002b);  // supported_versions: TLS 1.3 only
    put16(hello, 3);
    put8(hello, 2);
    put16(hello, 0x0304);
    // psk_key_exchange_modes (psk_dhe_ke), as OpenSSL's client sends: without it a server
    // sends no session tickets, and their cost belongs to what a server does per handshake.
    put16(hello, 0x002d);
    put16(hello, 2);
    put8(hello, 1);
    put8(hello, 1);
    put16(hello, 0x0033);  // key_share: one X25519 share
    put16(hello, 2 + 4 + thread.public_key.size());
    put16(hello, 4 + thread.public_key.size());
    put16(hello, 0x001d);
    put16(hello, thread.public_key.size());
    put(hello, thread.public_key);
    patch_length(hello, extensions, 2);
    patch_length(hello, 1, 3);

    put8(out, type_handshake);
    put16(out, 0x0301);
    put16(out, hello.size());
    put(out, hello);
    return true;
}

bool Connection::receive(std::span<const std::uint8_t> data, Bytes& out, Bytes& app) {
    if (state_ == State::failed || peer_closed_) {
        return false;
    }
    pending_.insert(pending_.end(), data.begin(), data.end());
    std::size_t at = 0;
    bool ok = true;
    while (ok && pending_.size() - at >= header_size) {
        std::size_t length = std::size_t{pending_[at + 3]} << 8 | pending_[at + 4];
        if (length > max_ciphertext) {
            ok = fail("record longer than TLS allows");
            break;
        }
        if (pending_.size() - at < header_size + length) {
            break;
        }
        std::span<std::uint8_t> record(pending_.data() + at, header_size + length);
        ok = on_record(record[0], record, out, app);
        at += record.size();
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(at));
    return ok;
}

bool Connection::on_record(std::uint8_t type, std::span<std::uint8_t> record, Bytes& out,
                           Bytes& app) {
    auto body = record.subspan(header_size);
    if (type == type_alert && body.size() == 2) {
        return fail("alert " + std::to_string(body[1]) + " in the clear");
    }
    if (state_ == State::server_hello) {
        if (type != type_handshake) {
            return fail("record type " + std::to_string(type) + " before the ServerHello");
        }
        messages_.insert(messages_.end(), body.begin(), body.end());
        std::size_t length = whole_message(messages_);
        if (length == 0) {
            return true;
        }
        // Handshake messages may not straddle a key change: nothing may follow in the clear.
        if (length != messages_.size()) {
            return fail("data after the ServerHello in the clear");
        }
        bool ok = on_server_hello(messages_);
        messages_.clear();
        return ok;
    }
    if (type == type_change_cipher_spec && state_ == State::encrypted_handshake) {
        return true;  // the middlebox-compatibility record: nothing to do
    }
    if (type != type_application_data) {
        return fail("record type " + std::to_string(type) + " after the ServerHello");
    }
    std::span<std::uint8_t> plaintext;
    std::uint8_t inner = 0;
    if (!open_record(secrets_->suite, secrets_->read, record, plaintext, inner)) {
        return fail("a record failed to decrypt");
    }
    if (inner == type_alert) {
        if (plaintext.size() == 2 && plaintext[1] == 0) {
            peer_closed_ = true;
            error_ = "close_notify";
            return false;
        }
        return fail("alert " + std::to_string(plaintext.size() == 2 ? plaintext[1] : 0));
    }
    if (inner == type_application_data) {
        if (state_ != State::established) {
            return fail("application data before the handshake completed");
        }
        app.insert(app.end(), plaintext.begin(), plaintext.end());
        return true;
    }
    if (inner != type_handshake) {
        return fail("inner record type " + std::to_string(inner));
    }
    messages_.insert(messages_.end(), plaintext.begin(), plaintext.end());
    std::size_t length = 0;
    while ((length = whole_message(messages_)) != 0) {
        Bytes message(messages_.begin(), messages_.begin() + static_cast<std::ptrdiff_t>(length));
        messages_.erase(messages_.begin(), messages_.begin() + static_cast<std::ptrdiff_t>(length));
        if (!on_handshake_message(message, out)) {
            return false;
        }
    }
    return true;
}

bool Connection::on_server_hello(std::span<const std::uint8_t> message) {
    Reader reader(message);
    if (reader.number(1) != 2) {
        return fail("expected a ServerHello");
    }
    reader.number(3);
    std::size_t version = reader.number(2);
    auto random = reader.bytes(32);
    reader.vector(1);  // legacy_session_id_echo
    std::size_t suite_id = reader.number(2);
    reader.number(1);  // legacy_compression_method
    Reader extensions(reader.vector(2));
    if (!reader.ok() || version != 0x0303) {
        return fail("malformed ServerHello");
    }
    if (std::equal(random.begin(), random.end(), hello_retry_random.begin())) {
        return fail("HelloRetryRequest: the server refused the X25519 share");
    }
    auto suite = std::find_if(suites.begin(), suites.end(),
                              [&](const Suite_info& s) { return s.id == suite_id; });
    if (suite == suites.end()) {
        return fail("the server chose a suite that was not offered");
    }
    bool tls13 = false;
    std::span<const std::uint8_t> share;
    while (extensions.ok() && !extensions.empty()) {
        std::size_t type = extensions.number(2);
        Reader extension(extensions.vector(2));
        if (type == 0x002b) {
            tls13 = extension.number(2) == 0x0304;
        } else if (type == 0x0033 && extension.number(2) == 0x001d) {
            share = extension.vector(2);
        }
    }
    if (!extensions.ok() || !tls13) {
        return fail("the server did not choose TLS 1.3");
    }
    if (share.size() != 32) {
        return fail("no X25519 key share in the ServerHello");
    }

    Thread_crypto& thread = crypto();
    secrets_ = std::make_unique<Secrets>();
    Secrets& s = *secrets_;
    s.suite = static_cast<std::size_t>(suite - suites.begin());
    suite_ = suite->id;
    s.transcript = EVP_MD_CTX_new();
    if (s.transcript == nullptr ||
        EVP_DigestInit_ex2(s.transcript, thread.digest[s.suite], nullptr) != 1 ||
        !s.add(client_hello_) || !s.add(message)) {
        return fail("transcript hash failed");
    }
    client_hello_.clear();

    std::array<std::uint8_t, 32> shared{};
    std::size_t shared_size = shared.size();
    EVP_PKEY* peer =
        EVP_PKEY_new_raw_public_key_ex(nullptr, "X25519", nullptr, share.data(), share.size());
    bool derived = peer != nullptr && EVP_PKEY_derive_init(thread.exchange) == 1 &&
                   EVP_PKEY_derive_set_peer(thread.exchange, peer) == 1 &&
                   EVP_PKEY_derive(thread.exchange, shared.data(), &shared_size) == 1 &&
                   shared_size == shared.size();
    EVP_PKEY_free(peer);
    if (!derived) {
        return fail("X25519 failed on the server's share");
    }
    const std::size_t size = s.hash_size();
    std::uint8_t hello_hash[max_hash];
    bool ok = hmac(hmac_of(s.suite), {thread.early_derived[s.suite].data(), size}, {shared},
                   s.handshake_secret.data()) &&
              s.transcript_hash(hello_hash) &&
              expand_label(hmac_of(s.suite), s.secret(s.handshake_secret), "c hs traffic",
                           {hello_hash, size}, {s.client_handshake.data(), size}) &&
              expand_label(hmac_of(s.suite), s.secret(s.handshake_secret), "s hs traffic",
                           {hello_hash, size}, {s.server_handshake.data(), size}) &&
              s.set_keys(s.secret(s.client_handshake), s.write) &&
              s.set_keys(s.secret(s.server_handshake), s.read);
    OPENSSL_cleanse(shared.data(), shared.size());
    if (!ok) {
        return fail("handshake key derivation failed");
    }
    state_ = State::encrypted_handshake;
    return true;
}

bool Connection::on_handshake_message(std::span<const std::uint8_t> message, Bytes& out) {
    const std::uint8_t type = message[0];
    if (state_ == State::established) {
        // After the handshake: session tickets (kept by nobody here). A KeyUpdate would change
        // the server's keys, which this client does not follow; servers do not send one unasked.
        if (type == 24) {
            return fail("KeyUpdate is not supported by the light client");
        }
        return type == 4
                   ? true
                   : fail("handshake message " + std::to_string(type) + " after the handshake");
    }
    Secrets& s = *secrets_;
    switch (type) {
        case 8: {  // EncryptedExtensions: only ALPN's choice is read
            Reader reader(message.subspan(4));
            Reader extensions(reader.vector(2));
            while (extensions.ok() && !extensions.empty()) {
                std::size_t extension = extensions.number(2);
                Reader body(extensions.vector(2));
                if (extension == 0x0010) {
                    Reader names(body.vector(2));
                    auto name = names.vector(1);
                    alpn_.assign(name.begin(), name.end());
                }
            }
            if (!extensions.ok()) {
                return fail("malformed EncryptedExtensions");
            }
            break;
        }
        case 11:  // Certificate: hashed, never decoded (see the header)
        case 15:  // CertificateVerify: hashed, its signature not checked
            break;
        case 13:
            return fail("the server asked for a client certificate");
        case 20:
            return finish_handshake(message, out);
        default:
            return fail("unexpected handshake message " + std::to_string(type));
    }
    return s.add(message) ? true : fail("transcript hash failed");
}

bool Connection::finish_handshake(std::span<const std::uint8_t> server_finished, Bytes& out) {
    Secrets& s = *secrets_;
    const std::size_t size = s.hash_size();
    std::uint8_t hash[max_hash];
    std::uint8_t finished_key[max_hash];
    std::uint8_t expected[max_hash];
    if (!s.transcript_hash(hash) ||
        !expand_label(hmac_of(s.suite), s.secret(s.server_handshake), "finished", {},
                      {finished_key, size}) ||
        !hmac(hmac_of(s.suite), {finished_key, size}, {{hash, size}}, expected)) {
        return fail("Finished computation failed");
    }
    if (server_finished.size() != 4 + size ||
        CRYPTO_memcmp(server_finished.data() + 4, expected, size) != 0) {
        return fail("the server's Finished does not verify");
    }
    if (!messages_.empty()) {
        return fail("handshake data after the server's Finished");
    }
    // Application secrets from the transcript through the server's Finished.
    const std::array<std::uint8_t, max_hash> zeros{};
    std::uint8_t derived[max_hash];
    std::uint8_t master[max_hash];
    std::uint8_t client_traffic[max_hash];
    std::uint8_t server_traffic[max_hash];
    Bytes finished;
    bool ok = s.add(server_finished) && s.transcript_hash(hash) &&
              expand_label(hmac_of(s.suite), s.secret(s.handshake_secret), "derived",
                           {crypto().empty_hash[s.suite].data(), size}, {derived, size}) &&
              hmac(hmac_of(s.suite), {derived, size}, {{zeros.data(), size}}, master) &&
              expand_label(hmac_of(s.suite), {master, size}, "c ap traffic", {hash, size},
                           {client_traffic, size}) &&
              expand_label(hmac_of(s.suite), {master, size}, "s ap traffic", {hash, size},
                           {server_traffic, size}) &&
              expand_label(hmac_of(s.suite), s.secret(s.client_handshake), "finished", {},
                           {finished_key, size});
    if (ok) {
        put8(finished, 20);
        put24(finished, size);
        finished.resize(4 + size);
        ok = hmac(hmac_of(s.suite), {finished_key, size}, {{hash, size}}, finished.data() + 4) &&
             seal_record(s.suite, s.write, type_handshake, finished, out) &&
             s.set_keys({client_traffic, size}, s.write) &&
             s.set_keys({server_traffic, size}, s.read);
    }
    OPENSSL_cleanse(master, sizeof master);
    OPENSSL_cleanse(client_traffic, sizeof client_traffic);
    OPENSSL_cleanse(server_traffic, sizeof server_traffic);
    if (!ok) {
        return fail("application key derivation failed");
    }
    state_ = State::established;
    return true;
}

bool Connection::send(std::span<const std::uint8_t> data, Bytes& out) {
    if (state_ != State::established) {
        return fail("send before the handshake completed");
    }
    while (!data.empty()) {
        auto chunk = data.first(std::min(data.size(), max_plaintext));
        if (!seal_record(secrets_->suite, secrets_->write, type_application_data, chunk, out)) {
            return fail("sealing failed");
        }
        data = data.subspan(chunk.size());
    }
    return true;
}

bool Connection::close_notify(Bytes& out) {
    if (state_ != State::established) {
        return false;
    }
    const std::uint8_t alert[] = {1, 0};  // warning, close_notify
    return seal_record(secrets_->suite, secrets_->write, type_alert, alert, out);
}

std::string Connection::describe() const {
    Json_line json;
    json.add("version", "TLSv1.3");
    auto suite = std::find_if(suites.begin(), suites.end(),
                              [&](const Suite_info& s) { return s.id == suite_; });
    json.add("cipher", suite != suites.end() ? suite->name : "");
    json.add("alpn", alpn_);
    json.add("group", "x25519");
    json.add("client", "light");
    return json.str();
}

}  // namespace bench::tls13_light
