#include "master/fd_budget.hpp"

#include <algorithm>

namespace tierlb::master {

namespace {

constexpr std::uint64_t per_thread = 4;
constexpr std::uint64_t own = 12;

bool runs_in(const config::ProcessSet& set, int process) {
    return process == 0 || set.contains(process);
}

}  // namespace

FdReserve fd_reserve(const config::Configuration& config, int process) {
    FdReserve r;
    r.logs = config.global.logs.size();
    for (const auto& proxy : config.proxies) {
        bool here = false;
        for (const auto& bind : proxy.binds) {
            // One socket per process of the bind; the master keeps them all.
            if (process != 0) {
                r.listeners += bind.processes.contains(process) ? 1 : 0;
            } else {
                r.listeners += bind.processes.is_all() ? config.processes.size()
                                                       : static_cast<std::uint64_t>(
                                                             bind.processes.count());
            }
            here = here || runs_in(bind.processes, process);
        }
        if (proxy.has_backend() && runs_in(proxy.processes, process)) {
            here = true;
            for (const auto& server : proxy.servers) {
                if (server.options.check || server.options.handoff) {
                    ++r.checks;
                }
            }
        }
        if (here) {
            r.logs += proxy.logs.size();
        }
    }
    for (const auto& s : config.global.stats_sockets) {
        r.stats += runs_in(s.process, process) ? 2 : 0;
    }
    for (const auto& s : config.global.stats_http) {
        r.stats += runs_in(s.process, process) ? 2 : 0;
    }
    r.threads = per_thread * std::max<std::uint32_t>(1, config.global.nbthread);
    r.base = own;
    return r;
}

std::uint32_t automatic_maxconn(std::uint64_t files, const FdReserve& reserve) {
    const std::uint64_t reserved = reserve.total();
    const std::uint64_t left = files > reserved ? files - reserved : 0;
    return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(left / 2, 1, 1'000'000));
}

}  // namespace tierlb::master
