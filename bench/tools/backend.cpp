// bench_backend: the application server behind the proxies in the benchmarks.
//
//   bench_backend --mode echo|sink|source|http [--port N] [--host 127.0.0.1] [--threads N]
//
// Prints "listening on HOST:PORT" once it accepts, then serves until SIGTERM or SIGINT and
// prints its counters on stderr. An idle connection holds no buffer (it waits for readability
// and borrows one), so 20,000 idle connections cost little more than their sockets.

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "bench/tools/common.hpp"

namespace {

namespace asio = boost::asio;
using bench::Acceptor;
using bench::nothrow;
using bench::Socket;
using bench::Task;
using bench::tcp;
using bench::Timer;

enum class Mode { echo, sink, source, http };

constexpr std::size_t buffer_size = 64 * 1024;
// Requests larger than this without a blank line are not HTTP we serve: close.
constexpr std::size_t max_http_request = 64 * 1024;
constexpr std::string_view http_response =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, world\n";

// Everything one io_context thread owns. Only that thread touches it; the counters are read
// after the threads have joined.
struct Thread_state {
    asio::io_context ctx{1};
    std::vector<std::unique_ptr<char[]>> free_buffers;
    // Sink reads land here: the bytes are thrown away, so connections may share it.
    std::unique_ptr<char[]> scratch = std::make_unique<char[]>(buffer_size);
    // Source writes send this constant block, shared read-only by all connections.
    std::unique_ptr<char[]> pattern = std::make_unique<char[]>(buffer_size);
    std::uint64_t accepted = 0;
    std::uint64_t open = 0;
    std::uint64_t max_open = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t requests = 0;

