#include "master/supervisor.hpp"
#include "master/supervisor_impl.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/signal_set.hpp>
#include <cstring>
#include <fstream>
#include <map>

#include "common/log/event_log.hpp"
#include "common/net/asio.hpp"
#include "master/control_channel.hpp"
#include "master/listeners.hpp"
#include "master/process.hpp"
#include "master/sd_notify.hpp"
#include "worker/ticket_keys.hpp"

namespace tierlb::master {

std::string resolve_self() {
    char path[4096];
    const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
    return n > 0 ? std::string(path, static_cast<std::size_t>(n)) : "/proc/self/exe";
}

std::string describe_status(int status) {
    if (WIFSIGNALED(status)) {
        return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
               ::strsignal(WTERMSIG(status)) + ")";
    }
    return "exited with code " + std::to_string(WEXITSTATUS(status));
}

std::vector<std::string> Supervisor::child_arguments(int number) const {
    std::vector<std::string> args{"tierlb"};
    for (const auto& f : cl_.files) {
        args.push_back("-f");
        args.push_back(f);
    }
    args.push_back("--process");
    args.push_back(std::to_string(number));
    if (cl_.verbosity == Verbosity::debug) {
        args.push_back("-d");
    } else if (cl_.verbosity == Verbosity::quiet) {
        args.push_back("-q");
    }
    return args;
}

void Supervisor::start(Child& child) {
    // Everything exec needs is prepared before fork: the child only calls async-signal-safe
    // functions.
    std::vector<std::string> args = child_arguments(child.number);
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::string handover =
        std::string(handover_variable) + "=" + encode_handover(listeners_, child.number);
    std::vector<int> own_fds;
    // accept-balance: the maps of the process's eBPF groups, or why it has none.
    std::string nohop = std::string(net::nohop_variable) + "=" +
                        net::encode_nohop(nohop_.handovers(child.number, own_fds));
    std::string nohop_fallback =
        std::string(net::nohop_fallback_variable) + "=" + nohop_.fallback();
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) {
        if (std::strncmp(*e, handover_variable, std::strlen(handover_variable)) != 0 &&
            std::strncmp(*e, net::nohop_variable, std::strlen(net::nohop_variable)) != 0) {
            envp.push_back(*e);
        }
    }
    envp.push_back(handover.data());
    envp.push_back(nohop.data());
    if (!nohop_.fallback().empty()) {
        envp.push_back(nohop_fallback.data());
    }
    if (retire_pending_) {
        envp.push_back(const_cast<char*>(takeover_variable));
    }
    envp.push_back(nullptr);
    for (const auto& l : listeners_) {
        if (l.process == child.number) {
            own_fds.push_back(l.fd);
        }
    }
    const auto control = make_control_pair();
    std::string control_variable;
    if (control) {
        own_fds.push_back(control->second);
        control_variable = std::string(control_fd_variable) + "=" + std::to_string(control->second);
        envp.insert(envp.end() - 1, control_variable.data());
        // The keys wait in the channel before the process starts, so that its TLS binds have
        // them from their first handshake (it reads them before listening).
        child.channel = std::make_unique<ControlChannel>(control->first);
        send_ticket_keys(child);
    }

