// Helpers shared by bench_loadgen and bench_backend: file-descriptor limit, loopback-only
// endpoints, a small option parser, a bounded latency histogram and a one-line JSON writer.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace bench {

// Sockets, timers and coroutines bound to io_context's own executor rather than
// any_io_executor: every object lives on one io_context (one thread), the concrete executor is
// cheaper per operation, and it keeps the type-erased executor (and its warnings) out.
using tcp = boost::asio::ip::tcp;
using Executor = boost::asio::io_context::executor_type;
using Socket = boost::asio::basic_stream_socket<tcp, Executor>;
using Acceptor = boost::asio::basic_socket_acceptor<tcp, Executor>;
using Timer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <typename T = void>
using Task = boost::asio::awaitable<T, Executor>;
// Completion token for coroutines on our executor: errors come back as values, never thrown.
inline constexpr auto nothrow = boost::asio::as_tuple(boost::asio::use_awaitable_t<Executor>{});

// Raises RLIMIT_NOFILE: the soft limit to the hard one, and both to at least `wanted` when the
// process may (root), since 20,000 connections need more descriptors than the usual 1024 or
// 20000. Returns the soft limit in force afterwards.
std::uint64_t raise_fd_limit(std::uint64_t wanted = 65536);

// Parses "HOST:PORT" or "[V6]:PORT". Only loopback addresses are accepted: the benchmark tools
// must never send traffic anywhere else. Returns std::nullopt and sets `error` otherwise.
std::optional<tcp::endpoint> parse_loopback_endpoint(std::string_view text, std::string& error);

// Options of the form `--name value` or `--flag`. Unknown names are reported, so a typo in a
// scenario script fails loudly instead of silently running the default.
class Options {
public:
    // `flags` are the names that take no value; every other `--name` takes the next argument.
    Options(const std::vector<std::string>& args, const std::set<std::string>& flags);

    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }

    bool has(const std::string& name) const;
    std::string get(const std::string& name, const std::string& fallback) const;
    long long get_int(const std::string& name, long long fallback, long long min, long long max);
    double get_double(const std::string& name, double fallback, double min, double max);

    // After every get: fails if an option was given that nobody asked for.
    bool check_unused();

private:
    std::map<std::string, std::string> values_;
    mutable std::set<std::string> used_;
    std::string error_;
};

// Log-linear histogram of durations in nanoseconds: 128 sub-buckets per power of two, so every
// recorded value is known within 0.8%, in a fixed ~60 KB whatever the number of samples.
class Histogram {
public:
    void record(std::chrono::nanoseconds value);
    void merge(const Histogram& other);

    std::uint64_t count() const { return count_; }
    // The value at quantile q in [0, 1], in milliseconds; 0 when empty.
    double quantile_ms(double q) const;
    double max_ms() const { return static_cast<double>(max_ns_) / 1e6; }
    double mean_ms() const;

private:
    static constexpr int sub_bits = 7;
    static constexpr std::size_t bucket_count = (64 - sub_bits + 1) << sub_bits;
    static std::size_t index_of(std::uint64_t ns);
    static std::uint64_t midpoint_of(std::size_t index);

    std::array<std::uint64_t, bucket_count> buckets_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ns_ = 0;
    long double sum_ns_ = 0;
};

// Builds the one-line JSON object printed after "RESULT " for the scenario driver.
class Json_line {
public:
    Json_line& add(std::string_view key, std::string_view value);
    Json_line& add(std::string_view key, const char* value) {
        return add(key, std::string_view(value));
    }
    Json_line& add(std::string_view key, double value);
    Json_line& add(std::string_view key, std::uint64_t value);
    Json_line& add(std::string_view key, long long value);
    Json_line& add(std::string_view key, int value) {
        return add(key, static_cast<long long>(value));
    }
    // A nested object, already serialised (e.g. another Json_line's str()).
    Json_line& add_raw(std::string_view key, std::string_view json);
    std::string str() const { return "{" + body_ + "}"; }

private:
    void key(std::string_view k);
    std::string body_;
};

// Adds the histogram's p50/p90/p99/max (milliseconds) to `json`.
void add_latency(Json_line& json, const Histogram& histogram);

// Prints `human` and then "RESULT <json>" on stdout and flushes, so a driver reading a pipe
// sees them at once.
void print_result(const std::string& human, const Json_line& json);

}  // namespace bench
