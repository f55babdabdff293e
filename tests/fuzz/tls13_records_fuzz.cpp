// Fuzzes the TLS 1.3 record layer of idle offload (worker/tls13_records.*, tls13_stream.*): the
// records a worker reads from a client once OpenSSL's SSL was freed. Random bytes alone would
// never get past the AEAD tag, so the input is mostly a script: each step makes one record
// (application data, KeyUpdate, alert, any inner type with padding, a sealed record with a
// bit flipped) that the target seals itself, as the client, with the keys both ends know
// (an AES-GCM/ChaCha20 sealer of its own, not the one under test); raw bytes may be mixed
// in. The bytes go through a socket pair into a Tls13Stream, in chunks the input chooses,
// read in pieces of a size it chooses; the server may be asked to write too.
//
// Checked beyond "no crash": the plaintext read is exactly the application data sealed (up
// to the first record that ends the stream, and nothing after it); the stream ends as the
// records say (end of stream after close_notify or the socket's end, an error after an
// alert or a record that is wrong, with the alert RFC 8446 asks for sent back); every record
// the server sends opens with the keys the client tracks (its KeyUpdates answer the
// requests, its data is what it was given); the same bytes written all at once read the
// same; and, on request, the first record split at every point reads the same.

#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_assert.hpp"
#include "worker/tls13_records.hpp"
#include "worker/tls13_stream.hpp"

namespace tls13 = tierlb::worker::tls13;
namespace net = tierlb::net;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::size_t max_client_bytes = 200 * 1024;  // a socket pair's buffers hold this

// The client's own AEAD: one record sealed or opened with EVP directly.
const EVP_CIPHER* cipher_of(tls13::Suite suite) {
    switch (suite) {
        case tls13::Suite::aes_128_gcm_sha256:
            return EVP_aes_128_gcm();
        case tls13::Suite::aes_256_gcm_sha384:
            return EVP_aes_256_gcm();
        case tls13::Suite::chacha20_poly1305_sha256:
            break;
    }
    return EVP_chacha20_poly1305();
}

std::array<std::uint8_t, 12> nonce_of(const tls13::DirectionKeys& keys) {
    auto nonce = keys.iv;
    for (int i = 0; i < 8; ++i) {
        nonce[11 - i] ^= static_cast<std::uint8_t>(keys.sequence >> (8 * i));
    }
    return nonce;
}

// INNER (content, type, padding) sealed under KEYS as one record with outer type OUTER.
Bytes seal(tls13::Suite suite, tls13::DirectionKeys& keys, const Bytes& inner,
           std::uint8_t outer = 23) {
    const std::size_t body = inner.size() + tls13::tag_size;
    Bytes record = {outer, 3, 3, static_cast<std::uint8_t>(body >> 8),
                    static_cast<std::uint8_t>(body)};
    record.resize(tls13::header_size + body);
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    const auto nonce = nonce_of(keys);
    int n = 0;
    FUZZ_ASSERT(EVP_EncryptInit_ex(ctx, cipher_of(suite), nullptr, keys.key.data(),
                                   nonce.data()) == 1);
    FUZZ_ASSERT(EVP_EncryptUpdate(ctx, nullptr, &n, record.data(), 5) == 1);
    FUZZ_ASSERT(EVP_EncryptUpdate(ctx, record.data() + 5, &n, inner.data(),
                                  static_cast<int>(inner.size())) == 1);
    FUZZ_ASSERT(EVP_EncryptFinal_ex(ctx, record.data() + 5 + n, &n) == 1);
    FUZZ_ASSERT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16,
                                    record.data() + 5 + inner.size()) == 1);
    EVP_CIPHER_CTX_free(ctx);
    ++keys.sequence;
    return record;
}

// Opens RECORD (a whole one) under KEYS: the inner plaintext, or nothing if it does not
// authenticate.
std::optional<Bytes> open(tls13::Suite suite, tls13::DirectionKeys& keys, const Bytes& record) {
    if (record.size() < 5 + 16) {
        return std::nullopt;
    }
    Bytes inner(record.begin() + 5, record.end() - 16);
    Bytes tag(record.end() - 16, record.end());
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    const auto nonce = nonce_of(keys);
    int n = 0;
    bool ok = EVP_DecryptInit_ex(ctx, cipher_of(suite), nullptr, keys.key.data(), nonce.data()) ==
                  1 &&
              EVP_DecryptUpdate(ctx, nullptr, &n, record.data(), 5) == 1 &&
              EVP_DecryptUpdate(ctx, inner.data(), &n, inner.data(),
                                static_cast<int>(inner.size())) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag.data()) == 1 &&
              EVP_DecryptFinal_ex(ctx, inner.data() + n, &n) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        return std::nullopt;
    }
    ++keys.sequence;
    return inner;
}