    // Blocked across fork: the child keeps them blocked through exec until its handlers are
    // in place; the master gets any that came meanwhile right after.
    const sigset_t signals = process_signals();
    sigset_t previous_mask;
    ::pthread_sigmask(SIG_BLOCK, &signals, &previous_mask);
    const pid_t pid = ::fork();
    if (pid != 0) {
        ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
    }
    if (pid < 0) {
        log::alert("cannot start process {}: fork: {}", child.number, std::strerror(errno));
        child.channel.reset();
        if (control) {
            ::close(control->second);
        }
        schedule_restart(child, 0);
        return;
    }
    if (pid == 0) {
        for (int fd : own_fds) {
            ::fcntl(fd, F_SETFD, 0);  // inherited through exec; the others stay close-on-exec
        }
        ::execve(self_path_.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    child.pid = pid;
    child.started = Clock::now();
    if (control) {
        ::close(control->second);
        const int number = child.number;
        child.channel->watch(
            io_.get_executor(),
            [this, number, pid](const std::string& name, const std::string& body) {
                if (name == ready_message) {
                    on_ready(number, pid);
                } else {
                    on_child_message(name, body);
                }
            },
            [] {});  // its end closes when it dies: SIGCHLD says more
    }
    log::notice("process {} started (pid {})", child.number, pid);
}

// Without a tls-ticket-keys file, the master makes the keys every process uses, so that a
// session resumes on any of them, and rotates them (the file's rule: the penultimate seals).
void Supervisor::start_ticket_keys() {
    if (!config_->global.tls_ticket_keys.empty()) {
        return;  // the processes read the file themselves
    }
    ticket_keys_ = worker::TicketKeys::generate();
    rotation_ = std::make_unique<net::Timer>(io_.get_executor());
    rotate_ticket_keys();
}

void Supervisor::rotate_ticket_keys() {
    rotation_->expires_after(ticket_key_rotation);
    rotation_->async_wait([this](const net::error_code& ec) {
        if (ec) {
            return;
        }
        ticket_keys_.erase(ticket_keys_.begin());
        ticket_keys_.push_back(worker::TicketKeys::generate_one());
        for (const auto& [number, child] : children_) {
            send_ticket_keys(child);
        }
        rotate_ticket_keys();
    });
}

void Supervisor::send_ticket_keys(const Child& child) {
    if (!ticket_keys_.empty() && child.channel &&
        !child.channel->send(ticket_keys_message, worker::TicketKeys::encode(ticket_keys_))) {
        log::warning("process {}: cannot send it the TLS ticket keys", child.number);
    }
}

void Supervisor::on_ready(int number, pid_t pid) {
    // A process of the previous generation whose "ready" the master reads only after a reload
    // began (it was started just before) must not count for the new process of its number.
    const auto current = children_.find(number);
    if (current == children_.end() || current->second.pid != pid) {
        return;
    }
    broadcast(number, process_up_message, std::to_string(number));
    not_ready_yet_.erase(number);
    if (!not_ready_yet_.empty()) {
        return;
    }
    if (retire_pending_) {
        retire_previous();
    } else if (std::exchange(first_start_pending_, false)) {
        sd_notify("READY=1\nSTATUS=every process is ready");
    }
}

void Supervisor::broadcast(int from, const std::string& name, const std::string& body) {
    for (const auto& [number, child] : children_) {
        if (number != from && child.channel) {
            child.channel->send(name, body);
        }
    }
}

void Supervisor::watch_signals() {
    signals_.async_wait([this](const net::error_code& ec, int signal) {
        if (ec) {
            return;
        }
        switch (signal) {
            case SIGCHLD:
                reap();
                break;
            case SIGTERM:
            case SIGINT:
                log::notice("master: {} received, stopping every process",
                            signal == SIGTERM ? "SIGTERM" : "SIGINT");
                stop_all(SIGTERM);
                break;
            case SIGUSR1:
                log::notice("master: SIGUSR1 received, stopping every process softly");
                stop_all(SIGUSR1);
                break;
            case SIGHUP:
            case SIGUSR2:
                if (!stopping_) {
                    reload();
                }
                break;
        }
        watch_signals();
    });
}

void Supervisor::reap() {
    int status = 0;
    pid_t pid = 0;
    // A previous generation of NUMBER ended: once none is left, its accept-balance slots have
    // no retired connection (one killed with connections open leaves none behind).
    const auto previous_gone = [this](int number) {
        const bool retiring = std::any_of(retiring_.begin(), retiring_.end(),
                                          [number](const Child& c) { return c.number == number; });
        const auto previous = previous_children_.find(number);
        if (!retiring && (previous == previous_children_.end() || previous->second.pid == 0)) {
            nohop_.generation_gone(number);
        }
    };
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        for (auto it = retiring_.begin(); it != retiring_.end(); ++it) {
            if (it->pid == pid) {
                log::notice("process {} of the previous configuration (pid {}) {}", it->number, pid,
                            describe_status(status));
                const int number = it->number;
                retiring_.erase(it);
                previous_gone(number);
                break;
            }
        }
        for (auto& [number, child] : previous_children_) {
            if (child.pid == pid) {  // during a reload: restarted only if the reload fails
                log::alert("process {} of the previous configuration (pid {}) {} during the reload",
                           number, pid, describe_status(status));
                child.pid = 0;
                child.channel.reset();
                previous_gone(number);
            }
        }
        for (auto& [number, child] : children_) {
            if (child.pid != pid) {
                continue;
            }
            child.pid = 0;
            child.channel.reset();
            if (stopping_) {
                log::notice("process {} (pid {}) {}", number, pid, describe_status(status));
            } else {
                // Its accept-balance slots go down now; their queues go to the other
                // processes, unless the process it replaces (a reload) still accepts there.
                const auto replaced = previous_children_.find(number);
                nohop_.process_down(
                    number, replaced != previous_children_.end() && replaced->second.pid != 0);
                // The others learn it now, not at their next health check: a dispatcher marks
                // this worker's servers DOWN at once.
                broadcast(number, process_down_message,
                          std::to_string(number) + "\n" + describe_status(status));
                schedule_restart(child, status);  // may replace children_ (a failed reload)
            }
            break;
        }
    }
    auto none_left = [](const std::map<int, Child>& generation) {
        return std::all_of(generation.begin(), generation.end(),
                           [](const auto& c) { return c.second.pid == 0; });
    };
    const bool all_gone =
        retiring_.empty() && none_left(children_) && none_left(previous_children_);
    if (stopping_ && all_gone) {
        io_.stop();
    }
}

void Supervisor::schedule_restart(Child& child, int status) {
    const bool startup_failure = !child.ever_restarted && WIFEXITED(status) &&
                                 (WEXITSTATUS(status) == 1 || WEXITSTATUS(status) == 2) &&
                                 Clock::now() - child.started < 5s;
    if (startup_failure && retire_pending_) {
        abort_reload(child.number, status);
        return;
    }
    if (startup_failure) {
        // It could not start (a configuration or start-up error it logged): starting it
        // again would fail the same way. Stop everything with its exit code.
        log::alert("process {} could not start ({}); stopping", child.number,
                   describe_status(status));
        exit_code_ = WEXITSTATUS(status);
        stop_all(SIGTERM);
        return;
    }
    if (Clock::now() - child.started >= stable_run) {
        child.quick_failures = 0;
    }
    const Clock::duration delay = std::min<Clock::duration>(
        first_restart_delay * (1u << std::min(child.quick_failures, 7u)), max_restart_delay);
    ++child.quick_failures;
    child.ever_restarted = true;
    log::alert("process {} {}; restarting it in {} ms", child.number, describe_status(status),
               std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    child.restart = std::make_unique<net::Timer>(io_.get_executor());
    child.restart->expires_after(delay);
    child.restart->async_wait([this, &child](const net::error_code& ec) {
        if (!ec && !stopping_) {
            start(child);
        }
    });
}

void Supervisor::stop_all(int signal) {
    sd_notify("STOPPING=1");
    stopping_ = true;
    bool any = false;
    // A stop during a reload stops both generations.
    for (auto& [number, child] : previous_children_) {
        if (child.pid != 0) {
            retiring_.push_back(std::move(child));
        }
    }
    previous_children_.clear();
    retire_pending_ = false;
    for (auto& child : retiring_) {
        ::kill(child.pid, signal);
        any = true;
    }
    for (auto& [number, child] : children_) {
        if (child.restart) {
            child.restart->cancel();
        }
        if (child.pid != 0) {
            ::kill(child.pid, signal);
            any = true;
        }
    }
    if (!any) {
        io_.stop();
        return;
    }
    if (signal == SIGTERM) {
        stop_timer_.expires_after(stop_deadline);
        stop_timer_.async_wait([this](const net::error_code& ec) {
            if (ec) {
                return;
            }
            for (auto& child : retiring_) {
                ::kill(child.pid, SIGKILL);
            }
            for (auto& [number, child] : children_) {
                if (child.pid != 0) {
                    log::alert("process {} (pid {}) did not stop in time: killing it", number,
                               child.pid);
                    ::kill(child.pid, SIGKILL);
                }
            }
        });
    }
}

int Supervisor::run() {
    prepare_fd_limit(*config_);
    auto opened = open_listeners(*config_, 0);
    if (!opened) {
        log::alert("{}", opened.error());
        return 2;
    }
    listeners_ = std::move(*opened);
    nohop_.open(*config_, listeners_);
    if (auto error = start_master_cli()) {
        log::alert("{}", *error);
        return 2;
    }
    // Only now, with every socket bound (errors reach the terminal), does -D detach.
    if (daemon_ && !daemonize()) {
        return 2;
    }
    if (!pidfile_.empty()) {
        std::ofstream(pidfile_) << ::getpid() << "\n";
    }
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGUSR1, SIGHUP, SIGUSR2}) {
        signals_.add(s);
    }
    watch_signals();
    start_ticket_keys();
    for (int number : config_->processes) {
        children_[number].number = number;
        not_ready_yet_.insert(number);
    }
    first_start_pending_ = true;
    for (auto& [number, child] : children_) {
        start(child);
    }
    log::notice("master: {} processes started", children_.size());
    io_.run();
    log::notice("master: stopped");
    return exit_code_;
}

