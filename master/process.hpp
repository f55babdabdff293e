#pragma once
// One tierlb process: builds what the configuration gives process N (frontends, listeners,
// backends, stats sockets), runs it on nbthread io_contexts (one thread each; a connection
// stays on its thread), and stops on signals the way HAProxy does: SIGTERM/SIGINT close
// everything now, SIGUSR1 stops accepting and waits for established connections to end
// (bounded by hard-stop-after).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/signal_set.hpp>

#include "common/net/asio.hpp"
#include "common/net/health_checker.hpp"
#include "common/net/idle_trim.hpp"
#include "common/net/runtime.hpp"
#include "config/model.hpp"
#include "dispatcher/handoff_channel.hpp"
#include "master/control_channel.hpp"
#include "worker/handoff_receiver.hpp"
#include "worker/ticket_keys.hpp"
#include "worker/tls_context.hpp"

namespace tierlb::master {

namespace asio = boost::asio;

class ProcessHost {
public:
    ProcessHost(config::ConfigurationPtr config, int number);
    ~ProcessHost();
    ProcessHost(const ProcessHost&) = delete;
    ProcessHost& operator=(const ProcessHost&) = delete;

    // Builds the runtime and starts serving on the given listening sockets ("proxy/bind" ->
    // fd, see listeners.hpp), which it owns from now on. An error means exit code 2.
    std::optional<std::string> start(const std::map<std::string, int>& listening_fds);

    // Serves until stopped; returns the exit code.
    int run();

    net::ProcessRuntime& runtime() { return runtime_; }

private:
    void build_runtime();
    std::optional<std::string> start_listeners(const std::map<std::string, int>& fds);
    std::optional<std::string> start_tls();
    std::optional<std::string> start_checks();
    void start_handoff_channels(net::BackendRuntime& backend, net::HealthChecker& checker);
    log::LogSinks logs_for(const config::Proxy& proxy);
    void on_control_message(const std::string& name, const std::string& body);
    // The health-check state of a server, for the stats commands.
    std::optional<health::CheckState> check_state(const net::BackendRuntime& backend,
                                                  std::size_t index) const;
    std::optional<std::string> start_stats();
    void accept(net::ListenerRuntime& listener, int fd, const SocketAddress& peer,
                net::ConnectionSlot slot);
    void start_session(net::Accepted accepted);
    net::AllowedPeers allowed_peers(const config::Bind& bind) const;
    void watch_signals();
    void soft_stop();
    void hard_stop();
    void wait_for_drain();

    asio::io_context& context_for_next_connection();

    config::ConfigurationPtr config_;
    std::vector<std::unique_ptr<asio::io_context>> contexts_;
    std::vector<std::thread> threads_;
    net::ProcessRuntime runtime_;
    struct Stats;
    std::unique_ptr<Stats> stats_;
    std::unique_ptr<asio::signal_set> signals_;
    worker::TicketKeys tickets_;
    std::map<const config::Bind*, std::unique_ptr<worker::BindTls>> tls_;
    std::unique_ptr<ControlChannel> control_;
    std::vector<std::unique_ptr<net::HealthChecker>> checkers_;
    std::vector<std::unique_ptr<dispatcher::HandoffChannel>> handoff_channels_;
    worker::ControlConnections control_connections_;
    net::Gate unlimited_[3];  // the gates of hand-off control connections: never full
    // The servers each process number serves (their address is one of its binds): what to
    // mark DOWN when the master says that process died.
    std::map<int, std::vector<std::pair<net::HealthChecker*, std::size_t>>> servers_by_process_;
    std::unique_ptr<net::Timer> drain_timer_;
    std::unique_ptr<net::IdleTrim> idle_trim_;  // the heap given back after a burst
    std::size_t next_context_ = 0;
    bool stopping_ = false;
};

// The signals a process answers (stop, soft stop, reload). The master blocks them in a child
// before exec, and the process unblocks them once its handlers are in place: one sent early
// (a reload undone at once) waits instead of killing it.
sigset_t process_signals();

// Raises the soft limit on open files to the hard one, and returns the global maxconn to use:
// the configured one, else what the limit allows (two descriptors per connection).
std::uint32_t prepare_fd_limit(const config::Configuration& config, int process = 0);

}  // namespace tierlb::master
