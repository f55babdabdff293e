// bench_loadgen: the load generator of the benchmarks (see bench/README.md).
//
//   bench_loadgen --connect HOST:PORT [--threads N] [--timeout S] [--warmup S] MODE [options]
//
// Global options may come before or after MODE. Each run prints one human-readable line and one
// "RESULT {json}" line on stdout. Connection errors are counted, never fatal.

#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "bench/tools/loadgen.hpp"

namespace {

constexpr const char* help_text =
    R"(usage: bench_loadgen --connect HOST:PORT [global options] MODE [mode options]

global options (before or after MODE):
  --connect HOST:PORT   target, loopback only (127.0.0.0/8 or [::1])
  --threads N           io_context threads (default 1)
  --timeout S           bound on every connect/read/write (default 5)
  --warmup S            seconds left out of the figures at the start (default 1;
                        a quarter of the run when the run is shorter than twice that)
  --tls                 TLS over every connection (OpenSSL client, TLS 1.2 minimum);
                        with --tls:
  --sni NAME            server_name to send (default: none)
  --alpn LIST           ALPN protocols to offer, comma-separated (default: none)
  --resume              rate: offer the latest session ticket on each new connection
  --no-verify           do not verify the server's certificate (the default)
  --ca FILE             verify the server's certificate against FILE (and --sni's name)
  --light               rate: a light TLS 1.3 client of our own (X25519, AES-GCM) that
                        neither decodes the certificate nor checks its signature and
                        reuses one key share per thread, so that the servers, not the
                        client, are what fills the cores; full handshakes only

modes:
  rate    --concurrency C --duration S --size B
          C workers loop: connect, send B bytes, read B back (echo backend), close.
          Reports connections/s and connect+exchange latency. With --tls: a full
          handshake per connection (or a resumption with --resume), close_notify before
          the close; reports handshakes/s and the handshake latency apart.
  latency --connections C --duration S --size B --interval MS
          C persistent connections, each sends B bytes and waits for the echo every MS
          (0 = back to back). Reports round-trip latency. Plain TCP only.
  bulk    --connections C --duration S --direction up|down|both
          streams to a sink (up), from a source (down) or through an echo (both) backend.
          Reports MB/s (10^6 bytes) counted at the client.
  idle    --connections N --burst B [--hold S]
          opens N connections B at a time (with --tls: each with a full handshake), each
          proven by a 1-byte echo, prints "established N in T ms", holds them until
          SIGTERM/SIGINT or S seconds (default 3600).
  longlived --connections N --burst B [--size 16] [--interval S] [--duration S]
          [--churn-every S --churn-fraction F | --control] [--progress S] [--seed N]
          the long-lived workload: opens N connections B at a time (with --tls: each a full
          handshake), each proven by a SIZE-byte echo, keeps each alive with a SIZE-byte echo
          every S seconds (default 5), and every --churn-every seconds closes a random
          fraction F (default 0.1) and reopens as many one after the other. --control takes
          the churn from stdin instead: "close K", "open K [B]", "stop". Prints "opening N",
          "established N in T ms", progress lines every --progress S (default 5), and ends
          after --duration S (default 60). Reports the handshake (or connect) latency and
          its distribution, time to all established, keep-alive latency, errors by kind.
          One thread only.
)";

const std::set<std::string> modes = {"rate", "latency", "bulk", "idle", "longlived"};
// The options that take no value.
const std::set<std::string> flags = {"tls", "resume", "no-verify", "control", "light"};

}  // namespace

int main(int argc, char** argv) {
    using namespace bench::loadgen;
    std::vector<std::string> args(argv + 1, argv + argc);
    for (const auto& arg : args) {
        if (arg == "--help" || arg == "-h") {
            std::cout << help_text;
            return 0;
        }
    }
    // The mode is the first word that is not an option's value.
    std::string mode;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i].rfind("--", 0) == 0) {
            if (!flags.contains(args[i].substr(2))) {
                ++i;
            }
            continue;
        }
        mode = args[i];
        args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
        break;
    }
    if (!modes.contains(mode)) {
        std::cerr << "bench_loadgen: " << (mode.empty() ? "no mode given" : "unknown mode " + mode)
                  << "\n"
                  << help_text;
        return 1;
    }

    bench::Options options(args, flags);
    Settings settings;
    std::string error;
    auto target = bench::parse_loopback_endpoint(options.get("connect", ""), error);
    settings.threads = static_cast<std::size_t>(options.get_int("threads", 1, 1, 64));
    settings.timeout = std::chrono::milliseconds(
        static_cast<long long>(options.get_double("timeout", 5, 0.01, 3600) * 1000));
    settings.warmup = std::chrono::milliseconds(
        static_cast<long long>(options.get_double("warmup", 1, 0, 3600) * 1000));
    bool tls = options.has("tls");
    Tls_options tls_options;
    tls_options.sni = options.get("sni", "");
    tls_options.alpn = options.get("alpn", "");
    tls_options.resume = options.has("resume");
    tls_options.ca_file = options.get("ca", "");
    tls_options.light = options.has("light");
    bool no_verify = options.has("no-verify");
    if (!options.ok()) {
        return usage_error(mode, options.error());
    }
    if (!target) {
        return usage_error(mode, "--connect: " + error);
    }
    settings.target = *target;
    bool tls_only = !tls_options.sni.empty() || !tls_options.alpn.empty() || tls_options.resume ||
                    !tls_options.ca_file.empty() || no_verify || tls_options.light;
    if (!tls && tls_only) {
        return usage_error(mode,
                           "--sni, --alpn, --resume, --no-verify, --ca and --light need --tls");
    }
    if (no_verify && !tls_options.ca_file.empty()) {
        return usage_error(mode, "--no-verify and --ca contradict each other");
    }
    if (tls_options.resume && mode != "rate") {
        return usage_error(mode, "--resume is for the rate mode");
    }
    if (tls_options.light &&
        (mode != "rate" || tls_options.resume || !tls_options.ca_file.empty())) {
        return usage_error(mode,
                           "--light is for the rate mode's full handshakes (no --resume, no --ca)");
    }
    if (tls) {
        settings.tls = Tls_client::create(tls_options, error);
        if (!settings.tls) {
            return usage_error(mode, error);
        }
    }

    auto fd_limit = bench::raise_fd_limit();
    start_signal_thread();
    std::cerr << "bench_loadgen " << mode << (tls ? " (tls)" : "") << " -> " << settings.target
              << ", " << settings.threads << " thread(s), fd limit " << fd_limit << "\n";

    Runtime runtime(settings);
    if (mode == "rate") {
        return run_rate(runtime, options);
    }
    if (mode == "latency") {
        return run_latency(runtime, options);
    }
    if (mode == "bulk") {
        return run_bulk(runtime, options);
    }
    if (mode == "idle") {
        return run_idle(runtime, options);
    }
    return run_longlived(runtime, options);
}
