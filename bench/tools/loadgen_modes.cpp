// The timed modes of bench_loadgen: rate (new connections per second), latency (round trips
// on persistent connections) and bulk (throughput of long streams).

#include <iostream>
#include <sstream>
#include <utility>

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

// Prints "window start" and "window end" on stdout when the measured part of the run begins
// and ends, so that a driver can read the proxies' CPU time over exactly that part (and not
// over the warm-up, the set-up of the connections or what their closing costs).
Task<> announce_window(Thread_state& thread, Window window) {
    Timer timer(thread.ctx);
    const std::pair<clock::time_point, const char*> marks[] = {
        {window.measure_from, "window start"}, {window.end, "window end"}};
    for (const auto& [at, text] : marks) {
        // Short sleeps, so that a run stopped early does not wait for the window's end.
        while (clock::now() < at && !thread.watchdog.ended()) {
            timer.expires_at(std::min(at, clock::now() + std::chrono::milliseconds(50)));
            co_await timer.async_wait(nothrow);
        }
        if (clock::now() < at) {
            co_return;  // stopped early: no mark, so no CPU figure for a window not measured
        }
        std::cout << text << std::endl;
    }
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
        ++thread.completed_all;
        if (window.contains(finished)) {
            ++thread.completed;
            thread.latency.record(finished - started);
        }
    }
}

// The TLS rate worker: connect, full handshake (or resumption with --resume), send `size`
// bytes, read them back, close_notify, close; each stage timed on its own, since the
// handshake is what this mode measures.
Task<> tls_rate_worker(Thread_state& thread, const Settings& settings, std::size_t size,
                       Window window) {
    Socket socket(thread.ctx);
    Watch watch(thread.watchdog, socket);
    std::vector<char> out(size, 'r');
    std::vector<char> in(size);
    const bool resume = settings.tls->options().resume;
    while (!thread.watchdog.ended()) {
        Tls_attempt attempt;
        co_await connect_attempt(socket, watch, settings, attempt);
        boost::system::error_code& error = attempt.error;
        Ssl_ptr ssl;
        if (!error) {
            socket.non_blocking(true, error);
            ssl = settings.tls->new_ssl(socket.native_handle(),
                                        resume ? thread.session.get() : nullptr);
            if (!ssl) {
                error = asio::error::no_memory;
            }
            attempt.handshaking = true;
            if (!error) {
                error = co_await tls_handshake(socket, ssl.get());
            }
        }
        if (!error) {
            attempt.handshaking = false;
            attempt.handshaken = clock::now();
            auto written = co_await tls_write_all(socket, ssl.get(), out.data(), out.size());
            error = written.error;
            if (!error) {
                auto read = co_await tls_read_exact(socket, ssl.get(), in.data(), in.size());
                error = read.error;
                attempt.received = read.bytes;
            }
        }
        watch.disarm();
        attempt.finished = clock::now();
        if (!error) {
            attempt.resumed = SSL_session_reused(ssl.get()) == 1;
            if (thread.tls_info.empty()) {
                thread.tls_info = tls_describe(ssl.get());
            }
            tls_send_close_notify(ssl.get());
            if (resume) {
                // The newest ticket (TLS 1.3 sends them after the handshake; the echo read
                // has processed them): the next connection offers it.
                Session_ptr latest(SSL_get1_session(ssl.get()));
                if (latest && SSL_SESSION_is_resumable(latest.get())) {
                    thread.session = std::move(latest);
                }
            }
        }
        ssl.reset();
        boost::system::error_code ignored;
        socket.close(ignored);
        co_await account_tls_attempt(thread, window, attempt);
    }
}

}  // namespace

Task<> connect_attempt(Socket& socket, Watch& watch, const Settings& settings,
                       Tls_attempt& attempt) {
    watch.arm(settings.timeout);
    auto [error] = co_await socket.async_connect(settings.target, nothrow);
    attempt.error = error;
    attempt.connect_failed = bool(error);
    if (!error) {
        attempt.connected = clock::now();
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
    }
}

Task<> account_tls_attempt(Thread_state& thread, const Window& window, const Tls_attempt& attempt) {
    if (attempt.error) {
        if (!thread.watchdog.ended()) {
            thread.errors.add(attempt.received > 0 ? Error_kind::short_read
                                                   : classify(attempt.error, attempt.connect_failed,
                                                              attempt.handshaking));
            co_await back_off(thread.ctx);
        }
        co_return;
    }
    ++thread.completed_all;
    if (window.contains(attempt.finished)) {
        ++thread.completed;
        thread.resumed += attempt.resumed ? 1 : 0;
        thread.latency.record(attempt.finished - attempt.started);
        thread.connect_latency.record(attempt.connected - attempt.started);
        thread.handshake_latency.record(attempt.handshaken - attempt.connected);
        thread.exchange_latency.record(attempt.finished - attempt.handshaken);
    }
}