    std::unique_ptr<char[]> take_buffer() {
        if (free_buffers.empty()) {
            return std::make_unique<char[]>(buffer_size);
        }
        auto buffer = std::move(free_buffers.back());
        free_buffers.pop_back();
        return buffer;
    }
    void give_buffer(std::unique_ptr<char[]> buffer) {
        // Keep a few for reuse, free the rest, so a burst does not pin memory forever.
        if (buffer && free_buffers.size() < 64) {
            free_buffers.push_back(std::move(buffer));
        }
    }
};

// Echoes until the client's EOF, then shuts our write side (half-close forwarded back).
// The buffer is borrowed only while data flows: returned after a read that did not fill it.
Task<> serve_echo(Socket& sock, Thread_state& state) {
    std::unique_ptr<char[]> buffer;
    for (;;) {
        if (!buffer) {
            auto [wait_error] = co_await sock.async_wait(Socket::wait_read, nothrow);
            if (wait_error) {
                co_return;
            }
            buffer = state.take_buffer();
        }
        auto [read_error, n] =
            co_await sock.async_read_some(asio::buffer(buffer.get(), buffer_size), nothrow);
        if (read_error == asio::error::eof) {
            boost::system::error_code ignored;
            sock.shutdown(Socket::shutdown_send, ignored);
            break;
        }
        if (read_error) {
            break;
        }
        state.bytes_in += n;
        auto [write_error, written] =
            co_await asio::async_write(sock, asio::buffer(buffer.get(), n), nothrow);
        state.bytes_out += written;
        if (write_error) {
            break;
        }
        if (n < buffer_size) {
            state.give_buffer(std::move(buffer));
        }
    }
    state.give_buffer(std::move(buffer));
}

Task<> serve_sink(Socket& sock, Thread_state& state) {
    for (;;) {
        auto [error, n] =
            co_await sock.async_read_some(asio::buffer(state.scratch.get(), buffer_size), nothrow);
        if (error) {
            co_return;
        }
        state.bytes_in += n;
    }
}

// Writes as fast as the client reads, until the client goes away (EPIPE or reset end it).
Task<> serve_source(Socket& sock, Thread_state& state) {
    for (;;) {
        auto [error, written] = co_await asio::async_write(
            sock, asio::buffer(state.pattern.get(), buffer_size), nothrow);
        state.bytes_out += written;
        if (error) {
            co_return;
        }
    }
}

// Answers every request that ends in a blank line with the same small 200, keep-alive.
// Bodies are not supported: enough for wrk-style GET load.
Task<> serve_http(Socket& sock, Thread_state& state) {
    std::string pending;
    std::vector<asio::const_buffer> replies;
    for (;;) {
        auto [wait_error] = co_await sock.async_wait(Socket::wait_read, nothrow);
        if (wait_error) {
            co_return;
        }
        auto buffer = state.take_buffer();
        auto [read_error, n] =
            co_await sock.async_read_some(asio::buffer(buffer.get(), buffer_size), nothrow);
        if (!read_error) {
            pending.append(buffer.get(), n);
            state.bytes_in += n;
        }
        state.give_buffer(std::move(buffer));
        if (read_error) {
            co_return;
        }
        std::size_t consumed = 0;
        replies.clear();
        for (auto end = pending.find("\r\n\r\n"); end != std::string::npos;
             end = pending.find("\r\n\r\n", consumed)) {
            consumed = end + 4;
            replies.emplace_back(http_response.data(), http_response.size());
        }
        pending.erase(0, consumed);
        if (pending.size() > max_http_request) {
            co_return;
        }
        if (replies.empty()) {
            continue;
        }
        state.requests += replies.size();
        auto [write_error, written] = co_await asio::async_write(sock, replies, nothrow);
        state.bytes_out += written;
        if (write_error) {
            co_return;
        }
        if (pending.empty()) {
            // Give back what an earlier large request grew, so idle keep-alive costs nothing.
            std::string().swap(pending);
        }
    }
}

Task<> serve(Socket sock, Thread_state& state, Mode mode) {
    ++state.accepted;
    state.max_open = std::max(state.max_open, ++state.open);
    boost::system::error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    switch (mode) {
        case Mode::echo:
            co_await serve_echo(sock, state);
            break;
        case Mode::sink:
            co_await serve_sink(sock, state);
            break;
        case Mode::source:
            co_await serve_source(sock, state);
            break;
        case Mode::http:
            co_await serve_http(sock, state);
            break;
    }
    --state.open;
}

// Accepts forever, handing each connection to the next thread in turn. An error never ends the
// loop: it is reported once per kind, then accepting resumes after a pause (EMFILE included).
Task<> accept_loop(Acceptor& acceptor, std::vector<std::unique_ptr<Thread_state>>& threads,
                   Mode mode) {
    Timer pause(acceptor.get_executor());
    std::size_t next = 0;
    std::vector<boost::system::error_code> reported;
    for (;;) {
        Thread_state& target = *threads[next];
        next = (next + 1) % threads.size();
        auto [error, sock] = co_await acceptor.async_accept(target.ctx.get_executor(), nothrow);
        if (error == asio::error::operation_aborted) {
            co_return;
        }
        if (error) {
            if (std::find(reported.begin(), reported.end(), error) == reported.end()) {
                reported.push_back(error);
                std::cerr << "bench_backend: accept: " << error.message()
                          << " (pausing 100 ms; reported once)\n";
            }
            pause.expires_after(std::chrono::milliseconds(100));
            co_await pause.async_wait(nothrow);
            continue;
        }
        asio::co_spawn(target.ctx, serve(std::move(sock), target, mode), asio::detached);
    }
}

std::optional<Mode> parse_mode(const std::string& text) {
    if (text == "echo") {
        return Mode::echo;
    }
    if (text == "sink") {
        return Mode::sink;
    }
    if (text == "source") {
        return Mode::source;
    }
    if (text == "http") {
        return Mode::http;
    }
    return std::nullopt;
}

int usage(const std::string& error) {
    std::cerr << "bench_backend: " << error << "\n"
              << "usage: bench_backend --mode echo|sink|source|http [--port N] "
                 "[--host 127.0.0.1] [--threads N]\n";
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    bench::Options options(std::vector<std::string>(argv + 1, argv + argc), {});
    auto mode = parse_mode(options.get("mode", "echo"));
    std::string host = options.get("host", "127.0.0.1");
    auto port = options.get_int("port", 0, 0, 65535);
    auto thread_count = options.get_int("threads", 1, 1, 64);
    if (!options.check_unused()) {
        return usage(options.error());
    }
    if (!mode) {
        return usage("unknown --mode");
    }
    std::string error;
    // Port 0 is fine for a listener; the parser wants a real port, so check the host with 1.
    auto endpoint = bench::parse_loopback_endpoint(
        (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":1", error);
    if (!endpoint) {
        return usage(error);
    }
    endpoint->port(static_cast<unsigned short>(port));
    auto fd_limit = bench::raise_fd_limit();
    // A parent that had SIGTERM blocked when it forked us would leave it blocked (the mask is
    // inherited), and then SIGTERM would never stop us.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);

    std::vector<std::unique_ptr<Thread_state>> threads;
    for (long long i = 0; i < thread_count; ++i) {
        threads.push_back(std::make_unique<Thread_state>());
        std::fill_n(threads.back()->pattern.get(), buffer_size, 'x');
    }
    asio::io_context& main_ctx = threads.front()->ctx;
    Acceptor acceptor(main_ctx);
    try {
        acceptor.open(endpoint->protocol());
        acceptor.set_option(Acceptor::reuse_address(true));
        acceptor.bind(*endpoint);
        acceptor.listen(asio::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& e) {
        std::cerr << "bench_backend: cannot listen on " << *endpoint << ": " << e.what() << "\n";
        return 2;
    }
    auto local = acceptor.local_endpoint();
    std::cout << "listening on " << local.address().to_string() << ":" << local.port() << std::endl;
    std::cerr << "bench_backend: mode " << options.get("mode", "echo") << ", " << thread_count
              << " thread(s), fd limit " << fd_limit << "\n";

    asio::basic_signal_set<bench::Executor> signals(main_ctx, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int) {
        for (auto& t : threads) {
            t->ctx.stop();
        }
    });
    asio::co_spawn(main_ctx, accept_loop(acceptor, threads, *mode), asio::detached);

    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> runners;
    for (std::size_t i = 1; i < threads.size(); ++i) {
        guards.push_back(asio::make_work_guard(threads[i]->ctx));
        runners.emplace_back([&ctx = threads[i]->ctx] { ctx.run(); });
    }
    main_ctx.run();
    for (auto& runner : runners) {
        runner.join();
    }

    std::uint64_t accepted = 0;
    std::uint64_t max_open = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t requests = 0;
    for (auto& t : threads) {
        accepted += t->accepted;
        max_open += t->max_open;
        bytes_in += t->bytes_in;
        bytes_out += t->bytes_out;
        requests += t->requests;
    }
    std::cerr << "bench_backend: accepted " << accepted << " connections (max open " << max_open
              << (threads.size() > 1 ? ", summed over threads" : "") << "), bytes in " << bytes_in
              << ", out " << bytes_out << ", http requests " << requests << "\n";
    return 0;
}
