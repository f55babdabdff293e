#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>

#include "common/net/poller.hpp"

namespace net = tierlb::net;

namespace {

struct Counted {
    int calls = 0;
    static void on_ready(net::PollWatch*, void* owner) { ++static_cast<Counted*>(owner)->calls; }
};

// Registers one end of a socket pair as OWNERS says, with a second descriptor of the same
// file held elsewhere (as a dispatcher holds a socket it has just handed off), closes the
// registered descriptor, makes the file readable, and counts the events that still reach the
// watch.
int events_after_close(net::FileOwners owners) {
    boost::asio::io_context io;
    net::Poller& poller = net::Poller::of(io.get_executor());
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) == 0);
    const int elsewhere = ::dup(pair[0]);
    REQUIRE(elsewhere >= 0);

    Counted counted;
    net::PollWatch watch;
    watch.fd = pair[0];
    watch.on_ready = &Counted::on_ready;
    watch.owner = &counted;
    REQUIRE_FALSE(poller.add(watch, 0, owners));
    net::close_watched(watch);
    CHECK(watch.fd == -1);
    CHECK(watch.subscribed == 0);

    REQUIRE(::write(pair[1], "x", 1) == 1);
    // The event, if any, is queued by the write itself: a short run of the loop delivers it.
    io.run_for(std::chrono::milliseconds(50));

    ::close(elsewhere);
    ::close(pair[1]);
    return counted.calls;
}

}  // namespace

TEST_CASE("poller: closing a shared file's descriptor takes it out of the set", "[net][poller]") {
    CHECK(events_after_close(net::FileOwners::shared) == 0);
}

TEST_CASE("poller: a file held elsewhere stays registered after a plain close",
          "[net][poller]") {
    // The kernel's rule that makes FileOwners::shared necessary: the registration lives as
    // long as the file, and its events still name the watch (which here is still alive).
    CHECK(events_after_close(net::FileOwners::this_process) == 1);
}

TEST_CASE("poller: a watch costs no more with the shared-file field", "[net][poller]") {
    CHECK(sizeof(net::PollWatch) == 32);
}
