// bench_loadgen internals: the per-thread runtime (one io_context per thread, run in phases),
// the watchdog that bounds every socket operation, error accounting, and the modes.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "bench/tools/common.hpp"
#include "bench/tools/loadgen_tls.hpp"

namespace bench::loadgen {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

// Set by the signal thread on SIGINT/SIGTERM; every mode ends early, cleanly, when it is set.
extern std::atomic<bool> stop_requested;

// Blocks SIGINT/SIGTERM in every thread (call before starting any) and starts a thread that
// waits for them and sets stop_requested. SIGPIPE is ignored.
void start_signal_thread();

// handshake: the TLS handshake failed (alert, eof or reset before it completed); tls: a TLS
// protocol error after it.
enum class Error_kind : std::size_t {
    connect,
    timeout,
    reset,
    eof,
    short_read,
    handshake,
    tls,
    other,
    count
};

struct Error_counts {
    std::array<std::uint64_t, static_cast<std::size_t>(Error_kind::count)> by_kind{};

    void add(Error_kind kind) { ++by_kind[static_cast<std::size_t>(kind)]; }
    std::uint64_t total() const;
    void merge(const Error_counts& other);
    std::string json() const;  // {"connect":N,...}, only the kinds that occurred
};

// Which kind an error is; `connecting` says whether it happened during connect, `handshaking`
// during the TLS handshake.
Error_kind classify(const boost::system::error_code& error, bool connecting,
                    bool handshaking = false);

class Watchdog;

// A socket registered with the watchdog for the lifetime of this object.
class Watch {
public:
    Watch(Watchdog& dog, Socket& socket);
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    void arm(clock::duration timeout);
    void disarm();

private:
    Watchdog& dog_;
    std::size_t slot_;
};

// Bounds every socket operation in one thread with one periodic timer instead of one timer per
// operation (cheaper, so the load generator leaves more of the 2 cores to the proxies). Each
// tick cancels the operations past their deadline, and all armed ones once the run has ended.
class Watchdog {
public:
    explicit Watchdog(asio::io_context& ctx) : ctx_(ctx) {}

    // Starts a phase that ends at `end` (or on stop_requested).
    void reset(clock::time_point end);
    bool ended() const { return ended_; }

    // Spawns a worker coroutine on this thread; run() returns once all have finished.
    void spawn(Task<> worker);
    Task<> run();

private:
    friend class Watch;
    struct Entry {
        Socket* socket = nullptr;
        clock::time_point deadline = clock::time_point::max();
    };
    void tick(clock::time_point now);

    asio::io_context& ctx_;
    std::vector<Entry> entries_;
    std::vector<std::size_t> free_slots_;
    clock::time_point end_ = clock::time_point::max();
    bool ended_ = false;
    std::size_t active_ = 0;
};

// Everything one thread owns; read by the main thread only between phases.
struct Thread_state {
    explicit Thread_state(std::size_t i) : index(i) {}

    std::size_t index;
    asio::io_context ctx{1};
    Watchdog watchdog{ctx};
    Histogram latency;
    Error_counts errors;
    std::uint64_t completed = 0;
    std::uint64_t bytes_up = 0;
    std::uint64_t bytes_down = 0;
    std::uint64_t dropped = 0;
    // Work done over the whole run, warm-up and tail included: what the proxies' CPU time,
    // read around the whole run, is divided by.
    std::uint64_t completed_all = 0;
    std::uint64_t bytes_all = 0;
    std::vector<Socket> sockets;  // persistent connections, reserved up front

    // TLS runs only. The rate mode splits each connection into its stages.
    Histogram connect_latency;    // TCP connect
    Histogram handshake_latency;  // TLS handshake, after the connect
    Histogram exchange_latency;   // the echo, after the handshake
    std::uint64_t resumed = 0;    // handshakes that resumed a session (in the window)
    std::vector<Ssl_ptr> ssl;     // one per entry of `sockets` (null where it failed)
    Session_ptr session;          // --resume: the latest ticket, offered by the next connect
    std::string tls_info;         // tls_describe() of the first handshake of this thread
};

struct Settings {
    asio::ip::tcp::endpoint target;
    std::size_t threads = 1;
    clock::duration timeout = std::chrono::seconds(5);  // per operation
    clock::duration warmup = std::chrono::seconds(1);   // excluded from the figures
    std::shared_ptr<const Tls_client> tls;              // null: plain TCP
};

// The measured part of a timed run: [measure_from, end].
struct Window {
    clock::time_point start;
    clock::time_point measure_from;
    clock::time_point end;
    bool contains(clock::time_point t) const { return t >= measure_from && t <= end; }
};

class Runtime {
public:
    explicit Runtime(const Settings& settings);

