#pragma once
// What a process does to itself once its sockets are open and its certificates read, as
// HAProxy does: run on the CPUs `cpu-map` gives its process number, then drop root for the
// global `user` and `group`. The master keeps its privileges (it binds again on reload).

#include <sys/types.h>

#include <optional>
#include <string>

#include "common/expected.hpp"
#include "config/load.hpp"
#include "config/model.hpp"

namespace tierlb::master {

struct RunAs {
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;  // the group's, else the user's primary group
};

// The ids of the global user and group; an unknown name is an error.
Expected<RunAs> resolve_run_as(const config::Global& global);

// `tierlb -c`: an unknown user or group, at its line.
void check_accounts(const config::Configuration& config, config::Diagnostics& diagnostics);

// The uid this process serves as: the global user's, else the current one.
uid_t serving_uid(const config::Global& global);

// Pins this process to the CPUs of the cpu-map naming PROCESS, if any. A warning, not an
// error, when the kernel refuses (a CPU that does not exist here).
void apply_cpu_map(const config::Global& global, int process);

// tune.dispatcher.sched-batch (on by default): a process that terminates no TLS -- a
// dispatcher -- runs under SCHED_BATCH, so that its wake-ups do not interrupt TLS workers on
// the same cores. Before the process's threads start.
void apply_dispatcher_scheduling(const config::Global& global, int process, bool terminates_tls);

// Switches to the global user and group. An error when they cannot be taken (not root).
std::optional<std::string> drop_privileges(const config::Global& global);

}  // namespace tierlb::master
