#pragma once
// The command line of INTERFACE.md section 1, parsed into a struct; main() acts on it.

#include <optional>
#include <string>
#include <vector>

#include "common/expected.hpp"

namespace tierlb::master {

enum class Verbosity { quiet, normal, debug };

struct CommandLine {
    enum class Action {
        run_master,   // tierlb -f FILE: start and supervise every process
        run_process,  // tierlb -f FILE --process N: one process, no master
        check,        // tierlb -c -f FILE
        version,      // tierlb -v
        help,         // tierlb -h
    };
    Action action = Action::run_master;
    std::vector<std::string> files;
    int process = 0;         // --process N
    bool daemon = false;     // -D
    std::string pidfile;     // -p
    std::string master_cli;  // -S ADDR
    Verbosity verbosity = Verbosity::normal;
    bool build_details = false;  // -vv
};

// Reads argv. The error says which argument is wrong and is followed by the usage text.
Expected<CommandLine> parse_command_line(const std::vector<std::string>& args);

std::string usage_text();

// "tierlb version X.Y.Z" and the OpenSSL and Boost versions tierlb was built with and runs on.
std::string version_text(bool build_details);

}  // namespace tierlb::master
