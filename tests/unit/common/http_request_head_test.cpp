#include "common/http/request_head.hpp"

#include <catch2/catch.hpp>
#include <string>

using tierlb::http::Error;
using tierlb::http::parse_request_head;
using tierlb::http::ParseResult;
using tierlb::http::ParseStatus;
using tierlb::http::RequestLimits;
using tierlb::http::status_code;

namespace {

ParseResult parse(const std::string& text, const RequestLimits& limits = {}) {
    return parse_request_head(text, limits);
}

// Every split of TEXT into what arrived and what is still to come: each prefix needs more or
// fails with ERROR, never with another reason.
void check_prefixes(const std::string& text, ParseStatus final_status, Error final_error) {
    for (std::size_t n = 0; n < text.size(); ++n) {
        const ParseResult r = parse(text.substr(0, n));
        INFO("prefix of " << n << " bytes");
        if (r.status == ParseStatus::invalid) {
            CHECK(final_status == ParseStatus::invalid);
            CHECK(r.error == final_error);
        } else {
            CHECK(r.status == ParseStatus::need_more);
        }
    }
}

}  // namespace

TEST_CASE("a browser's request is complete at its empty line", "[http]") {
    const std::string request =
        "GET /stats;csv?refresh=3 HTTP/1.1\r\nHost: 127.0.0.1:8404\r\n"
        "User-Agent: test\r\nAccept:  */*  \r\n\r\nleftover";
    const ParseResult r = parse(request);
    REQUIRE(r.status == ParseStatus::complete);
    CHECK(r.consumed == request.size() - std::string("leftover").size());
    CHECK(r.head.method == "GET");
    CHECK(r.head.target == "/stats;csv?refresh=3");
    CHECK(r.head.path == "/stats;csv");
    CHECK(r.head.query == "refresh=3");
    CHECK(r.head.minor_version == 1);
    CHECK(r.head.fields.size() == 3);
    CHECK(r.head.field("host") == "127.0.0.1:8404");
    CHECK(r.head.field("ACCEPT") == "*/*");
    CHECK(r.head.field("missing").empty());
    check_prefixes(request.substr(0, r.consumed), ParseStatus::complete, Error::none);
}

