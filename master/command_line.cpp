#include "master/command_line.hpp"

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include <boost/version.hpp>

#include "config/values.hpp"
#include "tierlb/version.hpp"

namespace tierlb::master {

std::string usage_text() {
    return "Usage: tierlb -f FILE [-f FILE ...] [options]\n"
           "  -f FILE         configuration file or directory (repeatable, read in order)\n"
           "  -c              check the configuration and exit (0 valid, 1 invalid)\n"
           "  --process N     run process N alone, without a master\n"
           "  -D              daemonize (master mode)\n"
           "  -p PIDFILE      write the master's pid to PIDFILE\n"
           "  -S ADDR         open the master CLI on ADDR\n"
           "  -d              debug logging\n"
           "  -q              quiet: errors only\n"
           "  -v, --version   print the version (-vv: with build details)\n"
           "  -h, --help      print this help\n";
}

std::string version_text(bool build_details) {
    std::string text = std::string("tierlb version ") + version_string + "\n";
    text += std::string("OpenSSL: running ") + OpenSSL_version(OPENSSL_VERSION) + ", built with " +
            OPENSSL_VERSION_TEXT + "\n";
    text += "Boost: " + std::to_string(BOOST_VERSION / 100000) + "." +
            std::to_string(BOOST_VERSION / 100 % 1000) + "." + std::to_string(BOOST_VERSION % 100) +
            "\n";
    if (build_details) {
        text += std::string("Built with: g++ ") + __VERSION__ + ", C++ " +
                std::to_string(__cplusplus) + "\n";
    }
    return text;
}

Expected<CommandLine> parse_command_line(const std::vector<std::string>& args) {
    CommandLine cl;
    bool check = false;
    bool version = false;
    auto value_of = [&](std::size_t& i) -> std::optional<std::string> {
        if (i + 1 >= args.size() || args[i + 1].empty() || args[i + 1][0] == '-') {
            return std::nullopt;
        }
        return args[++i];
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-f" || a == "-p" || a == "-S" || a == "--process") {
            auto v = value_of(i);
            if (!v) {
                return unexpected("'" + a + "' expects a value");
            }
            if (a == "-f") {
                cl.files.push_back(*v);
            } else if (a == "-p") {
                cl.pidfile = *v;
            } else if (a == "-S") {
                cl.master_cli = *v;
            } else {
                auto n = config::parse_uint(*v, 1, 64);
                if (!n) {
                    return unexpected("'--process': " + n.error());
                }
                cl.process = static_cast<int>(*n);
            }
        } else if (a == "-c") {
            check = true;
        } else if (a == "-D") {
            cl.daemon = true;
        } else if (a == "-d") {
            cl.verbosity = Verbosity::debug;
        } else if (a == "-q") {
            cl.verbosity = Verbosity::quiet;
        } else if (a == "-v" || a == "--version") {
            version = true;
        } else if (a == "-vv") {
            version = true;
            cl.build_details = true;
        } else if (a == "-h" || a == "--help") {
            cl.action = CommandLine::Action::help;
            return cl;
        } else {
            return unexpected("unknown argument '" + a + "'");
        }
    }
    if (version) {
        cl.action = CommandLine::Action::version;
        return cl;
    }
    if (cl.files.empty()) {
        return unexpected("no configuration file: give one with -f FILE");
    }
    if (check) {
        cl.action = CommandLine::Action::check;
    } else if (cl.process != 0) {
        if (cl.daemon) {
            return unexpected(
                "'--process' runs one process in the foreground; it cannot be "
                "combined with -D");
        }
        cl.action = CommandLine::Action::run_process;
    }
    return cl;
}

}  // namespace tierlb::master
