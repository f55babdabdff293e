#include "common/net/stats_http.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/address.hpp"
#include "common/net/socket_ops.hpp"
#include "common/net/stats_http_server.hpp"
#include "stats_fixture.hpp"

using namespace std::chrono_literals;
using stats_test::make_runtime;
using stats_test::reference_config;
using tierlb::http::parse_request_head;
using tierlb::net::answer_stats_request;
using tierlb::net::HttpResponse;
using tierlb::net::refresh_from_query;
using tierlb::net::serialize;
using tierlb::net::take_snapshot;

namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// The answer to REQUEST from the reference runtime, without sockets.
HttpResponse answer(const std::string& request) {
    static auto fixture = make_runtime(reference_config);
    const auto parsed = parse_request_head(request);
    REQUIRE(parsed.status == tierlb::http::ParseStatus::complete);
    return answer_stats_request(parsed.head,
                                [] { return take_snapshot(fixture->runtime, {}, {}); });
}

std::string get(const std::string& target, const std::string& method = "GET") {
    return method + " " + target + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

// A stats http server on 127.0.0.1 (port from the kernel), on its own thread, bounded so that
// a bug cannot hang the tests.
class Server {
public:
    explicit Server(std::chrono::milliseconds timeout = 10s)
        : fixture_(make_runtime(reference_config)), work_(io_.get_executor()) {
        auto address = tierlb::parse_address("127.0.0.1:0", tierlb::AddressUse::bind);
        REQUIRE(address.has_value());
        auto fd = tierlb::net::open_listener(*address, {});
        REQUIRE(fd.has_value());
        port_ = tierlb::net::local_address(*fd).port();
        server_ = tierlb::net::make_stats_http_server(io_.get_executor(), *fd, timeout,
                                                      fixture_->runtime, {});
        server_->start();
        thread_ = std::thread([this] { io_.run_for(60s); });
    }
    ~Server() {
        server_.reset();
        work_.reset();
        thread_.join();
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // A connected client socket with a receive timeout of 5 s.
    int connect() const {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port_);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return fd;
    }

    // Sends REQUEST on a new connection and reads until the server closes.
    std::string exchange(const std::string& request) const {
        const int fd = connect();
        send_all(fd, request);
        std::string answer = read_all(fd);
        ::close(fd);
        return answer;
    }

    static void send_all(int fd, const std::string& data) {
        REQUIRE(::send(fd, data.data(), data.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(data.size()));
    }
    static std::string read_all(int fd) {
        std::string out;
        char buffer[65536];
        for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) {
            out.append(buffer, static_cast<std::size_t>(n));
        }
        return out;
    }

    tierlb::net::ServiceListener& listener() { return *server_; }

private:
    std::unique_ptr<stats_test::Fixture> fixture_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::uint16_t port_ = 0;
    std::unique_ptr<tierlb::net::ServiceListener> server_;
    std::thread thread_;
};

}  // namespace

TEST_CASE("the routes of stats http", "[stats][http]") {
    SECTION("/ is the page") {
        const HttpResponse r = answer(get("/"));
        CHECK(r.status == 200);
        CHECK(r.content_type == "text/html; charset=utf-8");
        CHECK(contains(r.body, "data-server=\"w1\""));
    }
    SECTION("/metrics is Prometheus text 0.0.4") {
        const HttpResponse r = answer(get("/metrics"));
        CHECK(r.status == 200);
        CHECK(r.content_type.rfind("text/plain; version=0.0.4", 0) == 0);
        CHECK(contains(r.body, "tierlb_server_current_sessions{proxy=\"disp\",server=\"w1\"} 0\n"));
    }
    SECTION("/stats;csv and /;csv are show stat") {
        for (const char* path : {"/stats;csv", "/;csv"}) {
            const HttpResponse r = answer(get(path));
            CHECK(r.status == 200);
            CHECK(r.body.rfind("# pxname,svname,", 0) == 0);
            CHECK(contains(r.body, "\ndisp,w1,"));
        }
    }
    SECTION("/stats;json and /;json are show stat json") {
        for (const char* path : {"/stats;json", "/;json"}) {
            const HttpResponse r = answer(get(path));
            CHECK(r.status == 200);
            CHECK(r.content_type == "application/json");
            CHECK(r.body.rfind("[[{\"objType\":\"Frontend\"", 0) == 0);
            CHECK(contains(r.body, "\"value\":{\"type\":\"str\",\"value\":\"w1\"}"));
        }
    }
    SECTION("another path is 404, another method 405 with Allow") {
        CHECK(answer(get("/nowhere")).status == 404);
        CHECK(answer(get("/metrics/")).status == 404);
        const HttpResponse r = answer(get("/", "POST"));
        CHECK(r.status == 405);
        REQUIRE(r.headers.size() == 1);
        CHECK(r.headers[0] == std::pair<std::string, std::string>("Allow", "GET, HEAD"));
        CHECK(answer(get("/", "DELETE")).status == 405);
        CHECK(answer(get("/", "get")).status == 405);  // methods are case-sensitive
    }
    SECTION("HEAD has the heads of GET and no body") {
        const HttpResponse r = answer(get("/metrics", "HEAD"));
        const std::string wire = serialize(r, true);
        CHECK(contains(wire, "Content-Length: " + std::to_string(r.body.size()) + "\r\n"));
        CHECK(wire.substr(wire.size() - 4) == "\r\n\r\n");
    }
}

