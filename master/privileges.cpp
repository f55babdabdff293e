#include "master/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log/event_log.hpp"

namespace tierlb::master {

Expected<RunAs> resolve_run_as(const config::Global& global) {
    RunAs run_as;
    if (!global.user.empty()) {
        const passwd* pw = ::getpwnam(global.user.c_str());
        if (pw == nullptr) {
            return unexpected("unknown user '" + global.user + "'");
        }
        run_as.uid = pw->pw_uid;
        run_as.gid = pw->pw_gid;
    }
    if (!global.group.empty()) {
        const group* gr = ::getgrnam(global.group.c_str());
        if (gr == nullptr) {
            return unexpected("unknown group '" + global.group + "'");
        }
        run_as.gid = gr->gr_gid;
    }
    return run_as;
}

void check_accounts(const config::Configuration& config, config::Diagnostics& diagnostics) {
    const config::Global& g = config.global;
    if (!g.user.empty() && ::getpwnam(g.user.c_str()) == nullptr) {
        diagnostics.error(g.user_where, "'user': unknown user '" + g.user + "'");
    }
    if (!g.group.empty() && ::getgrnam(g.group.c_str()) == nullptr) {
        diagnostics.error(g.group_where, "'group': unknown group '" + g.group + "'");
    }
}

uid_t serving_uid(const config::Global& global) {
    auto run_as = resolve_run_as(global);
    return run_as && run_as->uid ? *run_as->uid : ::geteuid();
}

void apply_cpu_map(const config::Global& global, int process) {
    for (const auto& map : global.cpu_maps) {
        if (!map.process.contains(process)) {
            continue;
        }
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int cpu : map.cpus) {
            CPU_SET(cpu, &set);
        }
        if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
            log::warning("process {}: cpu-map ({}:{}): cannot pin to those CPUs: {}", process,
                         map.where.file, map.where.line, std::strerror(errno));
        }
    }
}

void apply_dispatcher_scheduling(const config::Global& global, int process,
                                 bool terminates_tls) {
    if (!global.tune_dispatcher_sched_batch || terminates_tls) {
        return;
    }
    // SCHED_BATCH: a wake-up of this process does not preempt the one running (a TLS worker
    // in the middle of a handshake); it runs when that one blocks or its slice ends, and finds
    // several connections waiting, taken in one turn. Any user may choose it. Threads started
    // from here on inherit it.
    const sched_param normal_priority{};
    if (::sched_setscheduler(0, SCHED_BATCH, &normal_priority) != 0) {
        log::warning("process {}: tune.dispatcher.sched-batch: cannot run under SCHED_BATCH: {}",
                     process, std::strerror(errno));
    }
}

std::optional<std::string> drop_privileges(const config::Global& global) {
    auto run_as = resolve_run_as(global);
    if (!run_as) {
        return run_as.error();
    }
    const bool root = ::geteuid() == 0;
    if (run_as->gid && *run_as->gid != ::getegid()) {
        if (!root) {
            return "cannot switch to group " + std::to_string(*run_as->gid) +
                   ": only root can (tierlb runs as uid " + std::to_string(::geteuid()) + ")";
        }
        // Supplementary groups go too: root's would stay otherwise.
        if (::setgroups(0, nullptr) != 0 || ::setgid(*run_as->gid) != 0) {
            return "cannot switch to group " + std::to_string(*run_as->gid) + ": " +
                   std::strerror(errno);
        }
    }
    if (run_as->uid && *run_as->uid != ::geteuid()) {
        if (!root) {
            return "cannot switch to user '" + global.user +
                   "': only root can (tierlb runs as uid " + std::to_string(::geteuid()) + ")";
        }
        if (::setuid(*run_as->uid) != 0) {
            return "cannot switch to user '" + global.user + "': " + std::strerror(errno);
        }
        if (::setuid(0) == 0) {
            return "dropping root failed: setuid(0) still works";  // never keep a way back
        }
    }
    return std::nullopt;
}

}  // namespace tierlb::master
