#include "common/net/listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/log/event_log.hpp"
#include "common/net/socket_ops.hpp"

namespace tierlb::net {

using namespace std::chrono_literals;

Listener::Listener(Executor executor, int fd, std::string name, AcceptGates gates,
                   std::uint32_t max_accept, Handler handler)
    : executor_(executor),
      wake_(executor),
      name_(std::move(name)),
      gates_(gates),
      max_accept_(max_accept),
      handler_(std::move(handler)) {
    watch_.fd = fd;
}

Listener::~Listener() {
    gates_.paused->remove(reinterpret_cast<std::uintptr_t>(this));
    close_watched(watch_);
}

void Listener::start() {
    watch_.on_ready = &Listener::on_ready;
    watch_.owner = this;
    // Readable is assumed: connections may already wait in the backlog (a restarted process).
    // The master holds every listening socket too (for restarts and reloads), and so does the
    // next process after a reload: a shared file, which a close alone would leave registered.
    if (auto ec = Poller::of(executor_).add(watch_, readable, FileOwners::shared)) {
        log::alert("listener {}: cannot watch the socket: {}", name_, ec.message());
        return;
    }
    started_ = true;
    accept_some();
}

void Listener::stop() {
    stopping_ = true;
    wake_.cancel();
    // Out of the poller too: otherwise each connection the next process accepts on this
    // socket would still wake this one while it drains.
    close_watched(watch_);
}

void Listener::set_held(bool held) {
    held_ = held;
    if (!held_) {
        accept_some();  // what arrived meanwhile (its readiness was kept)
    }
}

void Listener::resources_short(std::string what) {
    asio::post(executor_, [this, what = std::move(what)] {
        if (!stopping_) {
            short_of(what);
            pause(100ms);
        }
    });
}

// Logged once per episode (until accepting resumes): a flood of clients past the limit must
// not flood the log too.
void Listener::short_of(const std::string& what) {
    if (!short_of_resources_) {
        log::alert("listener {}: {}; pausing until a connection closes", name_, what);
    }
    short_of_resources_ = true;
    // Once a batch's worth of connections have closed since, a whole batch fits again.
    const std::uint32_t count = gates_.global->count();
    careful_until_ = count > max_accept_ ? count - max_accept_ - 1 : 0;
}

// Near the limit, before each accept: room for a client and its server? Two descriptors,
// taken and given back, say so without accepting a client that could only be dropped.
bool Listener::room_for_a_connection() {
    int spare[2] = {-1, -1};
    for (int& fd : spare) {
        fd = ::fcntl(watch_.fd, F_DUPFD_CLOEXEC, 0);
    }
    const bool room = spare[0] >= 0 && spare[1] >= 0;
    for (int fd : spare) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    if (room && short_of_resources_) {
        short_of_resources_ = false;
        log::notice("listener {}: accepting again", name_);
    }
    if (room && gates_.global->count() <= *careful_until_) {
        careful_until_.reset();
    }
    return room;
}

void Listener::on_ready(PollWatch*, void* owner) {
    auto* self = static_cast<Listener*>(owner);
    if (!self->paused_) {
        self->accept_some();
    }
}

void Listener::accept_some() {
    if (stopping_ || !started_ || held_) {
        return;
    }
    if (gates_.full()) {
        add(stats_.paused_full);
        // Re-checked every second at worst, so a wake-up lost to a race costs little.
        pause(1s);
        return;
    }
    switch (accept_batch()) {
        case Batch::drained:
            return;  // the next connection brings an event
        case Batch::more:
            // tune.maxaccept reached with more waiting: carry on after others had a turn.
            if (!continuation_posted_) {
                continuation_posted_ = true;
                asio::post(executor_, [this] {
                    continuation_posted_ = false;
                    accept_some();
                });
            }
            return;
        case Batch::pause:
            // Out of descriptors or memory: accepting again at once would spin. Resume when a
            // connection closes, or in 100 ms.
            pause(100ms);
            return;
    }
}

// Waits until a connection closes (or AT_MOST passes), then accepts again.
void Listener::pause(Clock::duration at_most) {
    if (paused_) {
        return;
    }
    paused_ = true;
    const auto id = reinterpret_cast<std::uintptr_t>(this);
    gates_.paused->add(id, [this] { asio::post(executor_, [this] { wake_.cancel(); }); });
    wake_.expires_after(at_most);
    wake_.async_wait([this, id](error_code) {
        gates_.paused->remove(id);
        paused_ = false;
        accept_some();
    });
}

Listener::Batch Listener::accept_batch() {
    if ((watch_.ready & readable) == 0) {
        return Batch::drained;
    }
    for (std::uint32_t i = 0; i < max_accept_; ++i) {
        if (gates_.full()) {
            return Batch::more;  // accept_some() pauses on the full gate
        }
        if (careful_until_) {
            // One at a time: the connection takes its server's descriptor before the next
            // check (when it runs on this thread).
            if (i > 0) {
                return Batch::more;
            }
            if (!room_for_a_connection()) {
                return Batch::pause;
            }
        }
        sockaddr_storage peer{};
        socklen_t peer_length = sizeof(peer);
        const int fd = ::accept4(watch_.fd, reinterpret_cast<sockaddr*>(&peer), &peer_length,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            add(stats_.accepted);
            handler_(fd,
                     SocketAddress::from_native(reinterpret_cast<sockaddr*>(&peer), peer_length),
                     ConnectionSlot(gates_));
            continue;
        }
        const int error = errno;
        switch (error) {
            case EAGAIN:
                watch_.ready &= ~readable;
                return Batch::drained;
            case EINTR:
            case ECONNABORTED:  // the client gave up while in the backlog
            case EPROTO:
            case EPERM:  // a firewall rule refused it
                add(stats_.accept_errors);
                continue;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM:
                add(stats_.accept_errors);
                short_of("accept: " + errno_text(error));
                return Batch::pause;
            default:
                add(stats_.accept_errors);
                log::warning("listener {}: accept: {}", name_, errno_text(error));
                return Batch::pause;
        }
    }
    return Batch::more;
}

}  // namespace tierlb::net