TEST_CASE("the page's refresh comes from the query", "[stats][http]") {
    CHECK(refresh_from_query("") == 5);
    CHECK(refresh_from_query("refresh=10") == 10);
    CHECK(refresh_from_query("a=1&refresh=0") == 0);
    CHECK(refresh_from_query("refresh=abc") == 5);
    CHECK(refresh_from_query("refresh=-1") == 5);
    CHECK(refresh_from_query("refresh=99999") == 3600);
    CHECK(refresh_from_query("refresh=99999999999999999999") == 3600);
}

TEST_CASE("a served request is answered and the connection closed", "[stats][http][server]") {
    Server server;
    const std::string answer = server.exchange(get("/stats;csv"));
    CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(contains(answer, "Connection: close\r\n"));
    CHECK(contains(answer, "\r\n\r\n# pxname,svname,"));
    const std::string head = server.exchange(get("/", "HEAD"));
    CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(head.substr(head.size() - 4) == "\r\n\r\n");
}

TEST_CASE("hostile requests get an error status, never a hang", "[stats][http][server]") {
    Server server;
    auto [request, status] = GENERATE(table<std::string, std::string>({
        {"GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(9000, 'v') + "\r\n\r\n", "431"},
        {"GET /" + std::string(5000, 'a') + " HTTP/1.1\r\n", "414"},
        {"GET / HTTP/3.0\r\n\r\n", "505"},
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "400"},  // a TLS ClientHello
        {"GET / HTTP/1.1\r\n\r\n", "400"},
        {"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "405"},
    }));
    const std::string answer = server.exchange(request);
    CHECK(answer.rfind("HTTP/1.1 " + status + " ", 0) == 0);
}

TEST_CASE("a client trickling its request is cut at the timeout with 408",
          "[stats][http][server]") {
    Server server(300ms);
    const int fd = server.connect();
    const auto started = std::chrono::steady_clock::now();
    // One byte every 50 ms would satisfy a timeout of 300 ms per read forever; the client
    // stops once the answer is there (writing on would make the close a reset).
    std::string answer;
    for (char c : std::string("GET / HTTP/1.1\r\nHost: x\r\n")) {
        char peek = 0;
        if (::recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) > 0 ||
            ::send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    answer = Server::read_all(fd);
    ::close(fd);
    CHECK(answer.rfind("HTTP/1.1 408 ", 0) == 0);
    CHECK(std::chrono::steady_clock::now() - started < 3s);
}

TEST_CASE("silent clients do not keep others out", "[stats][http][server]") {
    Server server(10s);
    std::vector<int> silent;
    for (unsigned i = 0; i < tierlb::net::stats_http_max_clients - 1; ++i) {
        silent.push_back(server.connect());
    }
    // All but one slot taken by clients that send nothing: the next one is still served.
    const std::string answer = server.exchange(get("/metrics"));
    CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(server.listener().counts().total.load() >= silent.size() + 1);
    for (int fd : silent) {
        ::close(fd);
    }
}
