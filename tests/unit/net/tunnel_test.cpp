// The relay on socketpairs: both directions, half-close, idle timeout, errors, and that the
// outcome is reported exactly once with the byte counts.

#include "common/net/tunnel.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>

#include "tunnel_fixture.hpp"

using namespace tierlb::net;

namespace {

using namespace tunnel_fixture;

using TestTunnel = Tunnel<PlainEnd, FakeRecord>;

// A tunnel between the proxy's ends of two socket pairs, started with TIMEOUTS.
void start_tunnel(asio::io_context& io, int client_fd, int server_fd,
                  std::shared_ptr<Outcome> outcome, const TunnelTimeouts& timeouts = {}) {
    auto* t = new TestTunnel(io.get_executor(), FakeRecord{std::move(outcome)});
    REQUIRE_FALSE(t->client().attach(t->poller(), client_fd, readable | writable));
    REQUIRE_FALSE(t->server().attach(t->poller(), server_fd, writable));
    t->start(timeouts);
}

}  // namespace

TEST_CASE("tunnel: bytes both ways, half-close forwarded, then a normal end", "[net][tunnel]") {
    asio::io_context io;
    auto client = socket_pair();
    auto server = socket_pair();
    auto outcome = std::make_shared<Outcome>();
    start_tunnel(io, client.inside, server.inside, outcome);
    blocking(client.outside);
    blocking(server.outside);
    // The client sends and ends its side; the server reads to the end, answers and ends.
    // What each side saw is checked once both are done: Catch's assertions are not safe to
    // make from two threads at once.
    const std::string request = "request from the client";
    const std::string reply(200000, 'r');
    std::string server_got, client_got;
    ssize_t server_wrote = 0, client_wrote = 0;
    std::thread server_side([&] {
        server_got = read_all(server.outside);
        server_wrote = ::write(server.outside, reply.data(), reply.size());
        ::shutdown(server.outside, SHUT_WR);
    });
    std::thread client_side([&] {
        client_wrote = ::write(client.outside, request.data(), request.size());
        ::shutdown(client.outside, SHUT_WR);  // half-close: the reply must still arrive
        client_got = read_all(client.outside);
    });
    run_until_finished(io, *outcome);
    server_side.join();
    client_side.join();
    CHECK(server_got == request);
    CHECK(server_wrote == static_cast<ssize_t>(reply.size()));
    CHECK(client_wrote == static_cast<ssize_t>(request.size()));
    CHECK(client_got == reply);
    REQUIRE(outcome->finished == 1);
    CHECK(outcome->result.termination[0] == '-');
    CHECK(outcome->result.termination[1] == '-');
    CHECK(outcome->result.to_server == 23);
    CHECK(outcome->result.to_client == 200000);
    CHECK(outcome->counted_to_server == 23);
    CHECK(outcome->counted_to_client == 200000);
    io.run_for(std::chrono::milliseconds(20));  // the tunnel deletes itself once idle
    ::close(client.outside);
    ::close(server.outside);
}

TEST_CASE("tunnel: an idle connection ends at its timeout as cD", "[net][tunnel]") {
    asio::io_context io;
    auto client = socket_pair();
    auto server = socket_pair();
    auto outcome = std::make_shared<Outcome>();
    TunnelTimeouts timeouts;
    timeouts.idle_ms = 150;
    timeouts.idle_side = 'c';
    start_tunnel(io, client.inside, server.inside, outcome, timeouts);
    run_until_finished(io, *outcome);
    REQUIRE(outcome->finished == 1);
    CHECK(outcome->result.termination[0] == 'c');
    CHECK(outcome->result.termination[1] == 'D');
    // Both sides see the end.
    blocking(client.outside);
    char c;
    CHECK(::read(client.outside, &c, 1) == 0);
    ::close(client.outside);
    ::close(server.outside);
}

TEST_CASE("tunnel: a server that resets ends it as SD, the client is closed", "[net][tunnel]") {
    asio::io_context io;
    auto client = socket_pair();
    auto server = socket_pair();
    auto outcome = std::make_shared<Outcome>();
    start_tunnel(io, client.inside, server.inside, outcome);
    // Data towards a server that is gone: the write fails.
    ::close(server.outside);
    const std::string data(100000, 'x');
    ::write(client.outside, data.data(), data.size());
    run_until_finished(io, *outcome);
    REQUIRE(outcome->finished == 1);
    CHECK(outcome->result.termination[0] == 'S');
    CHECK(outcome->result.termination[1] == 'D');
    CHECK_FALSE(outcome->result.detail.empty());
    ::close(client.outside);
}

TEST_CASE("tunnel: activity keeps an idle timeout from firing", "[net][tunnel]") {
    asio::io_context io;
    auto client = socket_pair();
    auto server = socket_pair();
    auto outcome = std::make_shared<Outcome>();
    TunnelTimeouts timeouts;
    timeouts.idle_ms = 300;
    start_tunnel(io, client.inside, server.inside, outcome, timeouts);
    // A byte every 100 ms for a second: three times the timeout, never idle for it.
    for (int i = 0; i < 10; ++i) {
        CHECK(::write(client.outside, "k", 1) == 1);
        io.run_for(std::chrono::milliseconds(100));
        io.restart();
        CHECK(outcome->finished == 0);
    }
    CHECK(outcome->counted_to_server == 10);
    run_until_finished(io, *outcome);  // then silence: it expires
    CHECK(outcome->finished == 1);
    ::close(client.outside);
    ::close(server.outside);
}

TEST_CASE("tunnel: data and end already queued before registration are both forwarded",
          "[net][tunnel]") {
    // With edge triggering, data and FIN that arrive together make one event: a short read
    // must not make the end look consumed.
    asio::io_context io;
    auto client = socket_pair();
    auto server = socket_pair();
    CHECK(::write(client.outside, "early bird", 10) == 10);
    ::shutdown(client.outside, SHUT_WR);
    auto outcome = std::make_shared<Outcome>();
    start_tunnel(io, client.inside, server.inside, outcome);
    blocking(server.outside);
    std::thread server_side([&] {
        CHECK(read_all(server.outside) == "early bird");  // ends: the FIN was forwarded
        ::shutdown(server.outside, SHUT_WR);
    });
    run_until_finished(io, *outcome);
    server_side.join();
    CHECK(outcome->finished == 1);
    CHECK(outcome->result.termination[0] == '-');
    ::close(client.outside);
    ::close(server.outside);
}

TEST_CASE("tunnel: a PROXY header and the client's first bytes leave in one write",
          "[net][tunnel]") {
    asio::io_context io;
    auto client = socket_pair();
    auto server = socket_pair();
    CHECK(::write(client.outside, "hello", 5) == 5);
    auto outcome = std::make_shared<Outcome>();
    auto* t = new TestTunnel(io.get_executor(), FakeRecord{outcome});
    REQUIRE_FALSE(t->client().attach(t->poller(), client.inside, readable | writable));
    REQUIRE_FALSE(t->server().attach(t->poller(), server.inside, writable));
    t->prefix_to_server("PROXY UNKNOWN\r\n");
    t->start({});
    io.run_for(std::chrono::milliseconds(50));
    char got[64] = {};
    // One read gets both: they were written together.
    CHECK(::recv(server.outside, got, sizeof(got), MSG_DONTWAIT) == 20);
    CHECK(std::string(got, 20) == "PROXY UNKNOWN\r\nhello");
    ::close(client.outside);
    ::close(server.outside);
    run_until_finished(io, *outcome);
}
