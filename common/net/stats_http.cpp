#include "common/net/stats_http.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <charconv>

#include "common/net/stats_html.hpp"
#include "common/net/stats_metrics.hpp"
#include "common/net/stats_typed.hpp"

namespace tierlb::net {

namespace {

constexpr unsigned default_refresh = 5;
constexpr unsigned max_refresh = 3600;

HttpResponse with_body(std::string content_type, std::string body) {
    HttpResponse response;
    response.content_type = std::move(content_type);
    response.body = std::move(body);
    return response;
}

}  // namespace

std::string_view reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 414:
            return "URI Too Long";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Error";
    }
}

HttpResponse error_response(int status) {
    HttpResponse response;
    response.status = status;
    response.body = fmt::format("{} {}\n", status, reason_phrase(status));
    return response;
}

unsigned refresh_from_query(std::string_view query) {
    while (!query.empty()) {
        const auto end = query.find('&');
        const std::string_view parameter = query.substr(0, end);
        query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
        constexpr std::string_view key = "refresh=";
        if (!parameter.starts_with(key)) {
            continue;
        }
        const std::string_view digits = parameter.substr(key.size());
        unsigned seconds = 0;
        const auto [rest, error] =
            std::from_chars(digits.data(), digits.data() + digits.size(), seconds);
        if (error == std::errc::result_out_of_range) {
            return max_refresh;
        }
        if (error != std::errc() || rest != digits.data() + digits.size()) {
            return default_refresh;
        }
        return std::min(seconds, max_refresh);
    }
    return default_refresh;
}

HttpResponse answer_stats_request(const http::RequestHead& request, const SnapshotSource& take) {
    if (request.method != "GET" && request.method != "HEAD") {
        HttpResponse response = error_response(405);
        response.headers.emplace_back("Allow", "GET, HEAD");
        return response;
    }
    const std::string& path = request.path;
    if (path == "/") {
        StatsPageOptions options;
        options.refresh_seconds = refresh_from_query(request.query);
        return with_body("text/html; charset=utf-8", stats_page(take(), options));
    }
    if (path == "/metrics") {
        return with_body(std::string(metrics_content_type), metrics_text(take()));
    }
    if (path == "/stats;csv" || path == "/;csv") {
        return with_body("text/plain; charset=utf-8", stat_csv(take().lines));
    }
    if (path == "/stats;json" || path == "/;json") {
        return with_body("application/json", stat_json(take().lines));
    }
    return error_response(404);
}

std::string serialize(const HttpResponse& response, bool head_only) {
    std::string out = fmt::format(
        "HTTP/1.1 {} {}\r\n"
        "Content-Type: {}\r\n"
        "Content-Length: {}\r\n"
        "Cache-Control: no-cache\r\n"
        "Connection: close\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:\r\n",
        response.status, reason_phrase(response.status), response.content_type,
        response.body.size());
    for (const auto& [name, value] : response.headers) {
        out += fmt::format("{}: {}\r\n", name, value);
    }
    out += "\r\n";
    if (!head_only) {
        out += response.body;
    }
    return out;
}

}  // namespace tierlb::net
