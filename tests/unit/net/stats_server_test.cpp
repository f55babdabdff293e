#include "common/net/stats_server.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/address.hpp"
#include "common/net/socket_ops.hpp"
#include "stats_fixture.hpp"

using namespace std::chrono_literals;
using stats_test::make_runtime;
using stats_test::reference_config;
using stats_test::split;
using tierlb::config::StatsLevel;
using tierlb::net::StatsServer;

namespace {

// A StatsServer on its own thread, listening on ADDRESS ("unix" for a socket in a fresh
// temporary directory). The thread's run is bounded so that a bug cannot hang the tests.
class Harness {
public:
    explicit Harness(std::string config = reference_config, std::string address = "unix",
                     std::chrono::milliseconds timeout = 10s)
        : fixture_(make_runtime(config)), work_(io_.get_executor()) {
        if (address == "unix") {
            char dir[] = "/tmp/tierlb-stats-XXXXXX";
            REQUIRE(::mkdtemp(dir) != nullptr);
            dir_ = dir;
            address = "unix@" + dir_ + "/stats.sock";
        }
        auto parsed = tierlb::parse_address(address, tierlb::AddressUse::bind);
        REQUIRE(parsed.has_value());
        auto fd = tierlb::net::open_listener(parsed.value(), {});
        REQUIRE(fd.has_value());
        bound_ = tierlb::net::local_address(fd.value());
        server_ = std::make_unique<StatsServer>(io_.get_executor(), fd.value(), StatsLevel::admin,
                                                timeout, fixture_->runtime);
        server_->start();
        thread_ = std::thread([this] { io_.run_for(60s); });
    }
    ~Harness() {
        server_.reset();  // stops it
        work_.reset();
        thread_.join();
        if (!dir_.empty()) {
            ::unlink((dir_ + "/stats.sock").c_str());
            ::rmdir(dir_.c_str());
        }
    }
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;

    const tierlb::SocketAddress& address() const { return bound_; }
    StatsServer& server() { return *server_; }
    stats_test::Fixture& fixture() { return *fixture_; }

private:
    std::unique_ptr<stats_test::Fixture> fixture_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::string dir_;
    tierlb::SocketAddress bound_;
    std::unique_ptr<StatsServer> server_;
    std::thread thread_;
};

// A blocking client; every read gives up after its deadline.
class Client {
public:
    explicit Client(const tierlb::SocketAddress& address) {
        fd_ = ::socket(address.domain(), SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        REQUIRE(::connect(fd_, address.native(), address.length()) == 0);
    }
    ~Client() { ::close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void send(const std::string& data) {
        std::size_t sent = 0;
        while (sent < data.size()) {
            const auto n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) {
                return;  // the server may close first: what it sent is still readable
            }
            sent += static_cast<std::size_t>(n);
        }
    }
    void shut_write() { ::shutdown(fd_, SHUT_WR); }

    // Everything until the server closes (or resets), or until DEADLINE.
    std::string read_to_end(std::chrono::milliseconds deadline = 5s) {
        std::string out;
        closed_ = read(out, deadline, [](const std::string&) { return false; });
        return out;
    }
    // Until the data ends with SUFFIX; what came, whatever happened.
    std::string read_until(const std::string& suffix, std::chrono::milliseconds deadline = 5s) {
        std::string out;
        closed_ = read(out, deadline, [&](const std::string& s) {
            return s.size() >= suffix.size() &&
                   s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
        });
        return out;
    }
    bool closed() const { return closed_; }

private:
    template <typename Done>
    bool read(std::string& out, std::chrono::milliseconds deadline, Done done) {
        const auto end = std::chrono::steady_clock::now() + deadline;
        char buffer[65536];
        while (!done(out)) {
            const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return false;
            }
            timeval tv{static_cast<time_t>(left.count() / 1000000),
                       static_cast<suseconds_t>(left.count() % 1000000)};
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            const auto n = ::recv(fd_, buffer, sizeof(buffer), 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) {
                return true;
            }
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return false;  // timeout
            }
            out.append(buffer, static_cast<std::size_t>(n));
        }
        return false;
    }

    int fd_ = -1;
    bool closed_ = false;
};

std::string many_servers(int count) {
    std::string text =
        "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "listen big\n    bind 127.0.0.1:0\n";
    for (int i = 0; i < count; ++i) {
        text +=
            "    server s" + std::to_string(i) + " 127.0.0.1:" + std::to_string(1000 + i) + "\n";
    }
    return text;
}

}  // namespace

TEST_CASE("a client sends show info and reads until the server closes", "[stats][server]") {
    Harness h;
    Client c(h.address());
    c.send("show info\n");
    c.shut_write();
    const auto answer = c.read_to_end();
    CHECK(c.closed());
    CHECK(answer.rfind("Name: tierlb\n", 0) == 0);
    CHECK(answer.substr(answer.size() - 12) == "Tainted: 0\n\n");
}

