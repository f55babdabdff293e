#pragma once
// Master mode (tierlb -f FILE): opens every listening socket, starts one process per process
// number of the configuration (fork + exec of this same binary with --process N, handing it
// its sockets), restarts a process that dies (with back-off), and relays signals:
// SIGTERM/SIGINT stop everything, SIGUSR1 stops softly. Keeping the listening sockets in the
// master means a restarted process finds its connections waiting in the backlog: none refused.

#include "config/model.hpp"
#include "master/command_line.hpp"

namespace tierlb::master {

int run_master(const CommandLine& command_line, config::ConfigurationPtr config);

}  // namespace tierlb::master
