// Idle offload against OpenSSL as the client, in one process over a socket pair: the server
// end (TlsEnd) is a real bind's SSL until the handshake ends, then takes the record layer
// over. Any error in the captured state (keys, IVs, sequence numbers) fails the first record
// either way with bad_record_mac.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "config/load.hpp"
#include "tls_fixture.hpp"
#include "worker/tls13_records.hpp"
#include "worker/tls_end.hpp"
#include "worker/tls_takeover.hpp"

namespace net = tierlb::net;
namespace tls13 = tierlb::worker::tls13;
using tierlb::worker::BindTls;
using tierlb::worker::TlsEnd;

namespace {

constexpr int max_rounds = 20000;  // every exchange loop is bounded by this

struct Server {
    tls_fixture::Certificate cert{"offload.test"};
    tierlb::worker::TicketKeys tickets;
    std::optional<tls_fixture::BoundTls> bound;  // the bind's contexts refer to its config
    BindTls* tls = nullptr;

    explicit Server(const std::string& options = {}) {
        tickets.set(tierlb::worker::TicketKeys::generate());
        bound.emplace(cert, options, &tickets);
        tls = bound->tls.get();
    }
};

// The client's secrets, from its own key log: to forge records a real client could send.
struct ClientSecrets {
    std::string client_traffic;  // hex
};

int secrets_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

SSL_CTX* client_context(const std::string& suites, int max_version = TLS1_3_VERSION) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx, max_version);
    if (!suites.empty()) {
        REQUIRE(SSL_CTX_set_ciphersuites(ctx, suites.c_str()) == 1);
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* session) {
        // Keep the latest ticket's session on the SSL: resumption tests use it.
        SSL_SESSION* old = static_cast<SSL_SESSION*>(SSL_get_app_data(ssl));
        SSL_SESSION_free(old);
        SSL_set_app_data(ssl, session);
        return 1;
    });
    SSL_CTX_set_keylog_callback(ctx, [](const SSL* ssl, const char* line) {
        const std::string text(line);
        if (text.rfind("CLIENT_TRAFFIC_SECRET_0 ", 0) == 0) {
            auto* secrets = static_cast<ClientSecrets*>(SSL_get_ex_data(ssl, secrets_index()));
            if (secrets != nullptr) {
                secrets->client_traffic = text.substr(text.rfind(' ') + 1);
            }
        }
    });
    return ctx;
}

// One connection: OpenSSL client on one end of a socket pair, the server's TlsEnd on the
// other (not in a poller: the tests say the socket is ready before each call).
struct Connection {
    SSL_CTX* cctx;
    SSL* client;
    TlsEnd end;
    int client_fd = -1;
    ClientSecrets secrets;
    int key_updates_received = 0;  // by the client: the server's answers to update_requested

    Connection(Server& server, const std::string& suites, SSL_SESSION* resume = nullptr,
               int max_version = TLS1_3_VERSION)
        : cctx(client_context(suites, max_version)), client(SSL_new(cctx)) {
        SSL_set_ex_data(client, secrets_index(), &secrets);
        SSL_set_msg_callback(client, [](int write_p, int, int type, const void* buf,
                                        std::size_t length, SSL*, void* arg) {
            if (write_p == 0 && type == SSL3_RT_HANDSHAKE && length > 0 &&
                *static_cast<const std::uint8_t*>(buf) == SSL3_MT_KEY_UPDATE) {
                ++*static_cast<int*>(arg);
            }
        });
        SSL_set_msg_callback_arg(client, &key_updates_received);
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
        client_fd = sv[0];
        SSL_set_fd(client, sv[0]);
        SSL_set_connect_state(client);
        if (resume != nullptr) {
            SSL_set_session(client, resume);
        }
        end.watch().fd = sv[1];
        end.begin(server.tls->new_connection());
    }
    ~Connection() {
        SSL_shutdown(client);  // without close_notify, OpenSSL would not resume its session
        SSL_SESSION_free(static_cast<SSL_SESSION*>(SSL_get_app_data(client)));
        SSL_free(client);
        SSL_CTX_free(cctx);
        ::close(client_fd);
    }

    void ready() { end.watch().ready = net::readable | net::writable; }

    bool handshake() {
        bool client_done = false;
        bool server_done = false;
        for (int i = 0; i < max_rounds && !(client_done && server_done); ++i) {
            client_done = client_done || SSL_do_handshake(client) == 1;
            ready();
            server_done = server_done || end.handshake().status == net::IoStatus::ok;
        }
        return client_done && server_done;
    }

