// bench_loadgen longlived: the workload tierlb exists for. N long-lived connections (TLS or
// plain) opened in bursts ("everyone connects at 9 am"), each kept alive by a small echo every
// few seconds, a random share closed and as many reopened now and then (churn). It measures
// each stage of every opening (connect, handshake, first echo), the time until all N are
// established, the keep-alive round trips and the errors by kind.
//
// Churn comes from a timer (--churn-every) or, with --control, from commands on stdin, so that
// a driver can look at the servers between two openings (bench/run's distribution scenario):
//   close K     closes K random established connections, answers "closed K"
//   open K [B]  opens K connections, B at a time (default 1: one after the other), answers
//               "opened E errors F" once all have finished (E established, F failed)
//   stop        ends the run (so does end of file on stdin)
// Every wait is bounded: each socket operation by --timeout (the watchdog), the whole run by
// --duration, after which everything still open is closed and the RESULT line printed.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include "bench/tools/loadgen.hpp"

namespace bench::loadgen {

namespace {

using asio::ip::tcp;
using Stdin = asio::posix::basic_stream_descriptor<Executor>;

std::chrono::milliseconds seconds_to_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

double ms_between(clock::time_point from, clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

struct Params {
    std::size_t connections = 100;
    std::size_t burst = 100;
    std::size_t size = 16;  // bytes of each keep-alive exchange (and of the first echo)
    clock::duration interval = std::chrono::seconds(5);
    clock::duration churn_every{};  // zero: no timer churn
    double churn_fraction = 0.1;
    clock::duration progress = std::chrono::seconds(5);  // zero: no progress lines
    bool control = false;
    std::uint64_t seed = 0;  // zero: a random seed
};

// One long-lived connection. Its own coroutine and the run's list of connections share it, so
// a churn close can end it while the coroutine still waits on it.
struct Conn {
    explicit Conn(asio::io_context& ctx) : socket(ctx), timer(ctx) {}
    Socket socket;
    Timer timer;  // the wait until the next keep-alive exchange
    Ssl_ptr ssl;
    std::size_t slot = 0;      // index in Longlived::conns_
    bool established = false;  // connected, handshaken and echoed once
    bool closing = false;      // closed on purpose (churn, end of run): errors do not count
};

// Counts the openings of one batch still in progress; wait() returns once all have finished.
// Single-threaded: the last one to finish always finds the waiter already asleep.
class Countdown {
public:
    explicit Countdown(asio::io_context& ctx) : done_(ctx) {}
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

// How one opening went: where it failed, if it did.
struct Opening {
    boost::system::error_code error;
    bool connecting = true;
    bool handshaking = false;
};

class Longlived {
public:
    Longlived(Thread_state& thread, const Settings& settings, const Params& params)
        : thread_(thread),
          settings_(settings),
          params_(params),
          rng_(params.seed != 0 ? params.seed : std::random_device{}()),
          out_(params.size, 'k') {}

    // Opens the N, then churns (timer or commands) until the end, then closes everything.
    Task<> main();
    // Progress lines, and the end of the run at the deadline or on a signal.
    Task<> watch_the_clock(clock::time_point started);

    // Whether stdin can be read with Asio (a pipe); call before main() with --control.
    bool attach_stdin(std::string& error);

    void add_result(Json_line& json) const;
    std::string summary() const;
    std::size_t open_now() const;

private:
    Task<std::size_t> open(std::size_t count, std::size_t burst);
    Task<> connection(std::shared_ptr<Conn> conn, Countdown& batch);
    Task<Opening> establish(Conn& conn);
    Task<boost::system::error_code> exchange(Conn& conn, std::vector<char>& in);
    std::size_t close_random(std::size_t count);
    void close(Conn& conn);
    void forget(Conn& conn);
    void end_run();
    Task<> churn_by_timer();
    Task<> churn_by_commands();
    Task<bool> sleep_until(clock::time_point at);

    Thread_state& thread_;
    const Settings& settings_;
    const Params params_;
    std::mt19937_64 rng_;
    std::vector<char> out_;
    std::vector<std::shared_ptr<Conn>> conns_;  // every connection opening or open
    std::unique_ptr<Stdin> stdin_;
    bool ending_ = false;

    // Figures.
    Histogram connect_;    // connect() started -> TCP connected
    Histogram handshake_;  // TCP connected -> TLS handshake done
    Histogram establish_;  // connect() started -> first echo back: the whole opening
    Histogram exchange_;   // keep-alive round trips
    std::uint64_t attempts_ = 0;
    std::uint64_t established_ = 0;
    std::uint64_t churn_closed_ = 0;
    std::uint64_t churn_rounds_ = 0;
    std::uint64_t exchanges_ = 0;
    std::uint64_t dropped_ = 0;  // established, then closed or broken by the other side
    std::size_t initial_established_ = 0;
    double initial_ms_ = 0;
    clock::time_point started_{};
    clock::time_point ended_at_{};
};

bool Longlived::attach_stdin(std::string& error) {
    int fd = ::dup(STDIN_FILENO);
    if (fd < 0) {
        error = "--control: cannot dup stdin";
        return false;
    }
    stdin_ = std::make_unique<Stdin>(thread_.ctx);
    boost::system::error_code ec;
    stdin_->assign(fd, ec);  // epoll refuses regular files: the driver must give a pipe
    if (ec) {
        ::close(fd);
        error = "--control: stdin must be a pipe (" + ec.message() + ")";
        return false;
    }
    return true;
}

std::size_t Longlived::open_now() const {
    return static_cast<std::size_t>(
        std::count_if(conns_.begin(), conns_.end(), [](const auto& c) { return c->established; }));
}

// Opens COUNT connections, BURST at a time, each batch finished before the next starts.
// Returns how many got established.
Task<std::size_t> Longlived::open(std::size_t count, std::size_t burst) {
    Countdown batch(thread_.ctx);
    std::uint64_t before = established_;
    for (std::size_t begin = 0; begin < count && !ending_ && !thread_.watchdog.ended();
         begin += burst) {
        std::size_t size = std::min(count, begin + burst) - begin;
        batch.start(size);
        for (std::size_t i = 0; i < size; ++i) {
            auto conn = std::make_shared<Conn>(thread_.ctx);
            conn->slot = conns_.size();
            conns_.push_back(conn);
            thread_.watchdog.spawn(connection(std::move(conn), batch));
        }
        co_await batch.wait();
    }
    co_return static_cast<std::size_t>(established_ - before);
}

// A connection's whole life: the opening, then a keep-alive exchange every interval until it
// is closed on purpose, breaks, or the run ends.
Task<> Longlived::connection(std::shared_ptr<Conn> conn, Countdown& batch) {
    ++attempts_;
    Opening opening = co_await establish(*conn);
    if (opening.error) {
        if (!conn->closing && !thread_.watchdog.ended()) {
            thread_.errors.add(classify(opening.error, opening.connecting, opening.handshaking));
        }
        close(*conn);
        batch.finish_one();
        co_return;
    }
    conn->established = true;
    ++established_;
    batch.finish_one();

    std::vector<char> in(params_.size);
    // A random first delay spreads the exchanges of a burst over the interval.
    std::uniform_int_distribution<long long> offset(0, params_.interval.count());
    auto next = clock::now() + clock::duration(offset(rng_));
    while (!conn->closing && !thread_.watchdog.ended()) {
        conn->timer.expires_at(next);
        co_await conn->timer.async_wait(nothrow);
        if (conn->closing || thread_.watchdog.ended()) {
            break;
        }
        auto error = co_await exchange(*conn, in);
        if (error) {
            if (!conn->closing && !thread_.watchdog.ended()) {
                thread_.errors.add(classify(error, false));
                ++dropped_;
                close(*conn);
            }
            break;
        }
        next += params_.interval;
        next = std::max(next, clock::now());
    }
}

// Connect, handshake (TLS), and one echo of `size` bytes: only then has the connection crossed
// every tier to the backend.
Task<Opening> Longlived::establish(Conn& conn) {
    Opening result;
    Watch watch(thread_.watchdog, conn.socket);
    watch.arm(settings_.timeout);
    auto started = clock::now();
    auto [error] = co_await conn.socket.async_connect(settings_.target, nothrow);
    result.error = error;
    if (error) {
        co_return result;
    }
    result.connecting = false;
    auto connected = clock::now();
    connect_.record(connected - started);
    conn.socket.set_option(tcp::no_delay(true), result.error);
    if (!result.error && settings_.tls) {
        result.handshaking = true;
        conn.socket.non_blocking(true, result.error);
        conn.ssl = settings_.tls->new_ssl(conn.socket.native_handle(), nullptr);
        if (!conn.ssl) {
            result.error = asio::error::no_memory;
        }
        if (!result.error) {
            result.error = co_await tls_handshake(conn.socket, conn.ssl.get());
        }
        if (result.error) {
            co_return result;
        }
        result.handshaking = false;
        handshake_.record(clock::now() - connected);
        if (thread_.tls_info.empty()) {
            thread_.tls_info = tls_describe(conn.ssl.get());
        }
    }
    std::vector<char> in(params_.size);
    if (!result.error) {
        result.error = co_await exchange(conn, in);
    }
    watch.disarm();
    if (!result.error) {
        establish_.record(clock::now() - started);
    }
    co_return result;
}

// Sends `size` bytes and reads the echo back, within --timeout.
Task<boost::system::error_code> Longlived::exchange(Conn& conn, std::vector<char>& in) {
    Watch watch(thread_.watchdog, conn.socket);
    watch.arm(settings_.timeout);
    auto started = clock::now();
    boost::system::error_code error;
    if (conn.ssl) {
        error =
            (co_await tls_write_all(conn.socket, conn.ssl.get(), out_.data(), out_.size())).error;
        if (!error) {
            error =
                (co_await tls_read_exact(conn.socket, conn.ssl.get(), in.data(), in.size())).error;
        }
    } else {
        auto [write_error, written] =
            co_await asio::async_write(conn.socket, asio::buffer(out_), nothrow);
        error = write_error;
        if (!error) {
            auto [read_error, n] =
                co_await asio::async_read(conn.socket, asio::buffer(in), nothrow);
            error = read_error;
        }
    }
    watch.disarm();
    if (!error && conn.established) {
        exchange_.record(clock::now() - started);
        ++exchanges_;
    }
    co_return error;
}

// Closes a connection on purpose (close_notify first over TLS) and forgets it; its coroutine
// wakes up with an error it does not count, and ends.
void Longlived::close(Conn& conn) {
    if (conn.closing) {
        return;
    }
    conn.closing = true;
    if (conn.ssl && conn.established) {
        tls_send_close_notify(conn.ssl.get());
    }
    boost::system::error_code ignored;
    conn.socket.close(ignored);
    conn.timer.cancel();
    forget(conn);
}

void Longlived::forget(Conn& conn) {
    std::size_t slot = conn.slot;
    if (slot >= conns_.size() || conns_[slot].get() != &conn) {
        return;
    }
    // Swap with the last one: the order of conns_ means nothing.
    conns_[slot] = std::move(conns_.back());
    conns_[slot]->slot = slot;
    conns_.pop_back();
}

// Closes COUNT established connections picked at random (fewer if fewer are open).
std::size_t Longlived::close_random(std::size_t count) {
    std::vector<std::shared_ptr<Conn>> open;
    for (const auto& c : conns_) {
        if (c->established) {
            open.push_back(c);
        }
    }
    count = std::min(count, open.size());
    for (std::size_t i = 0; i < count; ++i) {
        std::uniform_int_distribution<std::size_t> pick(i, open.size() - 1);
        std::swap(open[i], open[pick(rng_)]);
        close(*open[i]);
    }
    churn_closed_ += count;
    return count;
}

void Longlived::end_run() {
    if (ending_) {
        return;
    }
    ending_ = true;
    ended_at_ = clock::now();
    // Copies: close() edits conns_.
    auto all = conns_;
    for (auto& conn : all) {
        close(*conn);
    }
    if (stdin_) {
        boost::system::error_code ignored;
        stdin_->cancel(ignored);
    }
}

// Sleeps until AT in short steps; false if the run ended meanwhile.
Task<bool> Longlived::sleep_until(clock::time_point at) {
    Timer timer(thread_.ctx);
    while (clock::now() < at && !ending_ && !thread_.watchdog.ended()) {
        timer.expires_at(std::min(at, clock::now() + std::chrono::milliseconds(50)));
        co_await timer.async_wait(nothrow);
    }
    co_return !ending_ && !thread_.watchdog.ended();
}

Task<> Longlived::churn_by_timer() {
    if (params_.churn_every.count() == 0) {
        co_await sleep_until(clock::time_point::max());
        co_return;
    }
    auto next = clock::now() + params_.churn_every;
    while (co_await sleep_until(next)) {
        auto count = static_cast<std::size_t>(
            std::lround(static_cast<double>(open_now()) * params_.churn_fraction));
        auto started = clock::now();
        auto closed = close_random(count);
        auto reopened = co_await open(closed, 1);
        ++churn_rounds_;
        std::cout << "churn closed " << closed << " reopened " << reopened << " in "
                  << static_cast<long long>(ms_between(started, clock::now())) << " ms"
                  << std::endl;
        next += params_.churn_every;
    }
}

Task<> Longlived::churn_by_commands() {
    std::string buffer;
    while (!ending_ && !thread_.watchdog.ended()) {
        auto [error, n] =
            co_await asio::async_read_until(*stdin_, asio::dynamic_buffer(buffer), '\n', nothrow);
        if (error) {
            co_return;  // end of file, or the run ended (cancelled)
        }
        std::istringstream line(buffer.substr(0, n - 1));
        buffer.erase(0, n);
        std::string verb;
        std::size_t count = 0;
        std::size_t burst = 1;
        line >> verb >> count >> burst;
        if (verb == "stop") {
            co_return;
        }
        if (verb == "close") {
            auto closed = close_random(count);
            ++churn_rounds_;
            std::cout << "closed " << closed << std::endl;
        } else if (verb == "open") {
            auto errors_before = thread_.errors.total();
            auto opened = co_await open(count, std::max<std::size_t>(burst, 1));
            std::cout << "opened " << opened << " errors " << thread_.errors.total() - errors_before
                      << std::endl;
        } else {
            std::cerr << "bench_loadgen longlived: unknown command '" << verb << "'\n";
            std::cout << "unknown " << verb << std::endl;
        }
    }
}

Task<> Longlived::main() {
    started_ = clock::now();
    std::cout << "opening " << params_.connections << std::endl;
    initial_established_ = co_await open(params_.connections, params_.burst);
    initial_ms_ = ms_between(started_, clock::now());
    std::cout << "established " << initial_established_ << " in "
              << static_cast<long long>(initial_ms_) << " ms" << std::endl;
    if (params_.control) {
        co_await churn_by_commands();
    } else {
        co_await churn_by_timer();
    }
    end_run();
}

Task<> Longlived::watch_the_clock(clock::time_point started) {
    Timer timer(thread_.ctx);
    auto next_line = started + params_.progress;
    while (!ending_) {
        timer.expires_after(std::chrono::milliseconds(50));
        co_await timer.async_wait(nothrow);
        if (thread_.watchdog.ended() || stop_requested.load(std::memory_order_relaxed)) {
            end_run();
            break;
        }
        if (params_.progress.count() > 0 && clock::now() >= next_line) {
            next_line += params_.progress;
            std::cout << "progress " << static_cast<long long>(ms_between(started, clock::now()))
                      << " ms: open " << open_now() << ", established " << established_
                      << ", closed by churn " << churn_closed_ << ", exchanges " << exchanges_
                      << ", errors " << thread_.errors.total() << std::endl;
        }
    }
}

std::string latency_json(const Histogram& histogram) {
    Json_line json;
    add_latency(json, histogram);
    return json.str();
}

// The distribution as [[quantile, ms], ...]: 1% steps, then p99.9 and the maximum, for plots.
std::string cdf_json(const Histogram& histogram) {
    std::string text = "[";
    auto point = [&](double q) {
        char buffer[64];
        std::snprintf(buffer, sizeof buffer, "%s[%.3f,%.4f]", text.size() > 1 ? "," : "", q,
                      histogram.quantile_ms(q));
        text += buffer;
    };
    if (histogram.count() > 0) {
        for (int percent = 1; percent <= 99; ++percent) {
            point(percent / 100.0);
        }
        point(0.999);
        point(1.0);
    }
    return text + "]";
}

void Longlived::add_result(Json_line& json) const {
    // The handshake where there is one, else the TCP connect: what each opening waited for.
    const Histogram& opening = settings_.tls ? handshake_ : connect_;
    auto held = ms_between(started_, ended_at_ == clock::time_point{} ? clock::now() : ended_at_);
    json.add("mode", "longlived")
        .add("tls", settings_.tls ? 1 : 0)
        .add("requested", static_cast<std::uint64_t>(params_.connections))
        .add("burst", static_cast<std::uint64_t>(params_.burst))
        .add("established_initial", static_cast<std::uint64_t>(initial_established_))
        .add("establish_ms", initial_ms_)
        .add("attempts", attempts_)
        .add("established_total", established_)
        .add("churn_rounds", churn_rounds_)
        .add("churn_closed", churn_closed_)
        .add("exchanges", exchanges_)
        .add("dropped", dropped_)
        .add("errors", thread_.errors.total())
        .add_raw("error_kinds", thread_.errors.json())
        .add("open_at_end", static_cast<std::uint64_t>(open_now()))
        .add("run_s", held / 1000.0)
        .add("handshake_p50_ms", opening.quantile_ms(0.50))
        .add("handshake_p99_ms", opening.quantile_ms(0.99))
        .add("exchange_p50_ms", exchange_.quantile_ms(0.50))
        .add("exchange_p99_ms", exchange_.quantile_ms(0.99))
        .add_raw("connect", latency_json(connect_))
        .add_raw("handshake", latency_json(handshake_))
        .add_raw("establish", latency_json(establish_))
        .add_raw("exchange", latency_json(exchange_))
        .add("cdf_of", settings_.tls ? "handshake" : "connect")
        .add_raw("handshake_cdf_ms", cdf_json(opening))
        .add("loadgen_cpu_s", self_cpu_seconds());
}

std::string Longlived::summary() const {
    const Histogram& opening = settings_.tls ? handshake_ : connect_;
    std::ostringstream text;
    text.setf(std::ios::fixed);
    text.precision(3);
    text << "longlived" << (settings_.tls ? " tls" : "") << ": " << initial_established_ << "/"
         << params_.connections << " established in " << initial_ms_ << " ms; "
         << (settings_.tls ? "handshake" : "connect") << " ms p50 " << opening.quantile_ms(0.5)
         << " p99 " << opening.quantile_ms(0.99) << "; " << exchanges_ << " exchanges, ms p50 "
         << exchange_.quantile_ms(0.5) << " p99 " << exchange_.quantile_ms(0.99) << "; churn "
         << churn_closed_ << " closed; dropped " << dropped_ << ", errors "
         << thread_.errors.total();
    return text.str();
}

}  // namespace

int run_longlived(Runtime& runtime, Options& options) {
    Params params;
    params.connections = static_cast<std::size_t>(options.get_int("connections", 100, 1, 1000000));
    params.burst = static_cast<std::size_t>(options.get_int("burst", 100, 1, 1000000));
    params.size = static_cast<std::size_t>(options.get_int("size", 16, 1, 1 << 20));
    params.interval = seconds_to_ms(options.get_double("interval", 5, 0.01, 3600));
    params.churn_every = seconds_to_ms(options.get_double("churn-every", 0, 0, 3600));
    params.churn_fraction = options.get_double("churn-fraction", 0.1, 0, 1);
    params.progress = seconds_to_ms(options.get_double("progress", 5, 0, 3600));
    params.seed = static_cast<std::uint64_t>(options.get_int("seed", 0, 0, 1LL << 62));
    params.control = options.has("control");
    double duration = options.get_double("duration", 60, 0.1, 86400);
    if (!options.check_unused()) {
        return usage_error("longlived", options.error());
    }
    if (runtime.settings().threads != 1) {
        return usage_error("longlived", "runs on one thread (--threads 1)");
    }
    if (params.control && params.churn_every.count() > 0) {
        return usage_error("longlived", "--control and --churn-every contradict each other");
    }

    auto& thread = *runtime.threads().front();
    Longlived run(thread, runtime.settings(), params);
    std::string error;
    if (params.control && !run.attach_stdin(error)) {
        return usage_error("longlived", error);
    }
    auto started = clock::now();
    runtime.run_phase([&](Thread_state& state) -> Task<> {
        state.watchdog.reset(started + seconds_to_ms(duration));
        state.watchdog.spawn(run.main());
        state.watchdog.spawn(run.watch_the_clock(started));
        co_await state.watchdog.run();
    });
    Json_line json;
    run.add_result(json);
    if (runtime.settings().tls) {
        json.add_raw("tls_info", first_tls_info(runtime));
    }
    print_result(run.summary(), json);
    return 0;
}

}  // namespace bench::loadgen