namespace {

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

Task<> bulk_writer(Thread_state& thread, std::size_t index, const Settings& settings,
                   Window window) {
    Socket& socket = thread.sockets[index];
    SSL* ssl = thread.ssl.empty() ? nullptr : thread.ssl[index].get();
    Watch watch(thread.watchdog, socket);
    std::vector<char> chunk(bulk_chunk, 'b');
    while (!thread.watchdog.ended()) {
        watch.arm(settings.timeout);
        boost::system::error_code error;
        std::size_t written = 0;
        if (ssl != nullptr) {
            auto result = co_await tls_write_all(socket, ssl, chunk.data(), chunk.size());
            error = result.error;
            written = result.bytes;
        } else {
            auto [write_error, n] =
                co_await asio::async_write(socket, asio::buffer(chunk), nothrow);
            error = write_error;
            written = n;
        }
        watch.disarm();
        thread.bytes_all += written;
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

Task<> bulk_reader(Thread_state& thread, std::size_t index, const Settings& settings,
                   Window window) {
    Socket& socket = thread.sockets[index];
    SSL* ssl = thread.ssl.empty() ? nullptr : thread.ssl[index].get();
    Watch watch(thread.watchdog, socket);
    std::vector<char> chunk(bulk_chunk);
    while (!thread.watchdog.ended()) {
        watch.arm(settings.timeout);
        boost::system::error_code error;
        std::size_t n = 0;
        if (ssl != nullptr) {
            // One TLS record (16 KB at most) per call.
            auto result = co_await tls_read_some(socket, ssl, chunk.data(), chunk.size());
            error = result.error;
            n = result.bytes;
        } else {
            auto [read_error, got] = co_await socket.async_read_some(asio::buffer(chunk), nothrow);
            error = read_error;
            n = got;
        }
        watch.disarm();
        thread.bytes_all += n;
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
        if (thread.index == 0) {
            thread.watchdog.spawn(announce_window(thread, window));
        }
        std::size_t mine = runtime.share(static_cast<std::size_t>(concurrency), thread.index);
        for (std::size_t i = 0; i < mine; ++i) {
            auto bytes = static_cast<std::size_t>(size);
            if (!settings.tls) {
                thread.watchdog.spawn(rate_worker(thread, settings, bytes, window));
            } else if (settings.tls->options().light) {
                thread.watchdog.spawn(light_rate_worker(thread, settings, bytes, window));
            } else {
                thread.watchdog.spawn(tls_rate_worker(thread, settings, bytes, window));
            }
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
        .add("threads", static_cast<long long>(settings.threads))
        .add("conns_all", runtime.sum(&Thread_state::completed_all))
        .add("loadgen_cpu_s", self_cpu_seconds());
    add_latency(json, latency);
    if (!settings.tls) {
        print_result("rate: " + fixed(per_second, 1) + " conn/s over " + fixed(seconds, 2) +
                         " s; connect+exchange ms p50 " + fixed(latency.quantile_ms(0.5), 3) +
                         " p99 " + fixed(latency.quantile_ms(0.99), 3) + "; errors " +
                         std::to_string(errors.total()),
                     json);
        return 0;
    }
    // TLS: every connection is one handshake; its stages are reported apart.
    auto handshake = runtime.merged(&Thread_state::handshake_latency);
    auto connect = runtime.merged(&Thread_state::connect_latency);
    auto exchange = runtime.merged(&Thread_state::exchange_latency);
    auto resumed = runtime.sum(&Thread_state::resumed);
    double resumed_share = latency.count() > 0
                               ? static_cast<double>(resumed) / static_cast<double>(latency.count())
                               : 0.0;
    Json_line stages;
    stages.add("connect_p50_ms", connect.quantile_ms(0.5))
        .add("connect_p99_ms", connect.quantile_ms(0.99))
        .add("handshake_p50_ms", handshake.quantile_ms(0.5))
        .add("handshake_p90_ms", handshake.quantile_ms(0.9))
        .add("handshake_p99_ms", handshake.quantile_ms(0.99))
        .add("handshake_max_ms", handshake.max_ms())
        .add("handshake_mean_ms", handshake.mean_ms())
        .add("exchange_p50_ms", exchange.quantile_ms(0.5))
        .add("exchange_p99_ms", exchange.quantile_ms(0.99));
    json.add("tls", 1)
        .add("handshakes_per_s", per_second)
        .add("resume", settings.tls->options().resume ? 1 : 0)
        .add("resumed", resumed)
        .add("resumed_share", resumed_share)
        .add_raw("stages", stages.str())
        .add_raw("tls_info", first_tls_info(runtime));
    print_result(
        "rate tls: " + fixed(per_second, 1) + " handshakes/s over " + fixed(seconds, 2) + " s (" +
            fixed(resumed_share * 100, 1) + "% resumed); handshake ms p50 " +
            fixed(handshake.quantile_ms(0.5), 3) + " p99 " + fixed(handshake.quantile_ms(0.99), 3) +
            "; whole connection ms p50 " + fixed(latency.quantile_ms(0.5), 3) + " p99 " +
            fixed(latency.quantile_ms(0.99), 3) + "; errors " + std::to_string(errors.total()),
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
    if (runtime.settings().tls) {
        return usage_error("latency", "not available over TLS (--tls: rate, bulk, idle)");
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
        if (thread.index == 0) {
            thread.watchdog.spawn(announce_window(thread, window));
        }
        for (std::size_t i = 0; i < thread.sockets.size(); ++i) {
            if (!thread.sockets[i].is_open()) {
                continue;
            }
            if (direction != Direction::down) {
                thread.watchdog.spawn(bulk_writer(thread, i, settings, window));
            }
            if (direction != Direction::up) {
                thread.watchdog.spawn(bulk_reader(thread, i, settings, window));
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
        .add("threads", static_cast<long long>(settings.threads))
        .add("bytes_all", runtime.sum(&Thread_state::bytes_all))
        .add("loadgen_cpu_s", self_cpu_seconds())
        .add("tls", settings.tls ? 1 : 0);
    if (settings.tls) {
        json.add_raw("tls_info", first_tls_info(runtime));
    }
    print_result("bulk " + direction_text + ": " + fixed(rate, 1) + " MB/s (up " +
                     fixed(up_rate, 1) + ", down " + fixed(down_rate, 1) + ") over " +
                     fixed(seconds, 2) + " s; errors " + std::to_string(errors.total()),
                 json);
    return 0;
}

}  // namespace bench::loadgen
