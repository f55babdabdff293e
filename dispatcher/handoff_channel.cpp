#include "dispatcher/handoff_channel.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log/event_log.hpp"
#include "common/log/tcplog.hpp"
#include "common/net/control_reader.hpp"
#include "common/net/fd_passing.hpp"
#include "common/net/socket_ops.hpp"

namespace tierlb::dispatcher {

namespace {

using namespace std::chrono_literals;

constexpr auto first_retry = 100ms;
constexpr auto last_retry = 1s;

std::uint64_t unix_ms(std::chrono::system_clock::time_point t) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

std::string compact_host(const std::optional<SocketAddress>& a) {
    return a ? a->host() : "unix";
}

}  // namespace

HandoffChannel::HandoffChannel(net::Executor executor, net::ProcessRuntime& runtime,
                               net::BackendRuntime& backend, std::size_t server,
                               net::HealthChecker* checker)
    : executor_(executor),
      runtime_(runtime),
      backend_(backend),
      server_(server),
      checker_(checker),
      reconnect_(executor),
      check_wait_(executor),
      retry_delay_(first_retry) {
    watch_.on_ready = &HandoffChannel::on_ready;
    watch_.owner = this;
}

HandoffChannel::~HandoffChannel() {
    *alive_ = false;
    if (watch_.fd >= 0) {
        ::close(watch_.fd);
    }
}

std::string HandoffChannel::server_name() const {
    return backend_.name() + "/" + backend_.server(server_).config->name;
}

void HandoffChannel::start() {
    connect();
}

void HandoffChannel::stop() {
    stopped_ = true;
    reconnect_.cancel();
}

// One attempt. A unix socket connects at once or not at all: into the worker's backlog even
// before it runs (the master bound it), refused when nothing listens.
void HandoffChannel::connect() {
    if (stopped_) {
        return;
    }
    const SocketAddress& address = backend_.server(server_).config->address;
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log::warning("server {}: cannot open a control connection: {}", server_name(),
                     std::strerror(errno));
        retry_later();
        return;
    }
    if (::connect(fd, address.native(), address.length()) != 0) {
        const int error = errno;
        ::close(fd);
        if (!refusal_logged_) {
            log::warning("server {}: control connection to {} refused: {}; retrying", server_name(),
                         address.to_string(), std::strerror(error));
            refusal_logged_ = true;
        }
        retry_later();
        return;
    }
    {
        std::lock_guard lock(send_mutex_);
        watch_.fd = fd;
    }
    if (auto ec = net::Poller::of(executor_).add(watch_, net::writable)) {
        lost("cannot watch the control connection: " + ec.message());
        return;
    }
    refusal_logged_ = false;
    retry_delay_ = first_retry;
    if (was_up_) {
        log::notice("server {}: control connection established again", server_name());
        // Without checks nothing else would bring it back UP (with them, rise good ones do).
        if (checker_ != nullptr) {
            checker_->mark_process_up(server_);
        }
    }
    was_up_ = true;
    read_messages();  // anything already there
}

void HandoffChannel::retry_later() {
    if (stopped_) {
        return;
    }
    reconnect_.expires_after(retry_delay_);
    retry_delay_ = std::min<net::Clock::duration>(retry_delay_ * 2, last_retry);
    reconnect_.async_wait([this, alive = alive_](const net::error_code& ec) {
        if (!ec && *alive) {
            connect();
        }
    });
}

bool HandoffChannel::send(const handoff::Message& message, int fd) {
    const auto bytes = handoff::encode(message);
    return net::send_datagram(watch_.fd, bytes, fd) == 0;
}

