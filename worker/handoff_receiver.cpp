#include "worker/handoff_receiver.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "common/handoff/message.hpp"
#include "common/log/event_log.hpp"
#include "common/net/control_reader.hpp"
#include "common/net/fd_passing.hpp"
#include "common/net/poller.hpp"
#include "common/net/socket_ops.hpp"

namespace tierlb::worker {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::system_clock;

// One dispatcher's control connection. It keeps itself alive while the connection is open;
// the close reports of its sessions keep it alive after that, so that the socket they write
// to stays this one (an fd number closed too early could be reused by anything).
class ControlConnection : public std::enable_shared_from_this<ControlConnection> {
public:
    ControlConnection(net::Executor executor, int fd, net::ProcessState& process,
                      net::ListenerRuntime& listener, StartSession start_session)
        : executor_(executor),
          process_(process),
          listener_(listener),
          start_session_(std::move(start_session)),
          ack_timer_(executor) {
        watch_.fd = fd;
        watch_.on_ready = &ControlConnection::on_ready;
        watch_.owner = this;
    }
    ~ControlConnection() {
        if (watch_.fd >= 0) {
            ::close(watch_.fd);
        }
    }

    void start() {
        self_ = shared_from_this();
        if (auto ec = net::Poller::of(executor_).add(watch_, net::writable)) {
            end("cannot watch it: " + ec.message());
            return;
        }
        read_messages();
    }

    // From a session's thread: a datagram send is atomic, and the socket stays open as long
    // as this object lives.
    void send(const handoff::Message& message) {
        net::send_datagram(watch_.fd, handoff::encode(message));
    }

    // A session's end, from its thread; it tells the dispatcher what was taken too.
    void report_closed(handoff::Closed& closed) {
        closed.taken_through = taken_through_.load(std::memory_order_acquire);
        send(closed);
        told(closed.taken_through);
    }

private:
    static void on_ready(net::PollWatch*, void* owner) {
        static_cast<ControlConnection*>(owner)->read_messages();
    }

    void read_messages() {
        net::read_control_messages(
            watch_, [this](const handoff::Message& m, int fd) { return on_message(m, fd); },
            [this](const std::string& why) { end(why); });
    }

    bool on_message(const handoff::Message& message, int fd) {
        if (const auto* hand_off = std::get_if<handoff::HandOff>(&message)) {
            if (fd < 0) {
                end("protocol error: a hand-off without a socket");
                return false;
            }
            take(*hand_off, fd);
            return true;
        }
        if (fd >= 0) {
            ::close(fd);
            end("protocol error: a socket with a message that carries none");
            return false;
        }
        if (const auto* check = std::get_if<handoff::Check>(&message)) {
            send(handoff::CheckOk{check->id});
            return true;
        }
        end("protocol error: a worker's message from the dispatcher");
        return false;
    }

    void take(const handoff::HandOff& message, int fd);

    // The dispatcher learns which sockets were taken (it bounds those in flight and writes
    // off the rest if this process dies) from the close reports, or from an acknowledgement
    // sent once ack_batch are pending or ack_delay after the first one: each message wakes
    // the dispatcher up, so most connections cost it none of its own.
    static constexpr std::uint64_t ack_batch = 32;  // of the dispatcher's 256 in flight
    static constexpr auto ack_delay = std::chrono::milliseconds(20);

    void taken(std::uint64_t id) {
        taken_through_.store(id, std::memory_order_release);
        if (id - told_through_.load(std::memory_order_acquire) >= ack_batch) {
            acknowledge();
        } else if (!ack_armed_) {
            ack_armed_ = true;
            ack_timer_.expires_after(ack_delay);
            ack_timer_.async_wait([self = shared_from_this()](const net::error_code& ec) {
                self->ack_armed_ = false;
                if (!ec && !self->ended_) {
                    self->acknowledge();
                }
            });
        }
    }

    // Sends what is not yet acknowledged (nothing when the close reports said it all).
    void acknowledge() {
        const std::uint64_t through = taken_through_.load(std::memory_order_acquire);
        if (through > told_through_.load(std::memory_order_acquire)) {
            send(handoff::Accepted{through});
            told(through);
        }
    }

    void told(std::uint64_t through) {
        std::uint64_t seen = told_through_.load(std::memory_order_relaxed);
        while (seen < through &&
               !told_through_.compare_exchange_weak(seen, through, std::memory_order_acq_rel)) {
        }
    }

public:
    // This process stops: no more sockets from this dispatcher (its sessions go on).
    void close_for_stop() {
        net::asio::post(executor_, [self = shared_from_this()] {
            if (!self->ended_) {
                self->acknowledge();  // what is taken is not lost in flight
                self->send(handoff::Leaving{});
                self->end({});
                ::shutdown(self->watch_.fd, SHUT_RDWR);
            }
        });
    }

private:
    // The dispatcher went away (or broke the protocol): its sessions go on; their reports
    // will find nobody to tell.
    void end(const std::string& why) {
        ended_ = true;
        ack_timer_.cancel();
        net::Poller::of(executor_).remove(watch_);
        if (!why.empty()) {
            log::warning("{}: control connection closed: {}", listener_.name, why);
        }
        // Not from inside the poller's callback: the batch may still point at this watch.
        net::asio::post(executor_, [self = std::move(self_)] {});
    }