TEST_CASE("bare line feeds, HTTP/1.0 without Host and absolute targets are accepted", "[http]") {
    SECTION("LF only") {
        const ParseResult r = parse("GET / HTTP/1.1\nHost: x\n\n");
        REQUIRE(r.status == ParseStatus::complete);
        CHECK(r.consumed == 24);
    }
    SECTION("HTTP/1.0") {
        const ParseResult r = parse("HEAD /metrics HTTP/1.0\r\n\r\n");
        REQUIRE(r.status == ParseStatus::complete);
        CHECK(r.head.method == "HEAD");
        CHECK(r.head.minor_version == 0);
    }
    SECTION("absolute form") {
        auto [target, path, query] = GENERATE(table<std::string, std::string, std::string>({
            {"http://h:1/metrics", "/metrics", ""},
            {"HTTPS://h", "/", ""},
            {"http://h?refresh=1", "/", "refresh=1"},
            {"*", "*", ""},
        }));
        const ParseResult r = parse("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
        REQUIRE(r.status == ParseStatus::complete);
        CHECK(r.head.path == path);
        CHECK(r.head.query == query);
    }
}

TEST_CASE("malformed heads are refused with the status to answer", "[http]") {
    auto [request, error, status] = GENERATE(table<std::string, Error, int>({
        {"GET  / HTTP/1.1\r\n", Error::bad_request_line, 400},
        {"GET / HTTP/1.1 \r\n", Error::bad_request_line, 400},
        {"G(T / HTTP/1.1\r\n", Error::bad_request_line, 400},
        {"GET x HTTP/1.1\r\n", Error::bad_request_line, 400},
        {"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", Error::bad_request_line, 400},
        {"GET /\x01 HTTP/1.1\r\n", Error::bad_request_line, 400},
        {"GET / http/1.1\r\n", Error::bad_request_line, 400},
        {"GET / HTTP/1.12\r\n", Error::bad_request_line, 400},
        {"GET /\r\n", Error::bad_request_line, 400},
        {"\r\nGET / HTTP/1.1\r\n", Error::bad_request_line, 400},
        {"GET / HTTP/2.0\r\n", Error::bad_version, 505},
        {"GET / HTTP/0.9\r\n", Error::bad_version, 505},
        {"GET /\rx HTTP/1.1\r\n", Error::bad_line_end, 400},
        {"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", Error::bad_line_end, 400},
        {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", Error::bad_field, 400},
        {"GET / HTTP/1.1\r\n: h\r\n\r\n", Error::bad_field, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", Error::bad_field, 400},
        {"GET / HTTP/1.1\r\nHost h\r\n\r\n", Error::bad_field, 400},
        {"GET / HTTP/1.1\r\nHost: h\x7f\r\n\r\n", Error::bad_field, 400},
        {std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 29), Error::bad_field, 400},
        {"GET / HTTP/1.1\r\n\r\n", Error::missing_host, 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", Error::missing_host, 400},
    }));
    INFO(request);
    const ParseResult r = parse(request);
    REQUIRE(r.status == ParseStatus::invalid);
    CHECK(r.error == error);
    CHECK(status_code(r.error) == status);
    // The reason does not depend on how the bytes were split.
    check_prefixes(request, ParseStatus::invalid, error);
}

TEST_CASE("a request line that cannot become valid is refused before its end", "[http]") {
    CHECK(parse("GET\t").error == Error::bad_request_line);
    CHECK(parse("GET /\x7f").error == Error::bad_request_line);
    CHECK(parse("GET / HTTP/2").status == ParseStatus::need_more);  // 505 needs the whole line
    CHECK(parse("GET / FTP").error == Error::bad_request_line);
    CHECK(parse("GET / HTTP/1.1\r\nBad Name").error == Error::bad_field);
}

TEST_CASE("the limits bound what a client may send", "[http][limits]") {
    RequestLimits limits;
    limits.max_head = 200;
    limits.max_request_line = 50;
    limits.max_fields = 3;

    SECTION("a request line longer than the limit: 414, even before its end") {
        const std::string line = "GET /" + std::string(46, 'a');  // 51 characters
        CHECK(parse(line, limits).error == Error::request_line_long);
        CHECK(parse(line + " HTTP/1.1\r\nHost: h\r\n\r\n", limits).error ==
              Error::request_line_long);
        CHECK(status_code(Error::request_line_long) == 414);
        // At the limit it is fine.
        const std::string fits = "GET /" + std::string(36, 'a') + " HTTP/1.1";
        REQUIRE(fits.size() == 50);
        CHECK(parse(fits + "\r\nHost: h\r\n\r\n", limits).status == ParseStatus::complete);
    }
    SECTION("a head that does not end within max_head: 431 as soon as max_head bytes are in") {
        std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(150, 'v');
        CHECK(parse(head, limits).status == ParseStatus::need_more);
        head += std::string(200 - head.size(), 'v');
        CHECK(parse(head, limits).error == Error::head_too_large);
        CHECK(parse(head + "\r\n\r\n", limits).error == Error::head_too_large);
        CHECK(status_code(Error::head_too_large) == 431);
    }
    SECTION("a head of exactly max_head bytes is accepted") {
        std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
        head += std::string(200 - head.size() - 4, 'v') + "\r\n\r\n";
        REQUIRE(head.size() == 200);
        CHECK(parse(head, limits).status == ParseStatus::complete);
        CHECK(parse(head + "more", limits).status == ParseStatus::complete);
    }
    SECTION("more fields than max_fields: 431") {
        const std::string three = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n";
        CHECK(parse(three + "\r\n", limits).status == ParseStatus::complete);
        // At the limit, the final empty line may still be on its way.
        CHECK(parse(three, limits).status == ParseStatus::need_more);
        CHECK(parse(three + "\r", limits).status == ParseStatus::need_more);
        CHECK(parse(three + "C: 3\r\n\r\n", limits).error == Error::head_too_large);
    }
    SECTION("the defaults: 8 KB of head, 4 KB of request line, 100 fields") {
        const RequestLimits defaults;
        CHECK(defaults.max_head == 8192);
        CHECK(defaults.max_request_line == 4096);
        CHECK(defaults.max_fields == 100);
        const std::string huge = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(10000, 'v');
        CHECK(parse(huge).error == Error::head_too_large);
    }
}

TEST_CASE("every error has a reason and a status", "[http]") {
    for (const Error e :
         {Error::bad_request_line, Error::bad_version, Error::request_line_long,
          Error::head_too_large, Error::bad_field, Error::bad_line_end, Error::missing_host}) {
        CHECK(std::string(tierlb::http::describe(e)).size() > 5);
        CHECK(status_code(e) >= 400);
    }
}
