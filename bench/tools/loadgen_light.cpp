// The rate mode with --light: the same loop as the OpenSSL rate worker (connect, full
// handshake, send `size` bytes, read them back, close_notify, close), with the light TLS 1.3
// client of tls13_light.hpp, whose bytes this file moves.

#include <atomic>
#include <iostream>
#include <optional>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "bench/tools/loadgen.hpp"
#include "bench/tools/tls13_light.hpp"

namespace bench::loadgen {

namespace {

using tls13_light::Bytes;

// The error a failed light connection counts as, its reason on stderr for the first few.
boost::system::error_code failure_of(const tls13_light::Connection& tls) {
    if (tls.peer_closed()) {
        return asio::error::eof;
    }
    static std::atomic<int> reported{0};
    if (reported.fetch_add(1, std::memory_order_relaxed) < 5) {
        std::cerr << "bench_loadgen: light TLS client: " << tls.error() << "\n";
    }
    return {1, tls_category()};
}

// Writes OUT whole to SOCKET and empties it.
Task<boost::system::error_code> write_out(Socket& socket, Bytes& out) {
    auto [error, written] = co_await asio::async_write(socket, asio::buffer(out), nothrow);
    out.clear();
    co_return error;
}

// Reads from SOCKET into TLS until DONE() or a failure.
template <typename Done>
Task<boost::system::error_code> read_until(Socket& socket, tls13_light::Connection& tls,
                                           Bytes& buffer, Bytes& out, Bytes& app, Done done) {
    while (!done()) {
        auto [error, n] = co_await socket.async_read_some(asio::buffer(buffer), nothrow);
        if (error) {
            co_return error;
        }
        if (!tls.receive({buffer.data(), n}, out, app)) {
            co_return failure_of(tls);
        }
    }
    co_return boost::system::error_code{};
}

}  // namespace

Task<> light_rate_worker(Thread_state& thread, const Settings& settings, std::size_t size,
                         Window window) {
    Socket socket(thread.ctx);
    Watch watch(thread.watchdog, socket);
    const Bytes request(size, 'r');
    Bytes buffer(16 * 1024 + 512);  // one whole record per read at most
    Bytes out;
    Bytes app;
    while (!thread.watchdog.ended()) {
        Tls_attempt attempt;
        co_await connect_attempt(socket, watch, settings, attempt);
        boost::system::error_code& error = attempt.error;
        std::optional<tls13_light::Connection> tls;
        out.clear();
        app.clear();
        if (!error) {
            attempt.handshaking = true;
            tls.emplace(settings.tls->light_options());
            if (!tls->start(out)) {
                error = failure_of(*tls);
            }
        }
        if (!error) {
            error = co_await write_out(socket, out);
        }
        if (!error) {
            error = co_await read_until(socket, *tls, buffer, out, app,
                                        [&] { return tls->established(); });
        }
        if (!error) {
            attempt.handshaking = false;
            attempt.handshaken = clock::now();
            // The client's Finished and the request leave in one write, as browsers send them.
            if (!tls->send(request, out)) {
                error = failure_of(*tls);
            }
        }
        if (!error) {
            error = co_await write_out(socket, out);
        }
        if (!error) {
            error = co_await read_until(socket, *tls, buffer, out, app,
                                        [&] { return app.size() >= size; });
            attempt.received = app.size();
        }
        watch.disarm();
        attempt.finished = clock::now();
        if (!error) {
            if (thread.tls_info.empty()) {
                thread.tls_info = tls->describe();
            }
            // close_notify without waiting for the peer's, as the OpenSSL worker sends it: a
            // few bytes into an empty send buffer, which cannot block.
            if (tls->close_notify(out)) {
                boost::system::error_code ignored;
                socket.send(asio::buffer(out), 0, ignored);
            }
        }
        boost::system::error_code ignored;
        socket.close(ignored);
        co_await account_tls_attempt(thread, window, attempt);
    }
}

}  // namespace bench::loadgen
