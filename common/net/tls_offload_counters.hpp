#pragma once
// How many TLS connections this process took over from OpenSSL once idle, and how many it
// kept there (tune.ssl.idle-offload, worker/tls_takeover.hpp). The worker counts; `show info`
// reports them as SslIdleOffloaded and SslIdleKept.

#include <atomic>
#include <cstdint>

namespace tierlb::net {

struct TlsOffloadCounters {
    std::atomic<std::uint64_t> taken{0};
    std::atomic<std::uint64_t> kept{0};
};

inline TlsOffloadCounters tls_offload_counters;

}  // namespace tierlb::net