    // The server end's reads until it has WANT bytes (or an end or error), the client
    // sending TO_SERVER and reading what the server writes meanwhile.
    struct Result {
        std::string by_server, by_client;
        net::IoStatus server_read = net::IoStatus::ok;
        std::string server_error;
        int client_error = SSL_ERROR_NONE;
    };
    Result exchange(const std::string& to_server, const std::string& to_client,
                    std::size_t want_by_server, std::size_t want_by_client) {
        Result r;
        std::size_t sent = 0;
        std::size_t written = 0;
        std::string buffer(net::BufferPool::buffer_size, '\0');
        bool server_reads = true;
        bool client_reads = true;
        for (int i = 0; i < max_rounds; ++i) {
            if (sent < to_server.size()) {
                std::size_t n = 0;
                if (SSL_write_ex(client, to_server.data() + sent, to_server.size() - sent, &n)) {
                    sent += n;
                }
            }
            if (written < to_client.size()) {
                ready();
                const auto w = end.write(std::as_bytes(std::span(to_client).subspan(written)));
                if (w.status == net::IoStatus::ok) {
                    written += w.bytes;
                }
            }
            if (server_reads) {
                ready();
                const auto got = end.read(std::as_writable_bytes(std::span(buffer)));
                if (got.status == net::IoStatus::ok) {
                    r.by_server.append(buffer, 0, got.bytes);
                } else if (got.status == net::IoStatus::eof || got.status == net::IoStatus::error) {
                    r.server_read = got.status;
                    r.server_error = end.describe(got);
                    server_reads = false;
                }
            }
            if (client_reads) {
                std::size_t n = 0;
                ERR_clear_error();
                const int ok = SSL_read_ex(client, buffer.data(), buffer.size(), &n);
                if (ok == 1) {
                    r.by_client.append(buffer, 0, n);
                } else {
                    const int e = SSL_get_error(client, 0);
                    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                        r.client_error = e;
                        client_reads = false;
                    }
                }
            }
            const bool server_has = r.by_server.size() >= want_by_server || !server_reads;
            const bool client_has = r.by_client.size() >= want_by_client || !client_reads;
            if (server_has && client_has && sent == to_server.size() &&
                written == to_client.size()) {
                break;
            }
        }
        return r;
    }

    // Bytes the client's SSL would send, captured instead of sent (to cut or corrupt them).
    std::string capture_client_writes(const std::function<void()>& writes) {
        BIO* memory = BIO_new(BIO_s_mem());
        BIO* socket = SSL_get_wbio(client);
        BIO_up_ref(socket);
        SSL_set0_wbio(client, memory);
        writes();
        char* data = nullptr;
        const long n = BIO_get_mem_data(memory, &data);
        std::string bytes(data, static_cast<std::size_t>(n));
        SSL_set0_wbio(client, socket);
        return bytes;
    }

    void send_raw(const std::string& bytes) {
        REQUIRE(::send(client_fd, bytes.data(), bytes.size(), 0) ==
                static_cast<ssize_t>(bytes.size()));
    }
};

// SSL_write_ex, all of it (the client's socket has room for these small writes).
bool client_write(SSL* client, const std::string& text) {
    std::size_t n = 0;
    return SSL_write_ex(client, text.data(), text.size(), &n) == 1 && n == text.size();
}

std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>((i * 131 + seed) % 251);
    }
    return s;
}

}  // namespace