    // Runs body(thread) on every thread's io_context, each on its own OS thread, and returns
    // when every io_context has run out of work.
    void run_phase(const std::function<Task<>(Thread_state&)>& body);

    // Connects `per_thread(i)` persistent sockets on each thread i into Thread_state::sockets;
    // the ones that fail are counted and left closed.
    void connect_all(std::size_t total);

    // A window of `duration` starting now, the warm-up cut off (or a quarter of a short run).
    Window window(clock::duration duration) const;

    // The share of `total` items that thread i takes (spread round-robin).
    std::size_t share(std::size_t total, std::size_t i) const;

    Histogram merged_latency() const { return merged(&Thread_state::latency); }
    Histogram merged(Histogram Thread_state::*field) const;
    Error_counts merged_errors() const;
    std::uint64_t sum(std::uint64_t Thread_state::*field) const;
    std::size_t open_sockets() const;
    void close_all();

    const Settings& settings() const { return settings_; }
    std::vector<std::unique_ptr<Thread_state>>& threads() { return threads_; }
    const std::vector<std::unique_ptr<Thread_state>>& threads() const { return threads_; }

private:
    Settings settings_;
    std::vector<std::unique_ptr<Thread_state>> threads_;
};

// The modes; each returns the process exit code (0 even when connections failed: errors are
// reported, never fatal). `options` holds the mode's own options.
int run_rate(Runtime& runtime, Options& options);
int run_latency(Runtime& runtime, Options& options);
int run_bulk(Runtime& runtime, Options& options);
int run_idle(Runtime& runtime, Options& options);
int run_longlived(Runtime& runtime, Options& options);

// One connection of a TLS rate worker: when each stage ended, and how the connection ended.
struct Tls_attempt {
    clock::time_point started = clock::now();
    clock::time_point connected = started;
    clock::time_point handshaken = started;
    clock::time_point finished = started;
    boost::system::error_code error;
    bool connect_failed = false;
    bool handshaking = false;  // the error came during the TLS handshake
    std::size_t received = 0;  // echo bytes read before the error
    bool resumed = false;
};

// Begins ATTEMPT: arms WATCH, connects SOCKET to the target and, once connected, notes when
// and turns Nagle off. The outcome is in attempt.error and attempt.connect_failed.
Task<> connect_attempt(Socket& socket, Watch& watch, const Settings& settings,
                       Tls_attempt& attempt);

// Counts ATTEMPT in THREAD's figures: a failure by its kind (then a short back-off before the
// next attempt), or a success with, inside WINDOW, its latency stage by stage.
Task<> account_tls_attempt(Thread_state& thread, const Window& window, const Tls_attempt& attempt);

// The rate mode's worker with --light (loadgen_light.cpp): as the OpenSSL one, each stage
// timed apart, with tls13_light's client.
Task<> light_rate_worker(Thread_state& thread, const Settings& settings, std::size_t size,
                         Window window);

// After a failure, waits a little before the worker retries, so that a refused port does not
// become a spin.
Task<> back_off(asio::io_context& ctx);

// Connects sockets[index] of THREAD, then (TLS runs) handshakes into ssl[index]; a failure is
// counted and leaves the socket closed.
Task<> connect_one(Thread_state& thread, std::size_t index, const Settings& settings);

// The first handshake's description among the threads ("{}" when none), and this process's
// CPU time so far (user + system, seconds): the load generator's own share of the 2 cores.
std::string first_tls_info(const Runtime& runtime);
double self_cpu_seconds();

// Prints a usage error for `mode` on stderr and returns 1.
int usage_error(const std::string& mode, const std::string& error);

}  // namespace bench::loadgen