// How the stream must end, from the records sent so far (RFC 8446 sections 5 and 6).
struct Expectation {
    enum class State { running, closed, failed, broken } state = State::running;
    Bytes plaintext;           // application data, in order
    int alert = -1;            // what the server sends back when it fails on a record
    std::string error_prefix;  // what error() starts with then
    unsigned key_updates = 0;  // KeyUpdates the server owes, in all
};

// What the server makes of INNER (a record that authenticates), as the RFC says.
void expect_record(Expectation& e, Bytes inner, tls13::DirectionKeys& client_keys,
                   tls13::Suite suite) {
    auto fail = [&](int alert, std::string why) {
        e.state = Expectation::State::failed;
        e.alert = alert;
        e.error_prefix = std::move(why);
    };
    while (!inner.empty() && inner.back() == 0) {
        inner.pop_back();
    }
    if (inner.empty()) {
        return fail(10, "unexpected message");
    }
    const std::uint8_t type = inner.back();
    inner.pop_back();
    if (inner.size() > tls13::max_plaintext) {
        return fail(22, "record overflow");
    }
    if (type == 23) {
        e.plaintext.insert(e.plaintext.end(), inner.begin(), inner.end());
    } else if (type == 21) {
        if (inner.size() != 2) {
            return fail(50, "decode error (alert)");
        }
        if (inner[1] == 0) {
            e.state = Expectation::State::closed;
        } else if (inner[1] != 90) {
            e.state = Expectation::State::failed;
            e.alert = -1;  // no alert answers an alert
            e.error_prefix = "alert " + std::to_string(inner[1]) + " from the client";
        }
    } else if (type == 22) {
        if (inner.size() < 4 || inner[0] != 24) {
            return fail(10, "unexpected message");
        }
        const std::size_t length = std::size_t{inner[1]} << 16 | std::size_t{inner[2]} << 8 |
                                   inner[3];
        if (length != 1 || inner.size() < 5) {
            return fail(50, "decode error");
        }
        if (inner.size() > 5) {
            return fail(10, "unexpected message");
        }
        if (inner[4] > 1) {
            return fail(47, "illegal parameter");
        }
        FUZZ_ASSERT(tls13::update_keys(suite, client_keys));
        e.key_updates += inner[4];
    } else {
        fail(10, "unexpected message");
    }
}

// The server's end: a Tls13Stream on one side of a socket pair, the client on the other.
struct Server {
    int client_fd = -1;
    net::PollWatch watch;
    std::optional<tierlb::worker::Tls13Stream> stream;
    Bytes plaintext;  // read so far
    std::optional<net::IoStatus> end;
    std::size_t read_size = 4096;