bool HandoffChannel::hand_off(const net::HandoffRequest& request) {
    std::lock_guard lock(send_mutex_);
    if (watch_.fd < 0 || in_flight_locked() >= max_in_flight) {
        return false;
    }
    handoff::HandOff message;
    message.id = next_id_;
    message.listener_id = request.listener_index;
    message.accepted_unix_ms = unix_ms(request.accepted);
    message.client = request.client;
    message.local = request.local;
    const int error = net::send_datagram(watch_.fd, handoff::encode(message), request.fd);
    if (error != 0) {
        // EAGAIN: the worker is not reading; ETOOMANYREFS: too many descriptors in flight
        // from this process. Either way another worker takes this client. A worker that is
        // gone is noticed by the reading side.
        return false;
    }
    ++next_id_;
    handed_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void HandoffChannel::on_ready(net::PollWatch*, void* owner) {
    static_cast<HandoffChannel*>(owner)->read_messages();
}

void HandoffChannel::read_messages() {
    net::read_control_messages(
        watch_,
        [this](const handoff::Message& message, int fd) {
            if (fd >= 0) {
                ::close(fd);
                lost("protocol error: a descriptor from the worker");
                return false;
            }
            return on_message(message);
        },
        [this](const std::string& why) { lost(why.empty() ? "closed by the worker" : why); });
}

bool HandoffChannel::on_message(const handoff::Message& message) {
    if (const auto* accepted = std::get_if<handoff::Accepted>(&message)) {
        taken_through(accepted->id);
    } else if (const auto* closed = std::get_if<handoff::Closed>(&message)) {
        taken_through(closed->taken_through);
        on_closed_report(*closed);
    } else if (const auto* ok = std::get_if<handoff::CheckOk>(&message)) {
        if (pending_check_ && *pending_check_ == ok->id) {
            check_answered_ = true;
            check_wait_.cancel();
        }
    } else if (std::holds_alternative<handoff::Leaving>(message)) {
        leaving_ = true;  // its end is coming: connect again then, to the next process
    } else {
        lost("protocol error: a dispatcher's message from the worker");
        return false;
    }
    return true;
}

// Ids only grow: an old or absent acknowledgement (0) changes nothing, and one beyond what was
// handed off is not believed.
void HandoffChannel::taken_through(std::uint64_t id) {
    std::lock_guard lock(send_mutex_);
    if (id > acked_through_ && id < next_id_) {
        acked_through_ = id;
    }
}

// A handed-off connection ended in the worker: its count on the server goes, its bytes are
// counted, and its line is logged as a relayed connection's would be.
void HandoffChannel::on_closed_report(const handoff::Closed& closed) {
    std::uint32_t handed = handed_.load(std::memory_order_relaxed);
    do {
        if (handed == 0) {
            return;  // a report for a connection counted before this control connection
        }
    } while (!handed_.compare_exchange_weak(handed, handed - 1, std::memory_order_relaxed));
    net::ServerRuntime& server = backend_.server(server_);
    net::ListenerRuntime* listener = closed.listener_id < runtime_.listeners.size()
                                         ? runtime_.listeners[closed.listener_id].get()
                                         : nullptr;
    for (net::TrafficCounters* t :
         {&server.stats.traffic, &backend_.traffic(),
          listener != nullptr ? &listener->stats.traffic : nullptr,
          listener != nullptr ? &listener->frontend->stats.traffic : nullptr}) {
        if (t != nullptr) {
            net::add(t->bytes_in, closed.bytes_in);
            net::add(t->bytes_out, closed.bytes_out);
        }
    }
    if (listener != nullptr) {
        net::FrontendRuntime& frontend = *listener->frontend;
        const bool null_connection = frontend.config->dontlognull && closed.bytes_in == 0;
        if (!frontend.logs.empty() && frontend.config->tcplog && !null_connection) {
            log::TcpLogFields f;
            f.client_host = compact_host(closed.client);
            f.client_port = closed.client ? closed.client->port() : 0;
            f.accepted = std::chrono::system_clock::time_point(
                std::chrono::milliseconds(closed.accepted_unix_ms));
            f.frontend = frontend.config->name;
            f.backend = backend_.name();
            f.server = server.config->name;
            f.wait_ms = 0;
            f.connect_ms = 0;
            f.total_ms = closed.duration_ms;
            f.bytes_to_client = closed.bytes_out;
            f.termination[0] = closed.termination[0];
            f.termination[1] = closed.termination[1];
            f.actconn = runtime_.state.connections.count();
            f.feconn = frontend.connections.count();
            f.beconn = static_cast<unsigned>(net::get(backend_.traffic().current));
            f.srv_conn = static_cast<unsigned>(net::get(server.stats.traffic.current));
            frontend.logs.send(log::Severity::info, log::format_tcplog(f));
        }
    }
    // Handed off as accepted: no queue, no connect of the dispatcher's own.
    backend_.count_end(server_, {closed.termination[0], closed.termination[1], 0, 0,
                                 closed.duration_ms});
    backend_.release(server_);
    backend_.traffic().closed();
}

// The control connection is gone: so is the worker, or it is stopping. Its connections leave
// the count; the server is DOWN until the connection is back (and, with `check`, rise good
// checks say so).
void HandoffChannel::lost(const std::string& why) {
    std::uint32_t in_flight = 0;
    {
        std::lock_guard lock(send_mutex_);
        if (watch_.fd >= 0) {
            net::Poller::of(executor_).remove(watch_);
            ::close(watch_.fd);
            watch_.fd = -1;
        }
        in_flight = in_flight_locked();
        acked_through_ = next_id_ - 1;  // written off: the next connection starts clean
    }
    const std::uint32_t handed = handed_.exchange(0, std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < handed; ++i) {
        backend_.release(server_);
        backend_.traffic().closed();
    }
    // Sockets the worker had not acknowledged: the kernel closed those it never took with it
    // (their clients saw a reset), counted as connection errors on the server. (A stopping
    // worker acknowledges everything before it says it leaves.)
    net::add(backend_.server(server_).stats.connect_errors, in_flight);
    net::add(backend_.connect_errors(), in_flight);
    if (pending_check_) {
        check_wait_.cancel();
    }
    if (std::exchange(leaving_, false)) {
        // A stopping worker: its connections go on, uncounted here from now on. Whoever now
        // accepts on the name (the worker a reload started, or the restarted one) takes over,
        // without the server ever being DOWN.
        log::notice(
            "server {}: the worker is stopping ({} of its connections no longer counted); "
            "connecting to the next one",
            server_name(), handed);
        connect();  // on failure, it has scheduled the next attempt
        if (watch_.fd < 0 && checker_ != nullptr) {
            checker_->mark_process_down(server_, "control connection " + why);
        }
        return;
    }
    log::warning(
        "server {}: control connection {}; {} handed-off connections no longer counted, {} of "
        "them lost in flight (not acknowledged by the worker)",
        server_name(), why, handed, in_flight);
    if (checker_ != nullptr) {
        checker_->mark_process_down(server_, "control connection " + why);
    }
    retry_later();
}

net::Task<health::CheckOutcome> HandoffChannel::probe(net::Clock::duration limit) {
    const auto started = net::Clock::now();
    auto since = [started] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(net::Clock::now() - started);
    };
    const std::uint64_t id = ++checks_sent_;
    {
        std::lock_guard lock(send_mutex_);
        if (watch_.fd < 0 || !send(handoff::Check{id})) {
            co_return health::CheckOutcome{health::CheckStatus::l4con, since(),
                                           "no control connection"};
        }
    }
    pending_check_ = id;
    check_answered_ = false;
    check_wait_.expires_after(limit);
    auto alive = alive_;
    co_await check_wait_.async_wait(net::use_task);
    if (!*alive) {
        co_return health::CheckOutcome{};
    }
    pending_check_.reset();
    if (check_answered_) {
        co_return health::CheckOutcome{health::CheckStatus::l7ok, since(), {}, 0};
    }
    if (watch_.fd < 0) {
        co_return health::CheckOutcome{health::CheckStatus::l4con, since(),
                                       "control connection closed"};
    }
    co_return health::CheckOutcome{health::CheckStatus::l7tout, since(), {}};
}

}  // namespace tierlb::dispatcher
