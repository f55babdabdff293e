#include "master/process.hpp"

#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/signal_set.hpp>
#include <cerrno>
#include <cstring>

#include "common/log/event_log.hpp"
#include "common/log/stream_writer.hpp"
#include "common/net/socket_ops.hpp"
#include "common/net/stats_commands.hpp"
#include "common/net/stats_http_server.hpp"
#include "common/net/stats_server.hpp"
#include "dispatcher/session.hpp"
#include "master/fd_budget.hpp"
#include "master/listeners.hpp"
#include "master/master_cli.hpp"
#include "master/nohop_pinned.hpp"
#include "master/privileges.hpp"
#include "worker/tls_session.hpp"
#include "worker/tls_takeover.hpp"

namespace tierlb::master {

using namespace std::chrono_literals;

std::uint32_t prepare_fd_limit(const config::Configuration& config, int process) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    // What maxconn needs: two descriptors per connection (client and server), and those the
    // process needs anyway (master/fd_budget.hpp).
    const FdReserve reserve = fd_reserve(config, process);
    const std::uint64_t needed =
        config.global.maxconn ? std::uint64_t{*config.global.maxconn} * 2 + reserve.total() : 0;
    int raise_error = 0;
    if (needed > limit.rlim_max) {
        // Root may raise the hard limit too (up to fs.nr_open), as HAProxy does.
        const rlimit wanted{needed, needed};
        if (::setrlimit(RLIMIT_NOFILE, &wanted) != 0) {
            raise_error = errno;
        }
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    const auto files = static_cast<std::uint64_t>(limit.rlim_cur);
    const std::uint64_t allowed = automatic_maxconn(files, reserve);
    if (config.global.maxconn) {
        if (*config.global.maxconn > allowed) {
            log::warning(
                "maxconn {} needs about {} file descriptors, but the limit is {} "
                "(ulimit -n) and could not be raised ({}): connections past {} may fail",
                *config.global.maxconn, needed, files,
                raise_error == EPERM ? "raising the hard limit needs CAP_SYS_RESOURCE"
                : raise_error != 0 ? std::string("above fs.nr_open? ") + std::strerror(raise_error)
                                   : "unknown reason",
                allowed);
        }
        return *config.global.maxconn;
    }
    return static_cast<std::uint32_t>(allowed);
}

struct ProcessHost::Stats {
    std::vector<std::unique_ptr<net::StatsServer>> servers;
    std::vector<std::unique_ptr<net::ServiceListener>> pages;  // stats http
};

ProcessHost::ProcessHost(config::ConfigurationPtr config, int number) : config_(std::move(config)) {
    runtime_.state.number = number;
    runtime_.state.config = config_;
    const std::uint32_t threads = std::max<std::uint32_t>(1, config_->global.nbthread);
    for (std::uint32_t i = 0; i < threads; ++i) {
        contexts_.push_back(std::make_unique<asio::io_context>(1));
    }
}

ProcessHost::~ProcessHost() {
    for (auto& c : contexts_) {
        c->stop();
    }
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
}

void ProcessHost::build_runtime() {
    const int number = runtime_.state.number;
    const config::Configuration& config = *config_;
    runtime_.state.connections.set_limit(prepare_fd_limit(config, number));
    std::vector<std::shared_ptr<log::LogSink>> global_sinks;
    for (const auto& target : config.global.logs) {
        global_sinks.push_back(std::make_shared<log::LogSink>(target));
        runtime_.state.global_logs.add(global_sinks.back());
    }
    for (const auto& proxy : config.proxies) {
        if (proxy.has_backend() && proxy.processes.contains(number)) {
            runtime_.backends.push_back(std::make_unique<net::BackendRuntime>(proxy));
        }
    }
    for (const auto& proxy : config.proxies) {
        const bool serves_here =
            std::any_of(proxy.binds.begin(), proxy.binds.end(),
                        [&](const auto& b) { return b.processes.contains(number); });
        if (!proxy.has_frontend() || !serves_here) {
            continue;
        }
        auto frontend = std::make_unique<net::FrontendRuntime>();
        frontend->config = &proxy;
        frontend->connections.set_limit(proxy.maxconn != 0 ? proxy.maxconn
                                                           : runtime_.state.connections.limit());
        if (const config::Proxy* backend = config.backend_of(proxy)) {
            frontend->backend = runtime_.find_backend(backend->name);
        }
        for (const auto& target : proxy.logs) {
            frontend->logs.add(std::make_shared<log::LogSink>(target));
        }
        if (proxy.log_global) {
            for (const auto& sink : global_sinks) {
                frontend->logs.add(sink);
            }
        }
        for (const auto& bind : proxy.binds) {
            if (!bind.processes.contains(number)) {
                continue;
            }
            auto listener = std::make_unique<net::ListenerRuntime>();
            listener->config = &bind;
            listener->frontend = frontend.get();
            listener->connections.set_limit(bind.maxconn.value_or(0));
            listener->name = proxy.name + "/" + (bind.name.empty() ? bind.address_text : bind.name);
            listener->index = static_cast<std::uint32_t>(runtime_.listeners.size());
            if (bind.accept_proxy && bind.address.is_unix()) {
                listener->trusted_peers = allowed_peers(bind);  // no file permissions on abns@
            }
            runtime_.listeners.push_back(std::move(listener));
        }
        runtime_.frontends.push_back(std::move(frontend));
    }
}

std::optional<std::string> ProcessHost::start(const std::map<std::string, int>& listening_fds) {
    // From here on a log line waits in a queue rather than hold a connection's thread.
    log::use_writer_threads();
    apply_cpu_map(config_->global, runtime_.state.number);  // before any thread starts
    build_runtime();
    const bool terminates_tls =
        std::any_of(runtime_.listeners.begin(), runtime_.listeners.end(),
                    [](const auto& listener) { return listener->config->ssl; });
    apply_dispatcher_scheduling(config_->global, runtime_.state.number, terminates_tls);
    if (const char* fd = std::getenv(control_fd_variable)) {
        control_ = std::make_unique<ControlChannel>(std::atoi(fd));
        ::unsetenv(control_fd_variable);
        control_->read_waiting([this](const std::string& name, const std::string& body) {
            on_control_message(name, body);
        });
    }
    if (auto error = start_tls()) {
        return error;
    }
    // Checks and hand-off channels first: a session may choose a server at once.
    if (auto error = start_checks()) {
        return error;
    }
    if (auto error = start_listeners(listening_fds)) {
        return error;
    }
    if (auto error = start_stats()) {
        return error;
    }
    // Every socket is open and every certificate read: root is no longer needed.
    if (auto error = drop_privileges(config_->global)) {
        return error;
    }
    watch_signals();
    idle_trim_ = std::make_unique<net::IdleTrim>(contexts_[0]->get_executor(), runtime_.state);
    idle_trim_->start();
    if (control_) {
        control_->watch(
            contexts_[0]->get_executor(),
            [this](const std::string& name, const std::string& body) {
                on_control_message(name, body);
            },
            [this] {
                log::warning("process {}: the master is gone; stopping softly",
                             runtime_.state.number);
                soft_stop();
            });
    }
    log::notice("process {} ready", runtime_.state.number);
    if (control_) {
        control_->send(ready_message, "");
    }
    return std::nullopt;
}

std::optional<std::string> ProcessHost::start_listeners(const std::map<std::string, int>& fds) {
    std::size_t next = 0;
    const net::NohopInheritance nohop = net::take_nohop_inheritance();
    for (const auto& listener : runtime_.listeners) {
        const config::Bind& bind = *listener->config;
        const std::string key = listener_key(*listener->frontend->config, bind);
        auto found = fds.find(key);
        if (found == fds.end()) {
            return "no listening socket was handed over for " + key;
        }
        listener->bound = net::local_address(found->second);
        if (bind.accept_balance_leastconn && control_ == nullptr) {
            // Alone: the group's program and maps are in bpffs, or this process puts them
            // there. Before the gates are made, as below.
            net::NohopInheritance pinned;
            if (bind.processes.count() > 1) {
                auto handover = open_pinned_group(*listener->frontend->config, bind,
                                                  runtime_.state.number, found->second);
                if (handover) {
                    pinned.handovers[key] = *handover;
                } else {
                    pinned.fallback = handover.error();
                }
            } else {
                pinned.fallback = "a listener of one process has no group";
            }
            net::join_nohop(*listener, key, found->second, pinned, true);
        } else if (bind.accept_balance_leastconn) {
            // Before the gates are made: a connection leaves the group's count with them.
            net::join_nohop(*listener, key, found->second, nohop, false);
        }
        asio::io_context& context = *contexts_[next++ % contexts_.size()];
        net::ListenerRuntime* raw = listener.get();
        net::Listener::Handler handler;
        net::AcceptGates gates = net::gates_of(runtime_.state, *listener);
        if (bind.accept_handoff) {
            // Control connections: never held back by maxconn (the connections they bring
            // are counted), each one checked and then read on this listener's thread.
            gates = {&unlimited_[0], &unlimited_[1], &unlimited_[2], &runtime_.state.paused};
            handler = [this, raw, executor = context.get_executor(), allowed = allowed_peers(bind)](
                          int fd, const SocketAddress&, net::ConnectionSlot) {
                worker::open_control_connection(
                    executor, fd, runtime_.state, *raw, allowed, control_connections_,
                    [this](net::Accepted accepted) { start_session(std::move(accepted)); });
            };
        } else {
            handler = [this, raw](int fd, const SocketAddress& peer, net::ConnectionSlot slot) {
                accept(*raw, fd, peer, std::move(slot));
            };
        }
        listener->listener = std::make_unique<net::Listener>(
            context.get_executor(), found->second, listener->name, gates,
            config_->global.tune_maxaccept, std::move(handler));
        listener->listener->start();
        if (listener->nohop) {
            listener->nohop->start_reconcile(*listener);
        }
    }
    return std::nullopt;
}

// The TLS side of this process's ssl binds, and the ticket keys they share with the other
// processes: from the tls-ticket-keys file, else from the master, else (a process run alone)
// made here.
std::optional<std::string> ProcessHost::start_tls() {
    worker::enable_idle_offload(config_->global.tune_ssl_idle_offload);
    const auto& keys_file = config_->global.tls_ticket_keys;
    if (!keys_file.empty()) {
        auto keys = worker::TicketKeys::read_file(keys_file);
        if (!keys) {
            return keys.error();
        }
        tickets_.set(std::move(*keys));
    } else if (tickets_.empty()) {
        if (control_) {
            log::warning(
                "process {}: no TLS ticket keys from the master; sessions will only "
                "resume on this process",
                runtime_.state.number);
        }
        tickets_.set(worker::TicketKeys::generate());
    }
    for (const auto& listener : runtime_.listeners) {
        const config::Bind& bind = *listener->config;
        if (!bind.ssl || tls_.count(&bind) != 0) {
            continue;
        }
        auto tls = worker::BindTls::load(bind, *listener->frontend->config,
                                         config_->global.crt_base, &tickets_);
        if (!tls) {
            return "proxy '" + listener->frontend->config->name + "', bind '" + bind.address_text +
                   "' (" + bind.where.file + ":" + std::to_string(bind.where.line) +
                   "): " + tls.error();
        }
        tls_[&bind] = std::move(*tls);
    }
    return std::nullopt;
}

log::LogSinks ProcessHost::logs_for(const config::Proxy& proxy) {
    log::LogSinks sinks;
    for (const auto& target : proxy.logs) {
        sinks.add(std::make_shared<log::LogSink>(target));
    }
    if (proxy.log_global) {
        for (const auto& target : config_->global.logs) {
            sinks.add(std::make_shared<log::LogSink>(target));
        }
    }
    return sinks;
}

// A control connection to the worker of each `handoff` server of BACKEND, which also checks
// it when the server has `check`.
void ProcessHost::start_handoff_channels(net::BackendRuntime& backend,
                                         net::HealthChecker& checker) {
    for (std::size_t i = 0; i < backend.size(); ++i) {
        net::ServerRuntime& server = backend.server(i);
        if (!server.config->options.handoff) {
            continue;
        }
        auto channel = std::make_unique<dispatcher::HandoffChannel>(contexts_[0]->get_executor(),
                                                                    runtime_, backend, i, &checker);
        server.handoff = channel.get();
        checker.set_probe(i, channel.get());
        channel->start();
        handoff_channels_.push_back(std::move(channel));
    }
}

// Health checks of every backend of this process, and which servers each process number
// serves (a server whose address one of that process's binds has).
std::optional<std::string> ProcessHost::start_checks() {
    for (const auto& backend : runtime_.backends) {
        auto checker = std::make_unique<net::HealthChecker>(contexts_[0]->get_executor(), *backend,
                                                            logs_for(backend->config()));
        start_handoff_channels(*backend, *checker);
        if (auto error = checker->start()) {
            return error;
        }
        for (std::size_t i = 0; i < backend->size(); ++i) {
            const SocketAddress& address = backend->server(i).config->address;
            for (const auto& proxy : config_->proxies) {
                for (const auto& bind : proxy.binds) {
                    if (bind.address == address) {
                        for (int p : bind.processes.numbers()) {
                            servers_by_process_[p].emplace_back(checker.get(), i);
                        }
                    }
                }
            }
        }
        checkers_.push_back(std::move(checker));
    }
    return std::nullopt;
}

std::optional<health::CheckState> ProcessHost::check_state(const net::BackendRuntime& backend,
                                                           std::size_t index) const {
    for (const auto& checker : checkers_) {
        if (&checker->backend() == &backend) {
            return checker->state(index);
        }
    }
    return std::nullopt;
}

void ProcessHost::on_control_message(const std::string& name, const std::string& body) {
    if (name == process_down_message || name == process_up_message) {
        const int process = std::atoi(body.c_str());
        const auto newline = body.find('\n');
        const std::string how = newline == std::string::npos ? "" : body.substr(newline + 1);
        for (auto [checker, server] : servers_by_process_[process]) {
            if (name == process_down_message) {
                checker->mark_process_down(server,
                                           "process " + std::to_string(process) + " " + how);
            } else {
                checker->mark_process_up(server);
            }
        }
        return;
    }
    if (name == reload_started_message || name == reload_aborted_message) {
        const bool held = name == reload_started_message;
        for (auto& listener : runtime_.listeners) {
            if (listener->config->accept_handoff && listener->listener) {
                asio::post(listener->listener->executor(),
                           [l = listener->listener.get(), held] { l->set_held(held); });
            }
            // accept-balance: the new process of this number takes the slot over (its
            // connections and this one's count there together), or gives it back.
            if (listener->nohop && listener->listener) {
                asio::post(listener->listener->executor(), [raw = listener.get(), held] {
                    if (held) {
                        raw->nohop->supersede(raw->connections.count(), false);
                    } else {
                        raw->nohop->resume();
                    }
                });
            }
        }
        return;
    }
    if (name == cli_request_message && control_) {
        // The master CLI's `@N COMMAND`, run as the stats socket runs it, at level admin.
        const auto newline = body.find('\n');
        const std::uint64_t id = std::strtoull(body.c_str(), nullptr, 10);
        net::StatsSession session;
        session.level = config::StatsLevel::admin;
        session.checks = [this](const net::BackendRuntime& backend, std::size_t index) {
            return check_state(backend, index);
        };
        const std::string answer = net::execute_line(
            runtime_, session,
            newline == std::string::npos ? std::string_view()
                                         : std::string_view(body).substr(newline + 1));
        for (const auto& message : reply_messages(id, answer)) {
            control_->send(cli_reply_message, message);
        }
        return;
    }
    if (name == ticket_keys_message && config_->global.tls_ticket_keys.empty()) {
        auto keys = worker::TicketKeys::decode(body);
        if (keys) {
            tickets_.set(std::move(*keys));
            log::debug("process {}: TLS ticket keys from the master", runtime_.state.number);
        } else {
            log::warning("process {}: {}", runtime_.state.number, keys.error());
        }
    }
}

// The stats sockets of this process: opened here (not by the master), since only this
// process answers on them.
std::optional<std::string> ProcessHost::start_stats() {
    stats_ = std::make_unique<Stats>();
    const bool take_over = std::getenv("TIERLB_TAKEOVER") != nullptr;
    ::unsetenv("TIERLB_TAKEOVER");
    // The health-check columns: the checkers run on contexts_[0], as the stats servers do.
    const net::CheckLookup checks = [this](const net::BackendRuntime& backend,
                                           std::size_t index) -> std::optional<health::CheckState> {
        for (const auto& checker : checkers_) {
            if (&checker->backend() == &backend) {
                return checker->state(index);
            }
        }
        return std::nullopt;
    };
    for (const auto& socket : config_->global.stats_sockets) {
        if (!socket.process.contains(runtime_.state.number)) {
            continue;
        }
        net::ListenOptions options;
        options.backlog = 16;
        options.mode = socket.mode;
        options.take_over = take_over;
        auto fd = net::open_listener(socket.address, options);
        if (!fd) {
            return "stats socket (" + socket.where.file + ":" + std::to_string(socket.where.line) +
                   "): cannot bind: " + fd.error();
        }
        auto server =
            std::make_unique<net::StatsServer>(contexts_[0]->get_executor(), *fd, socket.level,
                                               config_->global.stats_timeout, runtime_);
        server->set_checks(checks);
        server->start();
        stats_->servers.push_back(std::move(server));
    }
    for (const auto& page : config_->global.stats_http) {
        if (!page.process.contains(runtime_.state.number)) {
            continue;
        }
        net::ListenOptions options;
        options.backlog = 64;
        options.take_over = take_over;
        // A reloaded process binds while the one it replaces still listens, and `process 1-2`
        // shares the port: both need SO_REUSEPORT on every socket of the port.
        options.reuse_port = page.address.is_inet();
        auto fd = net::open_listener(page.address, options);
        if (!fd) {
            return "stats http (" + page.where.file + ":" + std::to_string(page.where.line) +
                   "): cannot bind: " + fd.error();
        }
        const std::string bound = net::local_address(*fd).to_string();
        auto server = net::make_stats_http_server(contexts_[0]->get_executor(), *fd,
                                                  config_->global.stats_timeout, runtime_, checks);
        server->start();
        stats_->pages.push_back(std::move(server));
        log::notice("process {}: stats http listening on {}", runtime_.state.number, bound);
    }
    return std::nullopt;
}

asio::io_context& ProcessHost::context_for_next_connection() {
    return *contexts_[next_context_++ % contexts_.size()];
}

// Who may open a control connection to BIND (accept-handoff), or send it a PROXY header
// (accept-proxy on a unix socket): this process's user, root, and the bind's user and group
// (the ones its socket belongs to).
net::AllowedPeers ProcessHost::allowed_peers(const config::Bind& bind) const {
    net::AllowedPeers allowed;
    allowed.uid = serving_uid(config_->global);  // the dispatcher's, once both dropped root
    allowed.bind_uid = bind.uid;
    allowed.bind_gid = bind.gid;
    if (!bind.user.empty()) {
        if (const passwd* pw = ::getpwnam(bind.user.c_str())) {
            allowed.bind_uid = pw->pw_uid;
        }
    }
    if (!bind.group.empty()) {
        if (const group* gr = ::getgrnam(bind.group.c_str())) {
            allowed.bind_gid = gr->gr_gid;
        }
    }
    return allowed;
}

void ProcessHost::accept(net::ListenerRuntime& listener, int fd, const SocketAddress& peer,
                         net::ConnectionSlot slot) {
    start_session(net::Accepted{fd, peer, std::move(slot), &listener, net::Clock::now(), {}});
}

// A session on the next thread, TLS or plain as its bind says; the socket was accepted here
// or handed over by a dispatcher.
void ProcessHost::start_session(net::Accepted accepted) {
    asio::io_context& context = context_for_next_connection();
    net::ListenerRuntime& listener = *accepted.listener;
    auto tls = tls_.find(listener.config);
    auto session = tls != tls_.end()
                       ? worker::run_tls_session(runtime_.state, std::move(accepted), *tls->second)
                       : dispatcher::run_session(runtime_.state, std::move(accepted));
    // co_spawn starts the session on the connection's own thread; it stays there.
    asio::co_spawn(context, std::move(session), [](std::exception_ptr e) {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::alert("session ended by an unexpected error: {}", ex.what());
        }
    });
}