std::optional<std::string> Supervisor::start_master_cli() {
    if (cl_.master_cli.empty()) {
        return std::nullopt;
    }
    // HAProxy's form is ADDR[,options]: the address is what matters here.
    const std::string text = cl_.master_cli.substr(0, cl_.master_cli.find(','));
    auto address = parse_address(text, AddressUse::bind);
    if (!address) {
        return "-S " + cl_.master_cli + ": " + address.error();
    }
    net::ListenOptions options;
    options.backlog = 16;
    options.mode = 0600;  // the master CLI is the operator's: admin level
    auto fd = net::open_listener(*address, options);
    if (!fd) {
        return "-S: cannot bind the master CLI: " + fd.error();
    }
    log::notice("master CLI listening on {}", net::local_address(*fd).to_string());
    MasterCli::Hooks hooks;
    hooks.processes = [this] { return process_list(); };
    hooks.forward = [this](int number, std::uint64_t id, const std::string& command) {
        return forward_to(number, id, command);
    };
    hooks.reload = [this] { reload(); };
    cli_ = std::make_unique<MasterCli>(io_, *fd, std::move(hooks));
    cli_->start();
    return std::nullopt;
}

std::vector<ProcessEntry> Supervisor::process_list() const {
    std::vector<ProcessEntry> list;
    list.push_back({::getpid(), 0, false, reloads_, started_});
    for (const auto* generation : {&children_, &previous_children_}) {
        for (const auto& [number, child] : *generation) {
            if (child.pid != 0) {
                list.push_back({child.pid, number, false, child.reloads, child.started});
            }
        }
    }
    for (const auto& child : retiring_) {
        list.push_back({child.pid, child.number, true, child.reloads, child.started});
    }
    return list;
}