    net::Executor executor_;
    net::ProcessState& process_;
    net::ListenerRuntime& listener_;
    StartSession start_session_;
    net::PollWatch watch_;
    std::shared_ptr<ControlConnection> self_;
    bool ended_ = false;
    // Hand-off ids: the last socket taken, and the last the dispatcher was told of (written
    // by session threads too).
    std::atomic<std::uint64_t> taken_through_{0};
    std::atomic<std::uint64_t> told_through_{0};
    net::Timer ack_timer_;
    bool ack_armed_ = false;
};

namespace {

// Tells the dispatcher how a handed-off session ended.
class ReportToDispatcher final : public net::CloseReport {
public:
    ReportToDispatcher(std::shared_ptr<ControlConnection> link, std::uint64_t id,
                       std::uint32_t listener_id)
        : link_(std::move(link)), id_(id), listener_id_(listener_id) {}

    void closed(const net::SessionSummary& s) override {
        handoff::Closed m;
        m.id = id_;
        m.listener_id = listener_id_;
        const auto accepted_wall = system_clock::now() - duration_cast<system_clock::duration>(
                                                             net::Clock::now() - s.accepted);
        m.accepted_unix_ms = static_cast<std::uint64_t>(
            duration_cast<milliseconds>(accepted_wall.time_since_epoch()).count());
        m.client = s.client;
        m.bytes_in = s.bytes_in;
        m.bytes_out = s.bytes_out;
        m.duration_ms = static_cast<std::uint32_t>(
            duration_cast<milliseconds>(net::Clock::now() - s.accepted).count());
        m.termination = {s.termination[0], s.termination[1]};
        link_->report_closed(m);
    }

private:
    std::shared_ptr<ControlConnection> link_;
    std::uint64_t id_;
    std::uint32_t listener_id_;
};

}  // namespace

// A client socket, ours from now on: a session as if accepted on this bind, dated from the
// dispatcher's accept so that the times in the logs are the client's.
void ControlConnection::take(const handoff::HandOff& message, int fd) {
    taken(message.id);
    // A dispatcher accepts non-blocking (the flag belongs to the open file, shared with us).
    if (const int flags = ::fcntl(fd, F_GETFL); (flags & O_NONBLOCK) == 0) {
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    const auto since_accept =
        system_clock::now() - system_clock::time_point(milliseconds(message.accepted_unix_ms));
    const auto age =
        std::max(net::Clock::duration::zero(), duration_cast<net::Clock::duration>(since_accept));
    net::Accepted accepted;
    accepted.fd = fd;
    accepted.peer = net::peer_address(fd);  // the socket's own, whatever the message says
    accepted.slot = net::ConnectionSlot(net::gates_of(process_, listener_));
    accepted.listener = &listener_;
    accepted.at = net::Clock::now() - age;
    accepted.report =
        std::make_unique<ReportToDispatcher>(shared_from_this(), message.id, message.listener_id);
    // The dispatcher closes its copy after sending, but may not have yet when this session
    // ends (a short connection, a dispatcher descheduled in between).
    accepted.owners = net::FileOwners::shared;
    start_session_(std::move(accepted));
}

void ControlConnections::add(const std::shared_ptr<ControlConnection>& connection) {
    std::lock_guard lock(mutex_);
    std::erase_if(open_, [](const auto& weak) { return weak.expired(); });
    open_.push_back(connection);
}

void ControlConnections::close_all() {
    std::lock_guard lock(mutex_);
    for (const auto& weak : open_) {
        if (auto connection = weak.lock()) {
            connection->close_for_stop();
        }
    }
    open_.clear();
}

void open_control_connection(net::Executor executor, int fd, net::ProcessState& process,
                             net::ListenerRuntime& listener, const net::AllowedPeers& allowed,
                             ControlConnections& registry, StartSession start_session) {
    if (auto why = net::untrusted_peer(fd, allowed)) {
        // Refused for who connected, before a byte is read: HAProxy's "tcp-request connection
        // reject", counted in dcon. Any local process can do it in a loop: one line per 10 s.
        net::add(listener.stats.denied_connections);
        net::add(listener.frontend->stats.denied_connections);
        if (const auto unlogged = listener.refusals.allow(log::Throttle::Clock::now())) {
            log::warning(
                "{}: control connection refused: {}, not this process's user nor the bind's "
                "user or group{}",
                listener.name, *why, log::unlogged_note(*unlogged));
        }
        ::close(fd);
        return;
    }
    auto connection = std::make_shared<ControlConnection>(executor, fd, process, listener,
                                                          std::move(start_session));
    connection->start();
    registry.add(connection);
}

}  // namespace tierlb::worker