sigset_t process_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGHUP, SIGUSR2}) {
        sigaddset(&set, s);
    }
    return set;
}

void ProcessHost::watch_signals() {
    signals_ = std::make_unique<asio::signal_set>(*contexts_[0]);
    for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGHUP, SIGUSR2}) {
        signals_->add(s);
    }
    const sigset_t set = process_signals();
    ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);  // blocked by the master until now
    signals_->async_wait([this](const net::error_code& ec, int signal) {
        if (ec) {
            return;
        }
        if (signal == SIGTERM || signal == SIGINT) {
            hard_stop();
            return;
        }
        if (signal == SIGUSR1) {
            soft_stop();
        }
        // SIGHUP/SIGUSR2 are the master's (reload); a process ignores them.
        watch_signals();
    });
}

void ProcessHost::hard_stop() {
    log::notice("process {} stopping now", runtime_.state.number);
    // Established connections are closed by the kernel as the process exits; nothing else
    // needs to be torn down in order.
    log::flush_streams();
    std::fflush(nullptr);
    ::_exit(0);
}

void ProcessHost::soft_stop() {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    runtime_.state.stopping = true;
    for (auto& frontend : runtime_.frontends) {
        frontend->stopped = true;
    }
    // Each listener stops on its own thread, after the accepts already queued there; the
    // drain starts once every one has, so that no connection is accepted after the count of
    // established ones said none was left (the process would exit under it).
    auto listening = std::make_shared<std::atomic<std::size_t>>(runtime_.listeners.size() + 1);
    const auto listener_stopped = [this, listening] {
        if (listening->fetch_sub(1) == 1) {
            asio::post(contexts_[0]->get_executor(), [this] { wait_for_drain(); });
        }
    };
    for (auto& listener : runtime_.listeners) {
        asio::post(listener->listener->executor(), [raw = listener.get(), listener_stopped] {
            if (raw->nohop) {
                // Its slot is the next process's now; what it still holds stays counted there.
                raw->nohop->supersede(raw->connections.count(), true);
            }
            raw->listener->stop();
            listener_stopped();
        });
    }
    for (auto& channel : handoff_channels_) {
        channel->stop();
    }
    control_connections_.close_all();
    log::notice("process {} stopping softly: no new connections, {} established ones to finish",
                runtime_.state.number, runtime_.state.connections.count());
    if (config_->global.hard_stop_after) {
        auto timer = std::make_shared<net::Timer>(contexts_[0]->get_executor());
        timer->expires_after(*config_->global.hard_stop_after);
        timer->async_wait([this, timer](const net::error_code& ec) {
            if (!ec) {
                log::notice("hard-stop-after reached with {} connections left",
                            runtime_.state.connections.count());
                hard_stop();
            }
        });
    }
    drain_timer_ = std::make_unique<net::Timer>(contexts_[0]->get_executor());
    listener_stopped();  // soft_stop's own share: the drain never starts before the timer exists
}

void ProcessHost::wait_for_drain() {
    if (runtime_.state.connections.count() == 0) {
        log::notice("process {} stopped: every connection has ended", runtime_.state.number);
        for (auto& c : contexts_) {
            c->stop();
        }
        return;
    }
    drain_timer_->expires_after(100ms);
    drain_timer_->async_wait([this](const net::error_code& ec) {
        if (!ec) {
            wait_for_drain();
        }
    });
}

int ProcessHost::run() {
    for (std::size_t i = 1; i < contexts_.size(); ++i) {
        threads_.emplace_back([c = contexts_[i].get()] {
            auto guard = asio::make_work_guard(*c);
            c->run();
        });
    }
    {
        auto guard = asio::make_work_guard(*contexts_[0]);
        contexts_[0]->run();
    }
    for (auto& c : contexts_) {
        c->stop();
    }
    for (auto& t : threads_) {
        t.join();
    }
    threads_.clear();
    // Completions already queued (cancelled waits of finished connections) still run, so
    // every object they hold is released before the contexts go.
    for (auto& c : contexts_) {
        c->restart();
        c->poll();
    }
    return 0;
}

}  // namespace tierlb::master
