// The timed modes of bench_loadgen: rate (new connections per second), latency (round trips
// on persistent connections) and bulk (throughput of long streams).

#include <sstream>

#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "bench/tools/loadgen.hpp"

namespace bench::loadgen {

namespace {

using asio::ip::tcp;

std::chrono::milliseconds seconds_to_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

double seconds_between(clock::time_point from, clock::time_point to) {
    return std::max(0.0, std::chrono::duration<double>(to - from).count());
}

// After a failure, wait a little before retrying, so a refused port does not become a spin.
Task<> back_off(asio::io_context& ctx) {
    Timer timer(ctx, std::chrono::milliseconds(10));
    co_await timer.async_wait(nothrow);
}

// One rate worker: connect, send `size` bytes, read them back, close; again until the end.
Task<> rate_worker(Thread_state& thread, const Settings& settings, std::size_t size,
                   Window window) {
    Socket socket(thread.ctx);
    Watch watch(thread.watchdog, socket);
    std::vector<char> out(size, 'r');
    std::vector<char> in(size);
    while (!thread.watchdog.ended()) {
        auto started = clock::now();
        watch.arm(settings.timeout);
        auto [connect_error] = co_await socket.async_connect(settings.target, nothrow);
        boost::system::error_code error = connect_error;
        std::size_t received = 0;
        if (!error) {
            socket.set_option(tcp::no_delay(true), error);
            auto [write_error, written] =
                co_await asio::async_write(socket, asio::buffer(out), nothrow);
            error = write_error;
            if (!error) {
                auto [read_error, n] = co_await asio::async_read(socket, asio::buffer(in), nothrow);
                error = read_error;
                received = n;
            }
        }
        watch.disarm();
        auto finished = clock::now();
        boost::system::error_code ignored;
        socket.close(ignored);
        if (error) {
            if (!thread.watchdog.ended()) {
                thread.errors.add(received > 0 ? Error_kind::short_read
                                               : classify(error, bool(connect_error)));
                co_await back_off(thread.ctx);
            }
            continue;
        }
        if (window.contains(finished)) {
            ++thread.completed;
            thread.latency.record(finished - started);
        }
    }
}

// One latency worker on an established socket: send, wait for the echo, every `interval`
// (0: back to back), starting at `offset` so the connections do not fire in lockstep.
Task<> latency_worker(Thread_state& thread, Socket& socket, const Settings& settings,
                      std::size_t size, clock::duration interval, clock::duration offset,
                      Window window) {
    Watch watch(thread.watchdog, socket);
    Timer timer(thread.ctx);
    std::vector<char> out(size, 'l');
    std::vector<char> in(size);
    auto next = window.start + offset;
    while (!thread.watchdog.ended()) {
        if (interval.count() > 0) {
            timer.expires_at(std::min(next, window.end));
            co_await timer.async_wait(nothrow);
            if (clock::now() >= window.end || thread.watchdog.ended()) {
                break;
            }
        }
        auto sent = clock::now();
        watch.arm(settings.timeout);
        auto [write_error, written] =
            co_await asio::async_write(socket, asio::buffer(out), nothrow);
        boost::system::error_code error = write_error;
        std::size_t received = 0;
        if (!error) {
            auto [read_error, n] = co_await asio::async_read(socket, asio::buffer(in), nothrow);
            error = read_error;
            received = n;
        }
        watch.disarm();
        auto echoed = clock::now();
        if (error) {
            // A persistent connection that failed is gone: count it and stop using it.
            if (!thread.watchdog.ended()) {
                thread.errors.add(received > 0 ? Error_kind::short_read : classify(error, false));
            }
            boost::system::error_code ignored;
            socket.close(ignored);
            co_return;
        }
        if (window.contains(echoed)) {
            ++thread.completed;
            thread.latency.record(echoed - sent);
        }
        // Paced from the schedule, but never in a burst to catch up after a slow reply.
        next = std::max(next + interval, echoed);
    }
}

enum class Direction { up, down, both };
constexpr std::size_t bulk_chunk = 64 * 1024;

Task<> bulk_writer(Thread_state& thread, Socket& socket, const Settings& settings, Window window) {
    Watch watch(thread.watchdog, socket);
    std::vector<char> chunk(bulk_chunk, 'b');
    while (!thread.watchdog.ended()) {
        watch.arm(settings.timeout);
        auto [error, written] = co_await asio::async_write(socket, asio::buffer(chunk), nothrow);
        watch.disarm();
        if (window.contains(clock::now())) {
            thread.bytes_up += written;
        }
        if (error) {
            if (!thread.watchdog.ended()) {
                thread.errors.add(classify(error, false));
            }
            co_return;
        }
    }
}

Task<> bulk_reader(Thread_state& thread, Socket& socket, const Settings& settings, Window window) {
    Watch watch(thread.watchdog, socket);
    std::vector<char> chunk(bulk_chunk);
    while (!thread.watchdog.ended()) {
        watch.arm(settings.timeout);
        auto [error, n] = co_await socket.async_read_some(asio::buffer(chunk), nothrow);
        watch.disarm();
        if (window.contains(clock::now())) {
            thread.bytes_down += n;
        }
        if (error) {
            if (!thread.watchdog.ended()) {
                thread.errors.add(classify(error, false));
            }
            co_return;
        }
    }
}

// Common tail of the timed modes: the measured seconds, clipped to an early stop.
double measured_seconds(const Window& window) {
    return seconds_between(window.measure_from, std::min(clock::now(), window.end));
}

// A number with `digits` decimals, for the human-readable lines.
std::string fixed(double value, int digits) {
    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(digits);
    out << value;
    return out.str();
}

}  // namespace

int run_rate(Runtime& runtime, Options& options) {
    auto concurrency = options.get_int("concurrency", 32, 1, 20000);
    double duration = options.get_double("duration", 10, 0.1, 86400);
    auto size = options.get_int("size", 64, 1, 1 << 20);
    if (!options.check_unused()) {
        return usage_error("rate", options.error());
    }
    auto window = runtime.window(seconds_to_ms(duration));
    const Settings& settings = runtime.settings();
    runtime.run_phase([&](Thread_state& thread) -> Task<> {
        thread.watchdog.reset(window.end);
        std::size_t mine = runtime.share(static_cast<std::size_t>(concurrency), thread.index);
        for (std::size_t i = 0; i < mine; ++i) {
            thread.watchdog.spawn(
                rate_worker(thread, settings, static_cast<std::size_t>(size), window));
        }
        co_await thread.watchdog.run();
    });
    double seconds = measured_seconds(window);
    auto latency = runtime.merged_latency();
    auto errors = runtime.merged_errors();
    double per_second = seconds > 0 ? static_cast<double>(latency.count()) / seconds : 0;
    Json_line json;
    json.add("mode", "rate")
        .add("conns_per_s", per_second)
        .add("conns", latency.count())
        .add("errors", errors.total())
        .add_raw("error_kinds", errors.json())
        .add("seconds", seconds)
        .add("concurrency", concurrency)
        .add("size", size)
        .add("threads", static_cast<long long>(settings.threads));
    add_latency(json, latency);
    print_result("rate: " + fixed(per_second, 1) + " conn/s over " + fixed(seconds, 2) +
                     " s; connect+exchange ms p50 " + fixed(latency.quantile_ms(0.5), 3) + " p99 " +
                     fixed(latency.quantile_ms(0.99), 3) + "; errors " +
                     std::to_string(errors.total()),
                 json);
    return 0;
}

int run_latency(Runtime& runtime, Options& options) {
    auto connections = options.get_int("connections", 50, 1, 20000);
    double duration = options.get_double("duration", 10, 0.1, 86400);
    auto size = options.get_int("size", 64, 1, 1 << 20);
    double interval_ms = options.get_double("interval", 0, 0, 60000);
    if (!options.check_unused()) {
        return usage_error("latency", options.error());
    }
    const Settings& settings = runtime.settings();
    runtime.connect_all(static_cast<std::size_t>(connections));
    auto connect_errors = runtime.merged_errors().total();
    auto interval = std::chrono::duration_cast<clock::duration>(
        std::chrono::duration<double, std::milli>(interval_ms));
    auto window = runtime.window(seconds_to_ms(duration));
    runtime.run_phase([&](Thread_state& thread) -> Task<> {
        thread.watchdog.reset(window.end);
        for (std::size_t i = 0; i < thread.sockets.size(); ++i) {
            if (!thread.sockets[i].is_open()) {
                continue;
            }
            // Spread the first sends over one interval, in global connection order.
            auto global = i * settings.threads + thread.index;
            auto offset = interval * static_cast<long long>(global) / connections;
            thread.watchdog.spawn(latency_worker(thread, thread.sockets[i], settings,
                                                 static_cast<std::size_t>(size), interval, offset,
                                                 window));
        }
        co_await thread.watchdog.run();
    });
    double seconds = measured_seconds(window);
    runtime.close_all();
    auto latency = runtime.merged_latency();
    auto errors = runtime.merged_errors();
    Json_line json;
    json.add("mode", "latency")
        .add("count", latency.count())
        .add("per_s", seconds > 0 ? static_cast<double>(latency.count()) / seconds : 0.0)
        .add("errors", errors.total())
        .add("connect_errors", connect_errors)
        .add_raw("error_kinds", errors.json())
        .add("seconds", seconds)
        .add("connections", connections)
        .add("size", size)
        .add("interval_ms", interval_ms)
        .add("threads", static_cast<long long>(settings.threads));
    add_latency(json, latency);
    print_result("latency: " + std::to_string(latency.count()) + " round trips; ms p50 " +
                     fixed(latency.quantile_ms(0.5), 3) + " p90 " +
                     fixed(latency.quantile_ms(0.9), 3) + " p99 " +
                     fixed(latency.quantile_ms(0.99), 3) + " max " + fixed(latency.max_ms(), 3) +
                     "; errors " + std::to_string(errors.total()),
                 json);
    return 0;
}

int run_bulk(Runtime& runtime, Options& options) {
    auto connections = options.get_int("connections", 16, 1, 20000);
    double duration = options.get_double("duration", 10, 0.1, 86400);
    std::string direction_text = options.get("direction", "down");
    if (!options.check_unused()) {
        return usage_error("bulk", options.error());
    }
    Direction direction = Direction::down;
    if (direction_text == "up") {
        direction = Direction::up;
    } else if (direction_text == "both") {
        direction = Direction::both;
    } else if (direction_text != "down") {
        return usage_error("bulk", "--direction is up, down or both");
    }
    const Settings& settings = runtime.settings();
    runtime.connect_all(static_cast<std::size_t>(connections));
    auto connect_errors = runtime.merged_errors().total();
    auto window = runtime.window(seconds_to_ms(duration));
    runtime.run_phase([&](Thread_state& thread) -> Task<> {
        thread.watchdog.reset(window.end);
        for (auto& socket : thread.sockets) {
            if (!socket.is_open()) {
                continue;
            }
            if (direction != Direction::down) {
                thread.watchdog.spawn(bulk_writer(thread, socket, settings, window));
            }
            if (direction != Direction::up) {
                thread.watchdog.spawn(bulk_reader(thread, socket, settings, window));
            }
        }
        co_await thread.watchdog.run();
    });
    double seconds = measured_seconds(window);
    runtime.close_all();
    auto up = static_cast<double>(runtime.sum(&Thread_state::bytes_up));
    auto down = static_cast<double>(runtime.sum(&Thread_state::bytes_down));
    double up_rate = seconds > 0 ? up / seconds / 1e6 : 0;
    double down_rate = seconds > 0 ? down / seconds / 1e6 : 0;
    // The figure of the run: what came back for down and both, what went out for up.
    double rate = direction == Direction::up ? up_rate : down_rate;
    auto errors = runtime.merged_errors();
    Json_line json;
    json.add("mode", "bulk")
        .add("direction", direction_text)
        .add("mb_per_s", rate)
        .add("up_mb_per_s", up_rate)
        .add("down_mb_per_s", down_rate)
        .add("bytes_up", static_cast<std::uint64_t>(up))
        .add("bytes_down", static_cast<std::uint64_t>(down))
        .add("errors", errors.total())
        .add("connect_errors", connect_errors)
        .add_raw("error_kinds", errors.json())
        .add("seconds", seconds)
        .add("connections", connections)
        .add("threads", static_cast<long long>(settings.threads));
    print_result("bulk " + direction_text + ": " + fixed(rate, 1) + " MB/s (up " +
                     fixed(up_rate, 1) + ", down " + fixed(down_rate, 1) + ") over " +
                     fixed(seconds, 2) + " s; errors " + std::to_string(errors.total()),
                 json);
    return 0;
}

}  // namespace bench::loadgen
