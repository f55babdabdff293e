#pragma once
// The `stats http ADDR` server: a small HTTP/1.1 server on the process's event loop that
// answers the stats page, the Prometheus metrics and the CSV (stats_http.hpp), one request per
// connection (Connection: close).
//
// Every client is hostile until proven otherwise, and none may cost more than its own
// connection: the request head must arrive whole within `stats timeout` (a client trickling
// bytes is cut at the deadline, with 408), it may not exceed http::RequestLimits (8 KB; 400,
// 414 or 431), a body is never read, the answer is written asynchronously with the same
// timeout on each write, and at most stats_http_max_clients are served at once (the others
// wait in the listen backlog). It never blocks the data path: the answer is built from counters
// the data path updates on its own, and the sockets are non-blocking.
//
// Runs on one executor (the one the health checks run on, whose state CHECKS reads); the
// ServiceListener it returns starts, stops and counts it. Must be destroyed before its
// io_context; RUNTIME must outlive the io_context's last run.

#include <chrono>
#include <memory>

#include "common/net/asio.hpp"
#include "common/net/runtime.hpp"
#include "common/net/service_listener.hpp"
#include "common/net/stats_csv.hpp"

namespace tierlb::net {

inline constexpr unsigned stats_http_max_clients = 32;

// The server on LISTENING_FD, not started yet; CHECKS gives the health-check columns of the
// page, the metrics and the CSV. Throws std::system_error when LISTENING_FD is not a socket
// the runtime can accept on.
std::unique_ptr<ServiceListener> make_stats_http_server(Executor executor, int listening_fd,
                                                        std::chrono::milliseconds timeout,
                                                        ProcessRuntime& runtime,
                                                        CheckLookup checks);

}  // namespace tierlb::net
