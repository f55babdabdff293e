// tierlb: a two-tier load balancer for long-lived TLS connections. See README.md.

#include <iostream>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "master/command_line.hpp"

namespace {

// tierlb -c: every error and warning as FILE:LINE: message; 0 when valid, 1 otherwise.
int check_configuration(const tierlb::master::CommandLine& cl) {
    tierlb::config::Diagnostics diagnostics;
    auto config = tierlb::config::load_files(cl.files, diagnostics);
    if (cl.verbosity != tierlb::master::Verbosity::quiet || !config) {
        diagnostics.print(std::cerr);
    }
    if (!config) {
        std::cerr << "Configuration file has " << diagnostics.error_count()
                  << (diagnostics.error_count() == 1 ? " error" : " errors")
                  << " and is invalid.\n";
        return 1;
    }
    if (cl.verbosity != tierlb::master::Verbosity::quiet) {
        std::cout << "Configuration file is valid\n";
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    using Action = tierlb::master::CommandLine::Action;
    auto cl = tierlb::master::parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
    if (!cl) {
        std::cerr << "tierlb: " << cl.error() << "\n" << tierlb::master::usage_text();
        return 1;
    }
    switch (cl->action) {
        case Action::help:
            std::cout << tierlb::master::usage_text();
            return 0;
        case Action::version:
            std::cout << tierlb::master::version_text(cl->build_details);
            return 0;
        case Action::check:
            return check_configuration(*cl);
        case Action::run_master:
        case Action::run_process:
            std::cerr << "tierlb: running the configuration is not yet available in this "
                         "version (only -c, -v)\n";
            return 2;
    }
    return 2;
}
