#pragma once
// The automatic maxconn (no global `maxconn`), HAProxy's way (compute_ideal_maxconn): the
// descriptors the process needs whatever its load are set aside -- its listening sockets,
// one per health check and per hand-off control connection, its log sockets, its stats
// sockets, each thread's event-loop descriptors and a few of its own -- and the rest gives
// two per connection (client and server). A process started with a low limit (ulimit -n 64)
// then stops accepting before a connection or a check finds no descriptor.

#include <cstdint>

#include "config/model.hpp"

namespace tierlb::master {

struct FdReserve {
    std::uint64_t listeners = 0;  // listening sockets (the master holds every process's)
    std::uint64_t checks = 0;     // servers checked, or reached over a hand-off connection
    std::uint64_t logs = 0;       // log targets
    std::uint64_t stats = 0;      // stats sockets and pages, and one client of each
    std::uint64_t threads = 0;    // epoll, its wake-up, timers and the poller, per thread
    std::uint64_t base = 0;       // stdin/out/err, the master's channel, OpenSSL, spdlog

    std::uint64_t total() const { return listeners + checks + logs + stats + threads + base; }
};

// What process PROCESS of CONFIG sets aside; 0 is the master.
FdReserve fd_reserve(const config::Configuration& config, int process);

// The automatic maxconn with FILES descriptors: (FILES - reserve) / 2, at least 1. HAProxy
// never goes below 100 (it then warns that descriptors are missing); tierlb keeps to what the
// descriptors allow, so that its accept pauses rather than connects failing.
std::uint32_t automatic_maxconn(std::uint64_t files, const FdReserve& reserve);

}  // namespace tierlb::master
