#pragma once
// Internal to master/: the supervisor of master mode (supervisor.cpp: starting, restarting and
// stopping processes; reload.cpp: replacing them with a new configuration).

#include <sys/types.h>

#include <boost/asio/signal_set.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/net/asio.hpp"
#include "config/model.hpp"
#include "master/command_line.hpp"
#include "master/control_channel.hpp"
#include "master/listeners.hpp"
#include "master/master_cli.hpp"
#include "master/nohop_groups.hpp"
#include "worker/ticket_keys.hpp"

namespace tierlb::master {

namespace asio = net::asio;
using net::Clock;
using namespace std::chrono_literals;

constexpr auto first_restart_delay = 100ms;
constexpr auto max_restart_delay = 10s;
constexpr auto stable_run = 30s;          // a process that ran this long starts back-off afresh
constexpr auto stop_deadline = 10s;       // then SIGKILL
constexpr auto ticket_key_rotation = 1h;  // tickets stay valid for one to two periods

struct Child {
    int number = 0;
    pid_t pid = 0;
    std::unique_ptr<ControlChannel> channel;  // our end of its control channel
    Clock::time_point started{};
    unsigned quick_failures = 0;
    bool ever_restarted = false;
    unsigned reloads = 0;  // reloads it has lived through (show proc)
    std::unique_ptr<net::Timer> restart;
};

std::string resolve_self();

std::string describe_status(int status);

// -D
bool daemonize();

class Supervisor {
public:
    Supervisor(const CommandLine& cl, config::ConfigurationPtr config, bool daemon,
               std::string pidfile)
        : cl_(cl),
          config_(std::move(config)),
          daemon_(daemon),
          pidfile_(std::move(pidfile)),
          signals_(io_),
          stop_timer_(io_.get_executor()) {}

    int run();

private:
    // -S ADDR; an error message when it cannot be opened.
    std::optional<std::string> start_master_cli();
    std::vector<ProcessEntry> process_list() const;
    bool forward_to(int number, std::uint64_t id, const std::string& command);
    void on_child_message(const std::string& name, const std::string& body);
    void start(Child& child);
    void watch_signals();
    void reap();
    void schedule_restart(Child& child, int status);
    void stop_all(int signal);
    std::vector<std::string> child_arguments(int number) const;
    void start_ticket_keys();
    void rotate_ticket_keys();
    void send_ticket_keys(const Child& child);
    // Tells every process but FROM.
    void broadcast(int from, const std::string& name, const std::string& body);
    void on_ready(int number, pid_t pid);

    // reload.cpp: SIGUSR2/SIGHUP.
    void reload();
    // The previous generation stops softly once the new one is ready (or after a while).
    void retire_previous();
    // A new process could not start: the new generation goes, the previous one stays.
    void abort_reload(int failed, int status);

    const CommandLine& cl_;
    config::ConfigurationPtr config_;
    bool daemon_;
    std::string pidfile_;
    asio::io_context io_;
    asio::signal_set signals_;
    net::Timer stop_timer_;
    std::vector<OpenListener> listeners_;
    NohopGroups nohop_;              // accept-balance: the eBPF groups of listeners_
    std::map<int, Child> children_;  // the current generation
    // During a reload, until the new generation is ready: the generation it replaces, with its
    // configuration and sockets, kept whole so that a failed reload can go back to them.
    std::map<int, Child> previous_children_;
    config::ConfigurationPtr previous_config_;
    std::vector<OpenListener> previous_listeners_;
    // Processes of earlier generations: soft-stopping after a reload, never restarted.
    std::vector<Child> retiring_;
    std::set<int> not_ready_yet_;       // new processes of a reload that have not said "ready"
    bool retire_pending_ = false;       // the previous generation waits for the new one
    bool first_start_pending_ = false;  // systemd hears READY=1 once every process is
    std::unique_ptr<net::Timer> retire_timer_;
    // TLS session-ticket keys, when the master makes them (no tls-ticket-keys file).
    std::vector<worker::TicketKey> ticket_keys_;
    std::unique_ptr<net::Timer> rotation_;
    // This binary, resolved once: exec'ing /proc/self/exe itself would name every process
    // "exe" in ps and top.
    std::string self_path_ = resolve_self();
    bool stopping_ = false;
    int exit_code_ = 0;
    Clock::time_point started_ = Clock::now();
    unsigned reloads_ = 0;
    std::unique_ptr<MasterCli> cli_;
};

}  // namespace tierlb::master
