// TlsEnd's handshake writes, gathered while OpenSSL runs and sent once per call: over loopback
// TCP, a TLS 1.3 handshake leaves the server in two data segments (its flight, then both
// session tickets together); a flight larger than the socket buffer goes out in parts, in
// order; tickets that find the client gone do not fail the handshake (as OpenSSL's own).
//
// Held tickets (as the worker runs it, with an idle wheel): the tickets wait for the first
// write and leave in its segment; with no write, the wheel sends them; a first write larger
// than the socket takes is reported only once all of it is out; a half-close sends them before
// close_notify; TLS 1.2's last flight is never held; idle offload waits for them.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "common/net/idle_wheel.hpp"
#include "tls_fixture.hpp"
#include "worker/tls_end.hpp"
#include "worker/tls_takeover.hpp"

namespace net = tierlb::net;
using tierlb::worker::TlsEnd;

namespace {

constexpr int max_rounds = 20000;

struct Server {
    tls_fixture::Certificate cert;
    tls_fixture::BoundTls bound{cert};

    explicit Server(const std::vector<std::string>& sans = {}) : cert("end.test", sans) {}
    SSL* new_connection() const { return bound.tls->new_connection(); }
};

// A connected pair of loopback TCP sockets, both non-blocking: {client, server}.
std::pair<int, int> tcp_pair() {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::fcntl(client, F_SETFL, O_NONBLOCK) == 0);
    const int server = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
    REQUIRE(server >= 0);
    ::close(listener);
    const int flags = 1;
    REQUIRE(::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof flags) == 0);
    REQUIRE(::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof flags) == 0);
    return {client, server};
}

// The client: OpenSSL on FD, made once, reading its tickets (it says so by counting them).
struct Client {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    int tickets = 0;

    explicit Client(int fd, int max_version = 0) {
        ctx = SSL_CTX_new_ex(nullptr, "provider=default", TLS_client_method());
        SSL_CTX_set_max_proto_version(ctx, max_version);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                                SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, [](SSL* s, SSL_SESSION*) {
            ++*static_cast<int*>(SSL_get_app_data(s));
            return 0;
        });
        ssl = SSL_new(ctx);
        SSL_set_app_data(ssl, &tickets);
        SSL_set_fd(ssl, fd);
        SSL_set_connect_state(ssl);
    }
    ~Client() {
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }
};

// Both ends' handshakes, the server's as the worker runs it (ready flags set by the test).
// False if either failed or the rounds ran out.
bool handshake(Client& client, TlsEnd& end) {
    bool client_done = false;
    bool server_done = false;
    for (int i = 0; i < max_rounds && !(client_done && server_done); ++i) {
        client_done = client_done || SSL_do_handshake(client.ssl) == 1;
        end.watch().ready = net::readable | net::writable;
        const net::IoResult r = end.handshake();
        if (r.status == net::IoStatus::error || r.status == net::IoStatus::eof) {
            return false;
        }
        server_done = server_done || r.status == net::IoStatus::ok;
    }
    return client_done && server_done;
}

// The kernel's tcpi_data_segs_out (Linux 4.6). glibc's struct tcp_info stops at
// tcpi_total_retrans (104 bytes); the kernel's continues, append-only: four 64-bit counters
// (pacing rates, bytes acked and received), then segs_out, segs_in, notsent_bytes, min_rtt,
// data_segs_in and data_segs_out: at 104 + 32 + 20 = 156.
unsigned data_segments_out(int fd) {
    static_assert(sizeof(tcp_info) == 104);
    constexpr std::size_t offset = 156;
    unsigned char info[256] = {};
    socklen_t length = sizeof info;
    REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &length) == 0);
    REQUIRE(length >= offset + 4);
    std::uint32_t segments = 0;
    std::memcpy(&segments, info + offset, sizeof segments);
    return segments;
}

// Reads on the client until both tickets came (a 1-byte read that finds no data).
void read_tickets(Client& client) {
    char byte = 0;
    std::size_t n = 0;
    for (int i = 0; i < 1000 && client.tickets < 2; ++i) {
        SSL_read_ex(client.ssl, &byte, 1, &n);
    }
}

// A server end and an OpenSSL client over loopback TCP, before the handshake; with
// HOLD_TICKETS, the end holds its tickets as the worker's do (on this io_context's wheel).
struct OverTcp {
    Server server;
    std::pair<int, int> fds = tcp_pair();  // client, server (the server's closed by END)
    Client client;
    net::asio::io_context io;
    TlsEnd end;

