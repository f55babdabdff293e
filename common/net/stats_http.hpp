#pragma once
// What `stats http` answers, without sockets: the request head in, the response out.
//   GET /                 the stats page (stats_html.hpp); ?refresh=N reloads every N seconds
//                         (0: never; at most an hour), 5 by default
//   GET /metrics          Prometheus text (stats_metrics.hpp)
//   GET /stats;csv, /;csv the `show stat` CSV, as the stats socket gives it
// HEAD gets the same heads without the bodies; another method gets 405 with Allow, another
// path 404. Every response closes the connection (Connection: close), is never cached, and
// the page may load nothing from anywhere (Content-Security-Policy): a name that slipped
// through escaping could still run nothing.

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http/request_head.hpp"
#include "common/net/stats_snapshot.hpp"

namespace tierlb::net {

struct HttpResponse {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // besides the usual ones
};

// Takes the snapshot a response shows; called only for the paths that need one.
using SnapshotSource = std::function<StatsSnapshot()>;

HttpResponse answer_stats_request(const http::RequestHead& request, const SnapshotSource& take);

// A short text/plain response for an error: "404 Not Found\n".
HttpResponse error_response(int status);

// The status line, the heads and, unless HEAD_ONLY, the body.
std::string serialize(const HttpResponse& response, bool head_only);

// "Not Found" for 404; "Error" for a code it does not know.
std::string_view reason_phrase(int status);

// The page's refresh period from a query string ("refresh=10&x=y"): 5 when absent or not a
// number, at most 3600.
unsigned refresh_from_query(std::string_view query);

}  // namespace tierlb::net
