// bench_loadgen idle: opens many connections in bursts, proves each crossed the proxies with a
// 1-byte echo, announces "established N in T ms", then holds them silent so the driver can
// measure the proxies' memory per idle connection.

#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "bench/tools/loadgen.hpp"

namespace bench::loadgen {

namespace {

using asio::ip::tcp;

// Counts the connections of one burst still in progress; the burst driver sleeps on `done_`
// until the last one finishes (single-threaded: no lock, and the last finisher always runs
// while the driver is already waiting).
class Burst {
public:
    explicit Burst(asio::io_context& ctx) : done_(ctx) {}

    void start(std::size_t count) { remaining_ = count; }
    void finish_one() {
        if (--remaining_ == 0) {
            done_.cancel();
        }
    }
    Task<> wait() {
        while (remaining_ > 0) {
            done_.expires_at(clock::time_point::max());
            co_await done_.async_wait(nothrow);
        }
    }

private:
    Timer done_;
    std::size_t remaining_ = 0;
};

// Connect (and handshake, over TLS), then a 1-byte round trip: only then has the connection
// crossed every tier.
Task<> establish(Thread_state& thread, std::size_t index, const Settings& settings, Burst& burst) {
    Socket& socket = thread.sockets[index];
    {
        Watch watch(thread.watchdog, socket);
        watch.arm(settings.timeout);
        char byte = 'i';
        auto [error] = co_await socket.async_connect(settings.target, nothrow);
        bool connecting = bool(error);
        bool handshaking = false;
        SSL* ssl = nullptr;
        if (!error) {
            socket.set_option(tcp::no_delay(true), error);
        }
        if (!error && settings.tls) {
            socket.non_blocking(true, error);
            thread.ssl[index] = settings.tls->new_ssl(socket.native_handle(), nullptr);
            ssl = thread.ssl[index].get();
            if (ssl == nullptr) {
                error = asio::error::no_memory;
            }
            handshaking = true;
            if (!error) {
                error = co_await tls_handshake(socket, ssl);
            }
            if (!error) {
                handshaking = false;
                if (thread.tls_info.empty()) {
                    thread.tls_info = tls_describe(ssl);
                }
            }
        }
        if (!error) {
            if (ssl != nullptr) {
                auto written = co_await tls_write_all(socket, ssl, &byte, 1);
                error = written.error;
            } else {
                auto [write_error, written] =
                    co_await asio::async_write(socket, asio::buffer(&byte, 1), nothrow);
                error = write_error;
            }
        }
        if (!error) {
            if (ssl != nullptr) {
                auto read = co_await tls_read_exact(socket, ssl, &byte, 1);
                error = read.error;
            } else {
                auto [read_error, n] =
                    co_await asio::async_read(socket, asio::buffer(&byte, 1), nothrow);
                error = read_error;
            }
        }
        watch.disarm();
        if (error) {
            if (!thread.watchdog.ended()) {
                thread.errors.add(classify(error, connecting, handshaking));
            }
            if (!thread.ssl.empty()) {
                thread.ssl[index].reset();
            }
            boost::system::error_code ignored;
            socket.close(ignored);
        }
    }
    burst.finish_one();
}

// Opens this thread's share in bursts of `burst_size`, each burst complete before the next.
Task<> open_in_bursts(Thread_state& thread, const Settings& settings, std::size_t count,
                      std::size_t burst_size) {
    Burst burst(thread.ctx);
    for (std::size_t begin = 0; begin < count && !thread.watchdog.ended(); begin += burst_size) {
        std::size_t end = std::min(count, begin + burst_size);
        burst.start(end - begin);
        for (std::size_t i = begin; i < end; ++i) {
            thread.sockets.emplace_back(thread.ctx);
            thread.watchdog.spawn(establish(thread, i, settings, burst));
        }
        co_await burst.wait();
    }
}

// Waits for the peer to close or send anything: either way the connection was not held idle.
// Over TLS, records that carry no data (a late session ticket, a key update) do not count.
Task<> watch_idle(Thread_state& thread, std::size_t index, const bool& closing) {
    Socket& socket = thread.sockets[index];
    SSL* ssl = thread.ssl.empty() ? nullptr : thread.ssl[index].get();
    char byte = 0;
    if (ssl != nullptr) {
        co_await tls_read_some(socket, ssl, &byte, 1);
    } else {
        co_await socket.async_read_some(asio::buffer(&byte, 1), nothrow);
    }
    if (!closing) {
        ++thread.dropped;
        boost::system::error_code ignored;
        socket.close(ignored);
    }
}

// Holds until the deadline or a stop signal, polling (the signal thread only sets a flag), then
// closes every socket, which also ends the watchers.
Task<> hold(Thread_state& thread, clock::time_point until, bool& closing) {
    Timer timer(thread.ctx);
    while (clock::now() < until && !stop_requested.load(std::memory_order_relaxed)) {
        timer.expires_after(std::chrono::milliseconds(50));
        co_await timer.async_wait(nothrow);
    }
    closing = true;
    for (auto& socket : thread.sockets) {
        boost::system::error_code ignored;
        socket.close(ignored);
    }
}

}  // namespace

int run_idle(Runtime& runtime, Options& options) {
    auto connections = options.get_int("connections", 1000, 1, 1000000);
    auto burst_size = options.get_int("burst", 100, 1, 1000000);
    // Bounded even when nobody sends a signal.
    double hold_seconds = options.get_double("hold", 3600, 0, 86400);
    if (!options.check_unused()) {
        return usage_error("idle", options.error());
    }
    const Settings& settings = runtime.settings();
    auto started = clock::now();
    runtime.run_phase([&](Thread_state& thread) -> Task<> {
        std::size_t mine = runtime.share(static_cast<std::size_t>(connections), thread.index);
        std::size_t my_burst = std::max<std::size_t>(
            1, runtime.share(static_cast<std::size_t>(burst_size), thread.index));
        thread.sockets.clear();
        thread.ssl.clear();
        // Reserved up front: the workers hold references into this vector.
        thread.sockets.reserve(mine);
        if (settings.tls) {
            thread.ssl.resize(mine);
        }
        thread.watchdog.reset(clock::time_point::max());
        thread.watchdog.spawn(open_in_bursts(thread, settings, mine, my_burst));
        co_await thread.watchdog.run();
    });
    auto established_at = clock::now();
    auto established = runtime.open_sockets();
    auto establish_ms = std::chrono::duration<double, std::milli>(established_at - started).count();
    std::cout << "established " << established << " in " << static_cast<long long>(establish_ms)
              << " ms" << std::endl;

    auto until =
        established_at + std::chrono::milliseconds(static_cast<long long>(hold_seconds * 1000));
    // One flag per thread, outliving the phase's coroutines (the watchers finish after hold).
    auto closing = std::make_unique<bool[]>(settings.threads);
    runtime.run_phase([&](Thread_state& thread) -> Task<> {
        bool& mine = closing[thread.index];
        for (std::size_t i = 0; i < thread.sockets.size(); ++i) {
            if (thread.sockets[i].is_open()) {
                asio::co_spawn(thread.ctx, watch_idle(thread, i, mine), asio::detached);
            }
        }
        co_await hold(thread, until, mine);
    });
    auto held = std::chrono::duration<double>(clock::now() - established_at).count();

    auto errors = runtime.merged_errors();
    auto dropped = runtime.sum(&Thread_state::dropped);
    Json_line json;
    json.add("mode", "idle")
        .add("requested", connections)
        .add("established", static_cast<std::uint64_t>(established))
        .add("establish_ms", establish_ms)
        .add("errors", errors.total())
        .add_raw("error_kinds", errors.json())
        .add("dropped", dropped)
        .add("held_s", held)
        .add("burst", burst_size)
        .add("threads", static_cast<long long>(settings.threads))
        .add("loadgen_cpu_s", self_cpu_seconds())
        .add("tls", settings.tls ? 1 : 0);
    if (settings.tls) {
        json.add_raw("tls_info", first_tls_info(runtime));
    }
    print_result("idle: held " + std::to_string(established) + " connections for " +
                     std::to_string(static_cast<long long>(held)) + " s; dropped " +
                     std::to_string(dropped) + ", errors " + std::to_string(errors.total()),
                 json);
    return 0;
}

}  // namespace bench::loadgen
