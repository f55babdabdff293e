#pragma once
// The per-connection log line, in HAProxy's "option tcplog" format:
//   %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
// e.g.
//   10.0.0.7:51234 [26/Nov/2026:06:39:18.123] dispatcher dispatcher/process2 0/1/5012 1534 --
//   5/5/4/2/0 0/0
// and the shorter line HAProxy writes at accept time without "option tcplog":
//   Connect from 10.0.0.7:51234 to 10.0.0.1:1234 (dispatcher/TCP)

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace tierlb::log {

struct TcpLogFields {
    std::string client_host;  // "10.0.0.7", "::1", or "unix"
    unsigned client_port = 0;
    std::chrono::system_clock::time_point accepted;
    std::string_view frontend;
    bool frontend_ssl = false;  // HAProxy appends '~' to the frontend name
    std::string_view backend;
    std::string_view server;            // "<NOSRV>" when none was reached
    std::int64_t wait_ms = -1;          // %Tw: in the queue; -1 when it never got that far
    std::int64_t connect_ms = -1;       // %Tc
    std::int64_t total_ms = 0;          // %Tt
    std::uint64_t bytes_to_client = 0;  // %B
    char termination[2] = {'-', '-'};
    unsigned actconn = 0, feconn = 0, beconn = 0, srv_conn = 0;
    unsigned retries = 0;
    bool redispatched = false;  // %rc gets a '+' prefix
    unsigned srv_queue = 0, backend_queue = 0;
};

std::string format_tcplog(const TcpLogFields& f);

// "[26/Nov/2026:06:39:18.123]"'s inside, in local time as HAProxy does.
std::string format_accept_date(std::chrono::system_clock::time_point t);

std::string format_connect_line(std::string_view client, std::string_view local,
                                std::string_view frontend);

}  // namespace tierlb::log