bool Supervisor::forward_to(int number, std::uint64_t id, const std::string& command) {
    auto found = children_.find(number);
    return found != children_.end() && found->second.channel &&
           found->second.channel->send(cli_request_message, std::to_string(id) + "\n" + command);
}

void Supervisor::on_child_message(const std::string& name, const std::string& body) {
    if (name != cli_reply_message || !cli_) {
        return;
    }
    const auto first = body.find('\n');
    if (first == std::string::npos || first + 2 >= body.size() + 1) {
        return;
    }
    const std::uint64_t id = std::strtoull(body.c_str(), nullptr, 10);
    const bool last = body.compare(first + 1, 1, ".") == 0;
    const std::size_t part = std::min(body.size(), first + 3);
    cli_->on_reply(id, last, std::string_view(body).substr(part));
}

// -D: the master goes to the background, its standard streams on /dev/null (as HAProxy's:
// configure a "log" target to keep the logs); the pid file names it.
bool daemonize() {
    const pid_t pid = ::fork();
    if (pid < 0) {
        log::alert("cannot daemonize: fork: {}", std::strerror(errno));
        return false;
    }
    if (pid > 0) {
        ::_exit(0);
    }
    ::setsid();
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::close(null);
    }
    return true;
}

int run_master(const CommandLine& command_line, config::ConfigurationPtr config) {
    const bool daemon = command_line.daemon || config->global.daemon;
    const std::string pidfile =
        !command_line.pidfile.empty() ? command_line.pidfile : config->global.pidfile;
    Supervisor supervisor(command_line, std::move(config), daemon, pidfile);
    const int code = supervisor.run();
    if (!pidfile.empty()) {
        ::unlink(pidfile.c_str());
    }
    return code;
}

}  // namespace tierlb::master
