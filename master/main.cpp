// tierlb: a two-tier load balancer for long-lived TLS connections. See README.md.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "common/log/event_log.hpp"
#include "config/load.hpp"
#include "master/command_line.hpp"
#include "master/listeners.hpp"
#include "master/privileges.hpp"
#include "master/process.hpp"
#include "master/supervisor.hpp"
#include "worker/tls_context.hpp"

namespace {

using tierlb::master::CommandLine;

// Every error and warning as FILE:LINE: message; the configuration when it is valid. With
// CHECK_TLS (tierlb -c), certificates and ticket keys are loaded too, as HAProxy's -c does; a
// running process loads them itself and exits 2 when one does not load.
tierlb::config::ConfigurationPtr load(const CommandLine& cl, bool check_tls = false,
                                      bool print_warnings = true) {
    tierlb::config::Diagnostics diagnostics;
    auto config = tierlb::config::load_files(cl.files, diagnostics);
    if (config) {
        tierlb::master::check_accounts(*config, diagnostics);
    }
    if (config && check_tls) {
        tierlb::worker::check_tls(*config, diagnostics);
    }
    if (diagnostics.has_errors()) {
        config = nullptr;
    }
    for (const auto& d : diagnostics.all()) {
        const bool warning = d.severity == tierlb::config::Severity::warning;
        if (!warning || (print_warnings && cl.verbosity != tierlb::master::Verbosity::quiet)) {
            std::cerr << tierlb::config::format(d) << '\n';
        }
    }
    if (!config) {
        std::cerr << "Configuration file has " << diagnostics.error_count()
                  << (diagnostics.error_count() == 1 ? " error" : " errors")
                  << " and is invalid.\n";
    }
    return config;
}

// tierlb -f FILE --process N: one process alone (or a process started by the master, which
// hands it its listening sockets through the environment).
int run_one_process(const CommandLine& cl) {
    // Started by the master, which has said the warnings already: errors only.
    auto config = load(cl, false, std::getenv(tierlb::master::handover_variable) == nullptr);
    if (!config) {
        return 1;
    }
    if (std::find(config->processes.begin(), config->processes.end(), cl.process) ==
        config->processes.end()) {
        tierlb::log::alert("the configuration has no process {}", cl.process);
        return 1;
    }
    std::map<std::string, int> fds;
    if (const char* handover = std::getenv(tierlb::master::handover_variable)) {
        fds = tierlb::master::decode_handover(handover);
        ::unsetenv(tierlb::master::handover_variable);
    } else {
        auto opened = tierlb::master::open_listeners(*config, cl.process);
        if (!opened) {
            tierlb::log::alert("{}", opened.error());
            return 2;
        }
        for (const auto& l : *opened) {
            fds[l.key] = l.fd;
        }
    }
    tierlb::master::ProcessHost host(config, cl.process);
    if (auto error = host.start(fds)) {
        tierlb::log::alert("{}", *error);
        return 2;
    }
    return host.run();
}

tierlb::log::Verbosity verbosity_of(tierlb::master::Verbosity v) {
    switch (v) {
        case tierlb::master::Verbosity::quiet:
            return tierlb::log::Verbosity::quiet;
        case tierlb::master::Verbosity::debug:
            return tierlb::log::Verbosity::debug;
        case tierlb::master::Verbosity::normal:
            break;
    }
    return tierlb::log::Verbosity::normal;
}

}  // namespace

int main(int argc, char** argv) {
    using Action = CommandLine::Action;
    // A write to a connection the peer closed must fail with EPIPE, not kill the process:
    // OpenSSL writes to sockets without MSG_NOSIGNAL.
    std::signal(SIGPIPE, SIG_IGN);
    auto cl = tierlb::master::parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
    if (!cl) {
        std::cerr << "tierlb: " << cl.error() << "\n" << tierlb::master::usage_text();
        return 1;
    }
    tierlb::log::set_verbosity(verbosity_of(cl->verbosity));
    switch (cl->action) {
        case Action::help:
            std::cout << tierlb::master::usage_text();
            return 0;
        case Action::version:
            std::cout << tierlb::master::version_text(cl->build_details);
            return 0;
        case Action::check: {
            auto config = load(*cl, true);
            if (config && cl->verbosity != tierlb::master::Verbosity::quiet) {
                std::cout << "Configuration file is valid\n";
            }
            return config ? 0 : 1;
        }
        case Action::run_process:
            return run_one_process(*cl);
        case Action::run_master: {
            auto config = load(*cl);
            if (!config) {
                return 1;
            }
            return tierlb::master::run_master(*cl, config);
        }
    }
    return 2;
}