TEST_CASE("without prompt the server closes once the request is answered", "[stats][server]") {
    Harness h;
    SECTION("one command, the client keeps its side open") {
        Client c(h.address());
        c.send("show cli level\n");
        CHECK(c.read_to_end() == "admin\n\n");
        CHECK(c.closed());
    }
    SECTION("commands sent at once are all answered") {
        Client c(h.address());
        c.send("show cli level\nget weight disp/w2;show cli level\n");
        CHECK(c.read_to_end() == "admin\n\n1 (initial 1)\n\nadmin\n\n");
        CHECK(c.closed());
    }
    SECTION("a command cut by the end of input is not run") {
        Client c(h.address());
        c.send("show cli lev");
        c.shut_write();
        CHECK(c.read_to_end() == "");
        CHECK(c.closed());
    }
}

TEST_CASE("prompt mode keeps the session until quit", "[stats][server]") {
    Harness h;
    Client c(h.address());
    c.send("prompt\n");
    CHECK(c.read_until("\n> ") == "\n> ");
    c.send("show cli level\n");
    CHECK(c.read_until("\n> ") == "admin\n\n> ");
    c.send("set server disp/w2 state drain\n");
    CHECK(c.read_until("\n> ") == "\n> ");
    c.send("get weight disp/w2\n");
    CHECK(c.read_until("\n> ") == "1 (initial 1)\n\n> ");
    c.send("quit\n");
    CHECK(c.read_to_end() == "");
    CHECK(c.closed());
    CHECK(h.fixture().backend("disp").view(1).admin == tierlb::balance::AdminState::drain);
}

TEST_CASE("a command longer than the limit closes the connection", "[stats][server]") {
    Harness h;
    const auto length = GENERATE(StatsServer::max_command + 1, 4 * StatsServer::max_command);
    const auto newline = GENERATE(false, true);
    Client c(h.address());
    c.send(std::string(length, 'a') + (newline ? "\n" : ""));
    CHECK(c.read_to_end() == "");
    CHECK(c.closed());
    Client next(h.address());  // the server goes on
    next.send("show cli level\n");
    CHECK(next.read_to_end() == "admin\n\n");
}

TEST_CASE("garbage is answered, then the server goes on", "[stats][server]") {
    Harness h;
    {
        Client c(h.address());
        c.send(std::string("\0\xff\xfe garbage \x01\r\n", 15));
        const auto answer = c.read_to_end();
        CHECK(answer.rfind("Unknown command", 0) == 0);
        CHECK(c.closed());
    }
    Client next(h.address());
    next.send("show cli level\n");
    CHECK(next.read_to_end() == "admin\n\n");
}

TEST_CASE("a silent client is closed after the stats timeout", "[stats][server]") {
    Harness h(reference_config, "unix", 200ms);
    Client c(h.address());
    const auto start = std::chrono::steady_clock::now();
    CHECK(c.read_to_end(5s) == "");
    CHECK(c.closed());
    CHECK(std::chrono::steady_clock::now() - start >= 150ms);
}

TEST_CASE("a large show stat is written in full", "[stats][server]") {
    Harness h(many_servers(3000));
    Client c(h.address());
    c.send("show stat\n");
    const auto answer = c.read_to_end(20s);
    CHECK(c.closed());
    const auto lines = split(answer, '\n');
    // header, FRONTEND, 3000 servers, BACKEND, the empty line ending the answer
    REQUIRE(lines.size() == 1 + 1 + 3000 + 1 + 1);
    CHECK(lines[3001].rfind("big,s2999,", 0) == 0);
    CHECK(lines.back().empty());
}

TEST_CASE("at most max_clients are served at once", "[stats][server]") {
    Harness h;
    std::vector<std::unique_ptr<Client>> busy;
    for (unsigned i = 0; i < StatsServer::max_clients; ++i) {
        busy.push_back(std::make_unique<Client>(h.address()));
        busy.back()->send("prompt\n");
        REQUIRE(busy.back()->read_until("\n> ") == "\n> ");
    }
    CHECK(h.server().connections() == StatsServer::max_clients);
    Client waiting(h.address());  // accepted by the kernel, not served yet
    waiting.send("show cli level\n");
    CHECK(waiting.read_to_end(300ms) == "");
    CHECK_FALSE(waiting.closed());
    busy.front()->send("quit\n");
    CHECK(waiting.read_to_end() == "admin\n\n");
    CHECK(waiting.closed());
}

TEST_CASE("stop closes the clients", "[stats][server]") {
    Harness h;
    Client c(h.address());
    c.send("prompt\n");
    REQUIRE(c.read_until("\n> ") == "\n> ");
    h.server().stop();
    CHECK(c.read_to_end() == "");
    CHECK(c.closed());
}

TEST_CASE("TCP and abstract sockets are served too", "[stats][server]") {
    const std::string address = GENERATE(std::string("127.0.0.1:0"),
                                         "abns@tierlb-stats-test-" + std::to_string(::getpid()));
    Harness h(reference_config, address);
    Client c(h.address());
    c.send("show cli level\n");
    CHECK(c.read_to_end() == "admin\n\n");
    CHECK(h.server().total_connections() == 1);
}