TEST_CASE("offload: every AEAD suite, data both ways across record boundaries",
          "[worker][offload]") {
    Server server;
    for (const char* suite :
         {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
        INFO(suite);
        Connection c(server, suite);
        REQUIRE(c.handshake());
        const auto before = tierlb::worker::takeover_counts().taken;
        REQUIRE(c.end.take_over());
        CHECK(c.end.ssl() == nullptr);
        CHECK(tierlb::worker::takeover_counts().taken == before + 1);

        const std::string up = pattern(200'000, 1);
        const std::string down = pattern(150'001, 2);
        const auto r = c.exchange(up, down, up.size(), down.size());
        CHECK(r.server_read == net::IoStatus::ok);
        CHECK(r.by_server == up);
        CHECK(r.by_client == down);
        // The tickets OpenSSL sent before the takeover reached the client.
        CHECK(SSL_get_app_data(c.client) != nullptr);
    }
}

TEST_CASE("offload: records OpenSSL read before the takeover are counted", "[worker][offload]") {
    Server server;
    Connection c(server, "TLS_AES_128_GCM_SHA256");
    REQUIRE(c.handshake());
    // The client talks first; OpenSSL reads it (three records); the read that would block
    // takes the connection over (as the tunnel's reads do).
    const std::string first = pattern(40'000, 3);
    const auto r1 = c.exchange(first, "", first.size(), 0);
    REQUIRE(r1.by_server == first);
    c.ready();
    std::string buffer(64, '\0');
    CHECK(c.end.read(std::as_writable_bytes(std::span(buffer))).status == net::IoStatus::want_read);
    REQUIRE(c.end.taken_over());
    const auto r2 = c.exchange("after", "answer", 5, 6);
    CHECK(r2.by_server == "after");
    CHECK(r2.by_client == "answer");
}

TEST_CASE("offload: not while OpenSSL holds a record half written; then by the write",
          "[worker][offload]") {
    Server server;
    Connection c(server, "TLS_AES_128_GCM_SHA256");
    REQUIRE(c.handshake());
    // The server writes until the socket is full: OpenSSL keeps the rest of a record.
    const std::string down = pattern(4'000'000, 5);
    std::size_t written = 0;
    net::IoResult w;
    for (int i = 0; i < max_rounds; ++i) {
        c.ready();
        w = c.end.write(std::as_bytes(std::span(down).subspan(written)));
        if (w.status != net::IoStatus::ok) {
            break;
        }
        written += w.bytes;
    }
    REQUIRE(w.status == net::IoStatus::want_write);
    // An idle read now must not take over: those bytes would be lost.
    c.ready();
    std::string buffer(64, '\0');
    REQUIRE(c.end.read(std::as_writable_bytes(std::span(buffer))).status ==
            net::IoStatus::want_read);
    CHECK_FALSE(c.end.taken_over());
    // The client reads, OpenSSL finishes its record, and that write takes over (reads wait).
    const auto r = c.exchange("", down.substr(written), 0, down.size());
    CHECK(c.end.taken_over());
    CHECK(r.by_client == down);
    CHECK(c.exchange("up", "", 2, 0).by_server == "up");
}

TEST_CASE("offload: KeyUpdate from the client, with and without update_requested",
          "[worker][offload]") {
    Server server;
    const int type = GENERATE(SSL_KEY_UPDATE_NOT_REQUESTED, SSL_KEY_UPDATE_REQUESTED);
    INFO("update type " << type);
    SECTION("after the takeover") {
        Connection c(server, "TLS_AES_256_GCM_SHA384");
        REQUIRE(c.handshake());
        REQUIRE(c.end.take_over());
        REQUIRE(c.exchange("one", "two", 3, 3).by_client == "two");
        for (int round = 0; round < 3; ++round) {
            REQUIRE(SSL_key_update(c.client, type) == 1);
            const std::string up = pattern(30'000, round);
            const std::string down = pattern(20'000, round + 7);
            const auto r = c.exchange(up, down, up.size(), down.size());
            CHECK(r.by_server == up);
            CHECK(r.by_client == down);
            CHECK(r.client_error == SSL_ERROR_NONE);
        }
        // Ours answers each request, and only a request (the last one read with this).
        REQUIRE(c.exchange("x", "y", 1, 1).by_client == "y");
        CHECK(c.key_updates_received == (type == SSL_KEY_UPDATE_REQUESTED ? 3 : 0));
    }
    SECTION("before the takeover: OpenSSL's updates are followed") {
        Connection c(server, "TLS_CHACHA20_POLY1305_SHA256");
        REQUIRE(c.handshake());
        REQUIRE(SSL_key_update(c.client, type) == 1);
        // OpenSSL reads the KeyUpdate and the data (and answers a request), then the
        // read that would block takes over.
        const auto r1 = c.exchange("before", "", 6, 0);
        REQUIRE(r1.by_server == "before");
        c.ready();
        std::string buffer(64, '\0');
        c.end.read(std::as_writable_bytes(std::span(buffer)));
        REQUIRE(c.end.taken_over());
        const auto r2 = c.exchange("after", "reply", 5, 5);
        CHECK(r2.by_server == "after");
        CHECK(r2.by_client == "reply");
        CHECK(c.key_updates_received == (type == SSL_KEY_UPDATE_REQUESTED ? 1 : 0));
    }
}

TEST_CASE("offload: close_notify both ways", "[worker][offload]") {
    Server server;
    SECTION("from the client: the server reads the end") {
        Connection c(server, "TLS_AES_128_GCM_SHA256");
        REQUIRE(c.handshake());
        REQUIRE(c.end.take_over());
        REQUIRE(client_write(c.client, "last"));
        SSL_shutdown(c.client);
        const auto r = c.exchange("", "", 5, 0);  // until the end, not just the 4 bytes
        CHECK(r.by_server == "last");
        CHECK(r.server_read == net::IoStatus::eof);
    }
    SECTION("from the server: the client reads close_notify, and can still send") {
        Connection c(server, "TLS_AES_128_GCM_SHA256");
        REQUIRE(c.handshake());
        REQUIRE(c.end.take_over());
        REQUIRE(c.exchange("", "bye", 0, 3).by_client == "bye");
        c.end.shutdown_write();
        const auto r = c.exchange("still here", "", 10, 1);
        CHECK(r.client_error == SSL_ERROR_ZERO_RETURN);
        CHECK(r.by_server == "still here");
    }
}

TEST_CASE("offload: a corrupt or foreign record is an error, and the client is told",
          "[worker][offload]") {
    Server server;
    Connection c(server, "TLS_AES_128_GCM_SHA256");
    REQUIRE(c.handshake());
    REQUIRE(c.end.take_over());
    SECTION("a flipped bit: bad_record_mac") {
        std::string record =
            c.capture_client_writes([&] { REQUIRE(client_write(c.client, "hello")); });
        REQUIRE(record.size() == 5 + 5 + 1 + 16);
        record[8] = static_cast<char>(record[8] ^ 0x10);
        c.send_raw(record);
        const auto r = c.exchange("", "", 1, 1);
        CHECK(r.server_read == net::IoStatus::error);
        CHECK(r.server_error == "decryption failed or bad record mac");
        CHECK(r.client_error == SSL_ERROR_SSL);  // the alert reached it
    }
    SECTION("plain text instead of records: unexpected_message") {
        c.send_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        const auto r = c.exchange("", "", 1, 1);
        CHECK(r.server_read == net::IoStatus::error);
        CHECK(r.server_error.find("unexpected message") == 0);
    }
    // A record forged with the client's own key (its first record since the handshake).
    auto forge = [&](tls13::ContentType type, const std::vector<std::uint8_t>& content) {
        tls13::DirectionKeys keys;
        std::vector<std::uint8_t> secret;
        for (std::size_t i = 0; i + 1 < c.secrets.client_traffic.size(); i += 2) {
            secret.push_back(static_cast<std::uint8_t>(
                std::stoi(c.secrets.client_traffic.substr(i, 2), nullptr, 16)));
        }
        REQUIRE(tls13::set_secret(tls13::Suite::aes_128_gcm_sha256, secret, 0, keys));
        tls13::Aead aead(tls13::Suite::aes_128_gcm_sha256, keys, true);
        std::vector<std::uint8_t> out(100);
        const std::size_t n = aead.seal(keys, type, content, out);
        return std::string(out.begin(), out.begin() + static_cast<long>(n));
    };
    SECTION("a NewSessionTicket from the client: unexpected_message") {
        c.send_raw(forge(tls13::ContentType::handshake, {4, 0, 0, 5, 0, 0, 0, 0, 0}));
        const auto r = c.exchange("", "", 1, 1);
        CHECK(r.server_read == net::IoStatus::error);
        CHECK(r.server_error.find("unexpected message") == 0);
        CHECK(r.client_error == SSL_ERROR_SSL);
    }
    SECTION("an alert record that is not two bytes: decode_error, and the client is told") {
        // Found by the tls13_records fuzz target: the stream ended without an alert, where
        // OpenSSL (and RFC 8446 section 6) answers a malformed alert with decode_error.
        c.send_raw(forge(tls13::ContentType::alert, {1, 0, 0}));
        const auto r = c.exchange("", "", 1, 1);
        CHECK(r.server_read == net::IoStatus::error);
        CHECK(r.server_error.find("decode error (alert)") == 0);
        CHECK(r.client_error == SSL_ERROR_SSL);
    }
}

TEST_CASE("offload: records split at every byte boundary", "[worker][offload]") {
    Server server;
    Connection c(server, "TLS_AES_128_GCM_SHA256");
    REQUIRE(c.handshake());
    REQUIRE(c.end.take_over());
    // Records of 30 bytes of data: 52 bytes each; record I is cut after byte I + 1.
    constexpr std::size_t record_size = 30 + 5 + 1 + 16;
    std::string expected;
    std::string buffer(net::BufferPool::buffer_size, '\0');
    for (std::size_t cut = 1; cut < record_size; ++cut) {
        const std::string text = pattern(30, static_cast<unsigned>(cut));
        const std::string record =
            c.capture_client_writes([&] { REQUIRE(client_write(c.client, text)); });
        REQUIRE(record.size() == record_size);
        c.send_raw(record.substr(0, cut));
        c.ready();
        CHECK(c.end.read(std::as_writable_bytes(std::span(buffer))).status ==
              net::IoStatus::want_read);
        c.send_raw(record.substr(cut));
        c.ready();
        const auto got = c.end.read(std::as_writable_bytes(std::span(buffer)));
        REQUIRE(got.status == net::IoStatus::ok);
        CHECK(buffer.substr(0, got.bytes) == text);
    }
    // A KeyUpdate and a record after it, one byte at a time.
    const std::string bytes = c.capture_client_writes([&] {
        SSL_key_update(c.client, SSL_KEY_UPDATE_NOT_REQUESTED);
        REQUIRE(client_write(c.client, "tail"));
    });
    std::string got;
    for (char b : bytes) {
        c.send_raw(std::string(1, b));
        c.ready();
        const auto r = c.end.read(std::as_writable_bytes(std::span(buffer)));
        if (r.status == net::IoStatus::ok) {
            got.append(buffer, 0, r.bytes);
        } else {
            REQUIRE(r.status == net::IoStatus::want_read);
        }
    }
    CHECK(got == "tail");
}

TEST_CASE("offload: the session resumes after the takeover", "[worker][offload]") {
    // Tickets resume. With no-tls-tickets (the server's session cache), the SSL freed at the
    // takeover takes its session out of the cache, as a close without close_notify does.
    const std::string options = GENERATE(as<std::string>{}, "", "no-tls-tickets");
    INFO(options);
    Server server(options);
    SSL_SESSION* session = nullptr;
    {
        Connection first(server, "TLS_AES_128_GCM_SHA256");
        REQUIRE(first.handshake());
        REQUIRE(first.end.take_over());
        REQUIRE(first.exchange("a", "b", 1, 1).by_client == "b");
        session = static_cast<SSL_SESSION*>(SSL_get_app_data(first.client));
        REQUIRE(session != nullptr);
        SSL_SESSION_up_ref(session);
    }
    Connection second(server, "TLS_AES_128_GCM_SHA256", session);
    REQUIRE(second.handshake());
    CHECK(SSL_session_reused(second.client) == (options.empty() ? 1 : 0));
    REQUIRE(second.end.take_over());
    CHECK(second.exchange("c", "d", 1, 1).by_client == "d");
    SSL_SESSION_free(session);
}

TEST_CASE("offload: TLS 1.2 and CCM stay on OpenSSL, counted", "[worker][offload]") {
    SECTION("TLS 1.2") {
        Server server;
        Connection c(server, "", nullptr, TLS1_2_VERSION);
        REQUIRE(c.handshake());
        const auto kept = tierlb::worker::takeover_counts().kept;
        CHECK_FALSE(c.end.take_over());
        CHECK(c.end.ssl() != nullptr);
        CHECK(tierlb::worker::takeover_counts().kept == kept + 1);
        CHECK(c.exchange("12", "34", 2, 2).by_client == "34");
    }
    SECTION("TLS_AES_128_CCM_SHA256") {
        Server server("ciphersuites TLS_AES_128_CCM_SHA256");
        Connection c(server, "TLS_AES_128_CCM_SHA256");
        REQUIRE(c.handshake());
        CHECK_FALSE(c.end.take_over());
        CHECK(c.exchange("56", "78", 2, 2).by_client == "78");
    }
    SECTION("offload off: never watched, nothing counted") {
        Server server;
        tierlb::worker::enable_idle_offload(false);
        Connection c(server, "TLS_AES_128_GCM_SHA256");
        tierlb::worker::enable_idle_offload(true);
        REQUIRE(c.handshake());
        const auto counts = tierlb::worker::takeover_counts();
        CHECK_FALSE(c.end.take_over());
        CHECK(tierlb::worker::takeover_counts().kept == counts.kept);
    }
}
