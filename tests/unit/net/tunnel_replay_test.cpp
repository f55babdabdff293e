// A server lost before it answered is replaced: the tunnel sends the next server what the lost
// one was sent (the PROXY header, and the client's bytes when the server is one that answers
// before passing anything on), counts those bytes once, and never replays once the server has
// answered or when the client's bytes must not be sent twice.

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "common/net/tunnel.hpp"
#include "tunnel_fixture.hpp"

using namespace tierlb::net;

namespace {

using namespace tunnel_fixture;

// Stands for session_flow's policy: the next server is the proxy's end of a socket pair the
// test prepared (or none: the tunnel is abandoned, as when no server is left).
struct TestReconnect {
    static constexpr bool enabled = true;
    static inline int next_server = -1;
    static inline int losses = 0;
    static inline bool alive = false;  // the lost server ended the connection on purpose

    template <typename T>
    static void server_lost(T& tunnel) {
        ++losses;
        asio::post(tunnel.executor(), [&tunnel] {
            if (alive) {
                tunnel.accept_loss();
                return;
            }
            tunnel.forget_server();
            const int fd = std::exchange(next_server, -1);
            if (fd < 0) {
                TunnelResult r;
                r.termination[0] = 'S';
                r.termination[1] = 'D';
                tunnel.record().finish(r);
                tunnel.abandon();
                return;
            }
            REQUIRE_FALSE(tunnel.server().attach(tunnel.poller(), fd, writable));
            tunnel.resume();
        });
    }
};

using ReplayTunnel = Tunnel<PlainEnd, FakeRecord, TestReconnect>;

ReplayTunnel* start_replaying(asio::io_context& io, Pair& client, Pair& server,
                              std::shared_ptr<Outcome> outcome, bool client_bytes) {
    TestReconnect::losses = 0;
    TestReconnect::next_server = -1;
    TestReconnect::alive = false;
    auto* t = new ReplayTunnel(io.get_executor(), FakeRecord{std::move(outcome)});
    REQUIRE_FALSE(t->client().attach(t->poller(), client.inside, readable | writable));
    REQUIRE_FALSE(t->server().attach(t->poller(), server.inside, writable));
    t->enable_replay(client_bytes);
    t->prefix_to_server("HEADER;");
    t->start({});
    return t;
}

void run_for(asio::io_context& io, int ms) {
    io.run_for(std::chrono::milliseconds(ms));
    io.restart();
}

// Everything waiting in FD now.
std::string drain(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

// FIRST ends its side before answering and nothing replaces it: the client sees the end, the
// standby server SECOND gets nothing, and the tunnel finishes once the client closes too.
void expect_end_not_replaced(asio::io_context& io, Pair& client, Pair& first, Pair& second,
                             const Outcome& outcome) {
    TestReconnect::next_server = second.inside;
    ::close(first.outside);
    run_for(io, 30);
    CHECK(TestReconnect::losses == 0);
    char c;
    CHECK(::recv(client.outside, &c, 1, MSG_DONTWAIT) == 0);
    CHECK(drain(second.outside).empty());
    ::close(client.outside);
    run_until_finished(io, outcome);
    CHECK(outcome.finished == 1);
    ::close(second.outside);
    ::close(second.inside);
}

}  // namespace

TEST_CASE("replay: a TLS worker lost before answering is replaced, the client's bytes resent",
          "[net][tunnel][replay]") {
    asio::io_context io;
    auto client = socket_pair();
    auto first = socket_pair();
    auto second = socket_pair();
    auto outcome = std::make_shared<Outcome>();
    CHECK(::write(client.outside, "hello", 5) == 5);
    start_replaying(io, client, first, outcome, true);
    run_for(io, 30);
    CHECK(drain(first.outside) == "HEADER;hello");
    CHECK(::write(client.outside, " again", 6) == 6);
    run_for(io, 30);
    CHECK(drain(first.outside) == " again");
    // The worker dies without a word; the next one gets all of it, then the relay goes on.
    TestReconnect::next_server = second.inside;
    ::close(first.outside);
    run_for(io, 50);
    CHECK(TestReconnect::losses == 1);
    CHECK(drain(second.outside) == "HEADER;hello again");
    CHECK(::write(second.outside, "answer", 6) == 6);
    run_for(io, 30);
    CHECK(drain(client.outside) == "answer");
    CHECK(::write(client.outside, "!", 1) == 1);
    run_for(io, 30);
    CHECK(drain(second.outside) == "!");
    CHECK(outcome->finished == 0);
    // Counted once: the header is not traffic, the replayed bytes were counted already.
    CHECK(outcome->counted_to_server == 12);
    CHECK(outcome->counted_to_client == 6);
    // Once it answered, its end is the client's end too (half-closed), not a replacement.
    ::close(second.outside);
    run_for(io, 30);
    CHECK(TestReconnect::losses == 1);
    char c;
    CHECK(::recv(client.outside, &c, 1, MSG_DONTWAIT) == 0);
    ::close(client.outside);
    run_until_finished(io, *outcome);
    REQUIRE(outcome->finished == 1);
    CHECK(outcome->result.to_server == 12);
}

TEST_CASE("replay: without replayable client bytes, only a connection that sent nothing",
          "[net][tunnel][replay]") {
    SECTION("the client has sent nothing: the header goes to the next server") {
        asio::io_context io;
        auto client = socket_pair();
        auto first = socket_pair();
        auto second = socket_pair();
        auto outcome = std::make_shared<Outcome>();
        start_replaying(io, client, first, outcome, false);
        run_for(io, 30);
        CHECK(drain(first.outside) == "HEADER;");
        TestReconnect::next_server = second.inside;
        ::close(first.outside);
        run_for(io, 50);
        CHECK(drain(second.outside) == "HEADER;");
        CHECK(::write(client.outside, "late", 4) == 4);
        run_for(io, 30);
        CHECK(drain(second.outside) == "late");
        CHECK(outcome->finished == 0);
        CHECK(outcome->counted_to_server == 4);
        ::close(client.outside);
        ::close(second.outside);
        run_until_finished(io, *outcome);
    }
    SECTION("the server took client bytes: its loss ends the connection") {
        asio::io_context io;
        auto client = socket_pair();
        auto first = socket_pair();
        auto second = socket_pair();
        auto outcome = std::make_shared<Outcome>();
        CHECK(::write(client.outside, "payment", 7) == 7);
        start_replaying(io, client, first, outcome, false);
        run_for(io, 30);
        CHECK(drain(first.outside) == "HEADER;payment");
        expect_end_not_replaced(io, client, first, second, *outcome);
    }
}

TEST_CASE("replay: no server left, the tunnel is abandoned once, the client closed",
          "[net][tunnel][replay]") {
    asio::io_context io;
    auto client = socket_pair();
    auto first = socket_pair();
    auto outcome = std::make_shared<Outcome>();
    start_replaying(io, client, first, outcome, true);
    run_for(io, 30);
    ::close(first.outside);  // and next_server stays -1
    run_until_finished(io, *outcome);
    CHECK(TestReconnect::losses == 1);
    REQUIRE(outcome->finished == 1);
    run_for(io, 30);
    char c;
    CHECK(::recv(client.outside, &c, 1, MSG_DONTWAIT) == 0);  // closed
    ::close(client.outside);
}

TEST_CASE("replay: more client bytes than the replay keeps make the server irreplaceable",
          "[net][tunnel][replay]") {
    asio::io_context io;
    auto client = socket_pair();
    auto first = socket_pair();
    auto second = socket_pair();
    auto outcome = std::make_shared<Outcome>();
    start_replaying(io, client, first, outcome, true);
    const std::string big(Replay::limit + 1, 'b');
    CHECK(::write(client.outside, big.data(), big.size()) == static_cast<ssize_t>(big.size()));
    run_for(io, 50);
    CHECK(drain(first.outside).size() == big.size() + 7);
    expect_end_not_replaced(io, client, first, second, *outcome);
}

TEST_CASE("replay: a server alive that closed on purpose is not replaced",
          "[net][tunnel][replay]") {
    // As a TLS worker closes a client whose handshake failed: the end reaches the client, and
    // the client's later bytes still reach nothing but the closed server.
    asio::io_context io;
    auto client = socket_pair();
    auto first = socket_pair();
    auto second = socket_pair();
    auto outcome = std::make_shared<Outcome>();
    CHECK(::write(client.outside, "garbage", 7) == 7);
    start_replaying(io, client, first, outcome, true);
    TestReconnect::alive = true;
    TestReconnect::next_server = second.inside;
    run_for(io, 30);
    CHECK(drain(first.outside) == "HEADER;garbage");
    ::shutdown(first.outside, SHUT_WR);
    run_for(io, 30);
    CHECK(TestReconnect::losses == 1);
    char c;
    CHECK(::recv(client.outside, &c, 1, MSG_DONTWAIT) == 0);  // the server's end, forwarded
    CHECK(drain(second.outside).empty());
    // The client's side still flows to the first server until it ends too.
    CHECK(::write(client.outside, "more", 4) == 4);
    run_for(io, 30);
    CHECK(drain(first.outside) == "more");
    ::close(client.outside);
    run_until_finished(io, *outcome);
    CHECK(outcome->finished == 1);
    CHECK(outcome->result.termination[0] == '-');
    ::close(first.outside);
    ::close(second.outside);
    ::close(second.inside);
}