    Server(const tls13::TrafficState& state, bool owe_key_update) {
        int fds[2];
        FUZZ_ASSERT(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
        client_fd = fds[0];
        watch.fd = fds[1];
        watch.ready = net::readable | net::writable;
        const int size = 1 << 20;
        ::setsockopt(client_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        ::setsockopt(watch.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        stream.emplace(state, owe_key_update);
    }
    ~Server() {
        stream.reset();
        ::close(client_fd);
        ::close(watch.fd);
    }

    // Reads until the stream wants more bytes or ends.
    void read_all() {
        Bytes into(read_size);
        while (!end) {
            watch.ready |= net::readable | net::writable;  // a socket pair never loses an event
            const net::IoResult r =
                stream->read(watch, std::as_writable_bytes(std::span(into.data(), into.size())));
            if (r.status == net::IoStatus::ok) {
                FUZZ_ASSERT(r.bytes > 0 && r.bytes <= into.size());
                plaintext.insert(plaintext.end(), into.begin(),
                                 into.begin() + static_cast<long>(r.bytes));
                continue;
            }
            if (r.status == net::IoStatus::want_read) {
                return;
            }
            FUZZ_ASSERT(r.status == net::IoStatus::eof || r.status == net::IoStatus::error);
            end = r.status;
        }
    }

    // Sends BYTES from the client, CHUNK at a time, reading after each chunk.
    void send(const Bytes& bytes, std::size_t chunk) {
        for (std::size_t at = 0; at < bytes.size() && !end;) {
            const std::size_t n = std::min(chunk, bytes.size() - at);
            const ssize_t sent = ::send(client_fd, bytes.data() + at, n, MSG_NOSIGNAL);
            FUZZ_ASSERT(sent > 0);
            at += static_cast<std::size_t>(sent);
            read_all();
        }
    }

    // What the server sent, from the client's side.
    void receive(Bytes& into) const {
        std::uint8_t buffer[16384];
        ssize_t n = 0;
        while ((n = ::recv(client_fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0) {
            into.insert(into.end(), buffer, buffer + n);
        }
    }
};

// The client's reading of what the server sent: records opened with the server's write keys
// as the client tracks them.
struct ServerOutput {
    tls13::Suite suite;
    tls13::DirectionKeys keys;
    Bytes pending;
    Bytes plaintext;
    unsigned key_updates = 0;
    std::vector<std::uint8_t> alerts;  // descriptions of the alerts received

    void take(const Bytes& bytes) {
        pending.insert(pending.end(), bytes.begin(), bytes.end());
        while (pending.size() >= 5) {
            FUZZ_ASSERT(pending[0] == 23 && pending[1] == 3 && pending[2] == 3);
            const std::size_t body = std::size_t{pending[3]} << 8 | pending[4];
            if (pending.size() < 5 + body) {
                return;
            }
            const Bytes record(pending.begin(), pending.begin() + static_cast<long>(5 + body));
            pending.erase(pending.begin(), pending.begin() + static_cast<long>(5 + body));
            auto inner = open(suite, keys, record);
            FUZZ_ASSERT(inner.has_value());  // the server seals with the keys both ends know
            FUZZ_ASSERT(!inner->empty());
            const std::uint8_t type = inner->back();
            inner->pop_back();
            FUZZ_ASSERT(alerts.empty());  // nothing follows a fatal alert
            if (type == 23) {
                plaintext.insert(plaintext.end(), inner->begin(), inner->end());
            } else if (type == 22) {
                FUZZ_ASSERT((*inner == Bytes{24, 0, 0, 1, 0}));  // KeyUpdate, not requested
                FUZZ_ASSERT(tls13::update_keys(suite, keys));
                ++key_updates;
            } else {
                FUZZ_ASSERT(type == 21 && inner->size() == 2 && (*inner)[0] == 2);
                alerts.push_back((*inner)[1]);
            }
        }
    }
};

tls13::TrafficState make_state(FuzzedDataProvider& in, tls13::Suite suite) {
    tls13::TrafficState state;
    state.suite = suite;
    Bytes client_secret(tls13::hash_size(suite)), server_secret(tls13::hash_size(suite));
    for (std::size_t i = 0; i < client_secret.size(); ++i) {
        client_secret[i] = static_cast<std::uint8_t>(i * 7 + 1);
        server_secret[i] = static_cast<std::uint8_t>(i * 13 + 5);
    }
    FUZZ_ASSERT(tls13::set_secret(suite, client_secret, in.ConsumeIntegral<std::uint16_t>(),
                                  state.read));
    FUZZ_ASSERT(tls13::set_secret(suite, server_secret, in.ConsumeIntegral<std::uint16_t>(),
                                  state.write));
    return state;
}

Bytes content(FuzzedDataProvider& in, std::size_t size) {
    Bytes out = in.ConsumeBytes<std::uint8_t>(std::min<std::size_t>(size, 64));
    for (std::size_t i = out.size(); i < size; ++i) {
        out.push_back(static_cast<std::uint8_t>(i * 31 + size));
    }
    return out;
}

// One step of the script: the record (or raw bytes) the client sends next, and what the
// server must make of it. An empty result is a step that sends nothing.
Bytes next_record(FuzzedDataProvider& in, const tls13::TrafficState& state,
                  tls13::DirectionKeys& client_write, tls13::DirectionKeys& server_read_model,
                  Expectation& e) {
    const tls13::Suite suite = state.suite;
    Bytes inner;
    std::uint8_t outer = 23;
    int flip = -1;
    switch (in.ConsumeIntegralInRange(0, 6)) {
        case 0: {  // application data, maybe padded
            inner = content(in, in.ConsumeIntegralInRange<std::size_t>(0, tls13::max_plaintext));
            inner.push_back(23);
            inner.resize(inner.size() + in.ConsumeIntegralInRange(0, 3) * 64, 0);
            break;
        }
        case 1:  // KeyUpdate, update_requested or not
            inner = {24, 0, 0, 1, static_cast<std::uint8_t>(in.ConsumeIntegralInRange(0, 2)), 22};
            break;
        case 2: {  // alert: close_notify, user_canceled or another
            const std::uint8_t codes[] = {0, 90, 20, 40, 80};
            inner = {in.ConsumeIntegralInRange<std::uint8_t>(1, 2), in.PickValueInArray(codes), 21};
            break;
        }
        case 3: {  // any inner plaintext: content, type and padding of any size
            inner = content(in, in.ConsumeIntegralInRange<std::size_t>(0, 16700));
            inner.push_back(in.ConsumeIntegral<std::uint8_t>());
            inner.resize(inner.size() + in.ConsumeIntegralInRange(0, 300), 0);
            if (inner.size() + tls13::tag_size > 0xffff) {
                inner.resize(0xffff - tls13::tag_size);
            }
            break;
        }
        case 4: {  // a sealed record with one bit flipped, or a wrong outer type
            inner = content(in, in.ConsumeIntegralInRange<std::size_t>(0, 100));
            inner.push_back(23);
            if (in.ConsumeBool()) {
                outer = in.ConsumeIntegral<std::uint8_t>();
            } else {
                // A bit of the record: header, body or tag.
                flip = in.ConsumeIntegralInRange<int>(0, static_cast<int>(inner.size() + 21) * 8 - 1);
            }
            break;
        }
        case 5: {  // raw bytes
            e.state = e.state == Expectation::State::running ? Expectation::State::broken
                                                             : e.state;
            return in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(1, 64));
        }
        default:
            return {};
    }
    const tls13::DirectionKeys before = client_write;
    Bytes record = seal(suite, client_write, inner, outer);
    if (flip >= 0) {
        record[static_cast<std::size_t>(flip) / 8 % record.size()] ^=
            static_cast<std::uint8_t>(1u << (flip % 8));
    }
    if (e.state != Expectation::State::running) {
        return record;
    }
    const std::size_t body = record.size() - tls13::header_size;
    const std::size_t flipped = flip >= 0 ? static_cast<std::size_t>(flip) / 8 % record.size() : 99;
    if (record[0] != 23) {
        e.state = Expectation::State::failed;
        e.alert = 10;
        e.error_prefix = "unexpected message";
    } else if (flipped == 3 || flipped == 4) {
        e.state = Expectation::State::broken;  // another length: the framing is lost
    } else if (body > tls13::max_ciphertext) {
        e.state = Expectation::State::failed;
        e.alert = 22;
        e.error_prefix = "record overflow";
    } else if (flip >= 0) {
        e.state = Expectation::State::failed;
        e.alert = 20;
        e.error_prefix = "decryption failed or bad record mac";
    } else {
        FUZZ_ASSERT(before.sequence == server_read_model.sequence);
        ++server_read_model.sequence;
        expect_record(e, inner, server_read_model, suite);
        client_write = server_read_model;  // a KeyUpdate moved both (sequence back to 0)
    }
    return record;
}

struct Outcome {
    Bytes plaintext;
    std::optional<net::IoStatus> end;
    std::string error;
};

// The client's bytes written as fast as the socket takes them, read in 16 KB pieces.
Outcome replay(const tls13::TrafficState& state, bool owe, const Bytes& stream) {
    Server server(state, owe);
    server.read_size = 16384;
    server.send(stream, stream.size() + 1);
    ::shutdown(server.client_fd, SHUT_WR);
    server.read_all();
    return {server.plaintext, server.end, server.stream->error()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const tls13::Suite suites[] = {tls13::Suite::aes_128_gcm_sha256,
                                   tls13::Suite::aes_256_gcm_sha384,
                                   tls13::Suite::chacha20_poly1305_sha256};
    const tls13::Suite suite = in.PickValueInArray(suites);
    const bool owe_key_update = in.ConsumeBool();
    const bool split_first = in.ConsumeBool();
    const tls13::TrafficState state = make_state(in, suite);

    Server server(state, owe_key_update);
    ServerOutput output{suite, state.write, {}, {}, 0, {}};
    Expectation e;
    e.key_updates = owe_key_update ? 1 : 0;
    tls13::DirectionKeys client_write = state.read;
    tls13::DirectionKeys server_read_model = state.read;
    Bytes sent;       // every byte the client sent
    Bytes written;    // what the server was asked to write
    Bytes first;      // the first record, for the split test
    std::size_t chunk = 1 << 20;

    while (in.remaining_bytes() > 0 && sent.size() < max_client_bytes) {
        const int what = in.ConsumeIntegralInRange(0, 9);
        if (what == 7) {
            chunk = in.ConsumeIntegralInRange<std::size_t>(1, 1 << 15);
            continue;
        }
        if (what == 8) {
            server.read_size = in.ConsumeIntegralInRange<std::size_t>(1, 1 << 16);
            continue;
        }
        if (what == 9) {  // the server writes; the client must read it back
            if (server.end) {
                continue;
            }
            Bytes text = content(in, in.ConsumeIntegralInRange<std::size_t>(1, 20000));
            server.watch.ready |= net::writable;
            net::IoResult r = server.stream->write(
                server.watch, std::as_bytes(std::span(text.data(), text.size())));
            FUZZ_ASSERT(r.status == net::IoStatus::ok || r.status == net::IoStatus::error);
            if (r.status == net::IoStatus::ok) {
                FUZZ_ASSERT(r.bytes == text.size());
                written.insert(written.end(), text.begin(), text.end());
            }
            Bytes out;
            server.receive(out);
            output.take(out);
            continue;
        }
        const Expectation::State before = e.state;
        Bytes record = next_record(in, state, client_write, server_read_model, e);
        if (record.empty()) {
            continue;
        }
        if (first.empty() && before == Expectation::State::running) {
            first = record;
        }
        if (!server.end) {
            sent.insert(sent.end(), record.begin(), record.end());
            server.send(record, chunk);
        }
        Bytes out;
        server.receive(out);
        output.take(out);
        if (e.state == Expectation::State::running) {
            // Every authentic record was read: its data is all out.
            FUZZ_ASSERT(server.plaintext == e.plaintext);
            FUZZ_ASSERT(!server.end);
        }
    }
    ::shutdown(server.client_fd, SHUT_WR);
    server.read_all();
    Bytes out;
    server.receive(out);
    output.take(out);

    // What was read is what was sealed, up to the record that ended the stream.
    FUZZ_ASSERT(server.plaintext == e.plaintext);
    FUZZ_ASSERT(server.end.has_value());
    const std::string& error = server.stream->error();
    switch (e.state) {
        case Expectation::State::running:
        case Expectation::State::closed:
            FUZZ_ASSERT(*server.end == net::IoStatus::eof && error.empty());
            FUZZ_ASSERT(output.alerts.empty());
            break;
        case Expectation::State::failed:
            FUZZ_ASSERT(*server.end == net::IoStatus::error);
            FUZZ_ASSERT(error.rfind(e.error_prefix, 0) == 0);
            if (e.alert >= 0) {
                FUZZ_ASSERT(output.alerts == std::vector<std::uint8_t>{
                                                 static_cast<std::uint8_t>(e.alert)});
            } else {
                FUZZ_ASSERT(output.alerts.empty());
            }
            break;
        case Expectation::State::broken:
            FUZZ_ASSERT(output.alerts.size() <= 1);
            FUZZ_ASSERT(*server.end == net::IoStatus::eof ||
                        (*server.end == net::IoStatus::error && !error.empty()));
            break;
    }
    // The server's own records: its KeyUpdates answer the requests it read, its data is
    // what it was given, and nothing is left half-sent.
    FUZZ_ASSERT(output.pending.empty());
    if (e.state != Expectation::State::broken) {
        FUZZ_ASSERT(output.key_updates == e.key_updates);
    }
    FUZZ_ASSERT(output.plaintext == written);

    // The same bytes written at once read the same.
    const Outcome again = replay(state, owe_key_update, sent);
    FUZZ_ASSERT(again.plaintext == server.plaintext);
    FUZZ_ASSERT(again.end == server.end);
    FUZZ_ASSERT(again.error == error);

    // The first record split at every point: nothing before its last byte, then the same.
    if (split_first && !first.empty() && first.size() <= 600) {
        const Outcome whole = replay(state, owe_key_update, first);
        for (std::size_t at = 1; at < first.size(); ++at) {
            Server split(state, owe_key_update);
            split.send(Bytes(first.begin(), first.begin() + static_cast<long>(at)), at);
            FUZZ_ASSERT(split.plaintext.empty() || first[0] != 23);
            split.send(Bytes(first.begin() + static_cast<long>(at), first.end()), first.size());
            ::shutdown(split.client_fd, SHUT_WR);
            split.read_all();
            FUZZ_ASSERT(split.plaintext == whole.plaintext);
            FUZZ_ASSERT(split.end == whole.end);
            FUZZ_ASSERT(split.stream->error() == whole.error);
        }
    }
    return 0;
}