    explicit OverTcp(bool hold_tickets = false, int client_max_version = 0)
        : client(fds.first, client_max_version) {
        end.watch().fd = fds.second;
        end.begin(server.new_connection(),
                  hold_tickets ? &net::IdleWheel::of(io.get_executor()) : nullptr);
    }
    ~OverTcp() { close_client(); }
    void close_client() {
        if (fds.first >= 0) {
            ::close(fds.first);
            fds.first = -1;
        }
    }
};

}  // namespace

TEST_CASE("TlsEnd: a TLS 1.3 handshake leaves the server in two segments, tickets together",
          "[worker][tls]") {
    OverTcp c;
    Client& client = c.client;
    TlsEnd& end = c.end;
    REQUIRE(handshake(client, end));
    read_tickets(client);
    CHECK(client.tickets == 2);
    // The flight (ServerHello .. Finished), then both NewSessionTickets in one send.
    CHECK(data_segments_out(c.fds.second) == 2);
    // Afterwards OpenSSL writes to the socket itself: data reaches the client.
    std::size_t n = 0;
    REQUIRE(SSL_write_ex(end.ssl(), "after", 5, &n) == 1);
    std::string got(5, '\0');
    for (int i = 0; i < 1000 && SSL_read_ex(client.ssl, got.data(), got.size(), &n) != 1; ++i) {
    }
    CHECK(got == "after");
}

