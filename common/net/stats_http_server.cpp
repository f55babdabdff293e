#include "common/net/stats_http_server.hpp"

#include <array>
#include <string>

#include "common/http/request_head.hpp"
#include "common/log/event_log.hpp"
#include "common/net/stats_http.hpp"
#include "common/net/stats_snapshot.hpp"

namespace tierlb::net {

namespace {

// What every client of one stats page shares; held by the client coroutines too.
struct Shared {
    Clock::duration timeout;
    ProcessRuntime& runtime;
    CheckLookup checks;
};

struct HeadRead {
    http::ParseResult parsed;
    bool timed_out = false;  // the deadline passed with part of a request received
};

// Reads until the request head is complete or invalid; nullopt when the client went away, or
// fell silent, or the deadline passed (then timed_out says whether it had started a request).
Task<HeadRead> read_head(Socket& socket, Clock::time_point deadline) {
    std::string input;
    std::array<char, 4096> chunk;
    HeadRead read;
    while (true) {
        read.parsed = http::parse_request_head(input);
        if (read.parsed.status != http::ParseStatus::need_more) {
            co_return read;
        }
        const auto left = deadline - Clock::now();
        const auto n = left > Clock::duration::zero()
                           ? co_await read_some(socket, asio::buffer(chunk), left)
                           : std::nullopt;
        if (!n) {
            read.timed_out = !input.empty() && Clock::now() >= deadline;
            co_return read;
        }
        input.append(chunk.data(), *n);
    }
}

// One request, one answer, then close. The whole head must arrive before the deadline, not
// merely some byte every `stats timeout`: a client trickling bytes holds its slot no longer.
Task<void> serve(std::shared_ptr<const Shared> shared, Socket& socket, const ClientCounts& counts) {
    const HeadRead read = co_await read_head(socket, Clock::now() + shared->timeout);
    std::optional<HttpResponse> response;
    bool head_only = false;
    if (read.parsed.status == http::ParseStatus::complete) {
        head_only = read.parsed.head.method == "HEAD";
        response = answer_stats_request(read.parsed.head, [&] {
            return take_snapshot(shared->runtime,
                                 CliActivity{counts.active.load(), get(counts.total)},
                                 shared->checks);
        });
    } else if (read.parsed.status == http::ParseStatus::invalid) {
        log::debug("stats http: bad request: {}", http::describe(read.parsed.error));
        response = error_response(http::status_code(read.parsed.error));
    } else if (read.timed_out) {
        response = error_response(408);
    }
    if (response) {
        co_await write_all(socket, serialize(*response, head_only), shared->timeout);
    }
    co_await close_gracefully(socket, shared->timeout);
}

}  // namespace

std::unique_ptr<ServiceListener> make_stats_http_server(Executor executor, int listening_fd,
                                                        std::chrono::milliseconds timeout,
                                                        ProcessRuntime& runtime,
                                                        CheckLookup checks) {
    auto shared = std::make_shared<const Shared>(Shared{timeout, runtime, std::move(checks)});
    return std::make_unique<ServiceListener>(executor, listening_fd, "stats http",
                                             stats_http_max_clients,
                                             [shared](Socket& socket, const ClientCounts& counts) {
                                                 return serve(shared, socket, counts);
                                             });
}

}  // namespace tierlb::net