TEST_CASE("TlsEnd: a flight larger than the socket takes is sent in parts, in order",
          "[worker][tls]") {
    // Hundreds of names make a certificate of several kilobytes.
    std::vector<std::string> names;
    for (int i = 0; i < 400; ++i) {
        names.push_back("host-" + std::to_string(i) + ".a-long-enough-name.end.test");
    }
    Server server(names);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    const int small = 1;  // the kernel's minimum instead
    REQUIRE(::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    Client client(sv[0]);
    TlsEnd end;
    end.watch().fd = sv[1];
    end.begin(server.new_connection());
    REQUIRE(SSL_do_handshake(client.ssl) != 1);  // the ClientHello is out
    end.watch().ready = net::readable | net::writable;
    // The flight does not fit: the server waits for room, nothing is lost.
    CHECK(end.handshake().status == net::IoStatus::want_write);
    CHECK((end.watch().ready & net::writable) == 0);
    REQUIRE(handshake(client, end));
    read_tickets(client);
    CHECK(client.tickets == 2);
    ::close(sv[0]);
}

TEST_CASE("TlsEnd: tickets that find the client gone do not fail the handshake",
          "[worker][tls]") {
    OverTcp c;
    Client& client = c.client;
    TlsEnd& end = c.end;
    // The client finishes, writes, and resets the connection before the server answers.
    bool client_done = false;
    for (int i = 0; i < max_rounds && !client_done; ++i) {
        client_done = SSL_do_handshake(client.ssl) == 1;
        if (!client_done) {
            end.watch().ready = net::readable | net::writable;
            REQUIRE(end.handshake().status != net::IoStatus::error);
        }
    }
    REQUIRE(client_done);
    std::size_t n = 0;
    REQUIRE(SSL_write_ex(client.ssl, "bye", 3, &n) == 1);
    const linger reset{1, 0};
    REQUIRE(::setsockopt(c.fds.first, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
    c.close_client();
    end.watch().ready = net::readable | net::writable;
    CHECK(end.handshake().status == net::IoStatus::ok);
}

namespace {

// Reads on the client until WANTED bytes came or the rounds ran out.
std::string client_reads(Client& client, std::size_t wanted) {
    std::string got;
    char chunk[16384];
    for (int i = 0; i < max_rounds && got.size() < wanted; ++i) {
        std::size_t n = 0;
        if (SSL_read_ex(client.ssl, chunk, sizeof chunk, &n) == 1) {
            got.append(chunk, n);
        }
    }
    return got;
}

std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

}  // namespace

TEST_CASE("TlsEnd: held tickets leave with the first write, in its segment", "[worker][tls]") {
    OverTcp c(true);
    REQUIRE(handshake(c.client, c.end));
    read_tickets(c.client);
    CHECK(c.client.tickets == 0);                 // held
    CHECK(data_segments_out(c.fds.second) == 1);  // the flight only
    const std::string answer = "the answer";
    c.end.watch().ready = net::readable | net::writable;
    const net::IoResult w = c.end.write(bytes_of(answer));
    REQUIRE(w.status == net::IoStatus::ok);
    CHECK(w.bytes == answer.size());
    CHECK(data_segments_out(c.fds.second) == 2);  // tickets and answer together
    CHECK(client_reads(c.client, answer.size()) == answer);
    CHECK(c.client.tickets == 2);
    // From then on, OpenSSL writes to the socket itself.
    const std::string more = "more";
    REQUIRE(c.end.write(bytes_of(more)).status == net::IoStatus::ok);
    CHECK(client_reads(c.client, more.size()) == more);
    CHECK(data_segments_out(c.fds.second) == 3);
}

TEST_CASE("TlsEnd: with nothing to write, the wheel sends the held tickets", "[worker][tls]") {
    OverTcp c(true);
    REQUIRE(handshake(c.client, c.end));
    CHECK(data_segments_out(c.fds.second) == 1);
    const auto deadline = net::Clock::now() + std::chrono::seconds(10);
    while (c.client.tickets < 2 && net::Clock::now() < deadline) {
        c.io.run_one_for(std::chrono::milliseconds(50));
        read_tickets(c.client);
    }
    CHECK(c.client.tickets == 2);
    CHECK(data_segments_out(c.fds.second) == 2);
    CHECK(net::IdleWheel::of(c.io.get_executor()).size() == 0);
    const std::string later = "later";
    c.end.watch().ready = net::readable | net::writable;
    REQUIRE(c.end.write(bytes_of(later)).status == net::IoStatus::ok);
    CHECK(client_reads(c.client, later.size()) == later);
}

TEST_CASE("TlsEnd: a first write larger than the socket takes is reported once all is out",
          "[worker][tls]") {
    Server server;
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    Client client(sv[0]);
    net::asio::io_context io;
    TlsEnd end;
    end.watch().fd = sv[1];
    end.begin(server.new_connection(), &net::IdleWheel::of(io.get_executor()));
    REQUIRE(handshake(client, end));
    const int small = 1;  // the kernel's minimum instead
    REQUIRE(::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    std::string big(64 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>('a' + i % 26);
    }
    std::string got;
    net::IoResult w;
    int want_writes = 0;
    char chunk[16384];
    for (int i = 0; i < max_rounds; ++i) {
        end.watch().ready = net::readable | net::writable;
        w = end.write(bytes_of(big));  // the same bytes again until reported
        if (w.status == net::IoStatus::ok) {
            break;
        }
        REQUIRE(w.status == net::IoStatus::want_write);
        CHECK(w.bytes == 0);  // nothing reported before all of it is out
        ++want_writes;
        std::size_t n = 0;
        if (SSL_read_ex(client.ssl, chunk, sizeof chunk, &n) == 1) {
            got.append(chunk, n);
        }
    }
    CHECK(want_writes > 0);
    REQUIRE(w.status == net::IoStatus::ok);
    // Reported at once or in part (a partial write), never more than offered.
    REQUIRE(w.bytes > 0);
    REQUIRE(w.bytes <= big.size());
    got += client_reads(client, w.bytes - got.size());
    CHECK(got == big.substr(0, w.bytes));
    CHECK(client.tickets == 2);
    ::close(sv[0]);
}

TEST_CASE("TlsEnd: a half-close sends the held tickets, then close_notify", "[worker][tls]") {
    OverTcp c(true);
    REQUIRE(handshake(c.client, c.end));
    c.end.shutdown_write();
    char byte = 0;
    std::size_t n = 0;
    int last = 0;
    for (int i = 0; i < max_rounds; ++i) {
        if (SSL_read_ex(c.client.ssl, &byte, 1, &n) != 1) {
            last = SSL_get_error(c.client.ssl, 0);
            if (last != SSL_ERROR_WANT_READ) {
                break;
            }
        }
    }
    CHECK(c.client.tickets == 2);
    CHECK(last == SSL_ERROR_ZERO_RETURN);
}

TEST_CASE("TlsEnd: TLS 1.2's last flight is never held", "[worker][tls]") {
    OverTcp c(true, TLS1_2_VERSION);
    REQUIRE(handshake(c.client, c.end));  // the client could not finish without it
    CHECK(SSL_version(c.client.ssl) == TLS1_2_VERSION);
    CHECK(net::IdleWheel::of(c.io.get_executor()).size() == 0);
}

TEST_CASE("TlsEnd: idle offload waits for the held tickets", "[worker][tls]") {
    tierlb::worker::enable_idle_offload(true);
    OverTcp c(true);
    REQUIRE(handshake(c.client, c.end));
    char buffer[64];
    c.end.watch().ready = net::readable | net::writable;
    // Nothing to read: idle, but the tickets are still to send.
    CHECK(c.end.read(std::as_writable_bytes(std::span(buffer))).status ==
          net::IoStatus::want_read);
    CHECK_FALSE(c.end.taken_over());
    const std::string answer = "answer";
    c.end.watch().ready = net::readable | net::writable;
    REQUIRE(c.end.write(bytes_of(answer)).status == net::IoStatus::ok);
    CHECK(c.end.taken_over());  // tickets and answer out, reads waiting: idle now
    CHECK(client_reads(c.client, answer.size()) == answer);
    CHECK(c.client.tickets == 2);
}
