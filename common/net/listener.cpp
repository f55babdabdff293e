#include "common/net/listener.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/log/event_log.hpp"
#include "common/net/socket_ops.hpp"

namespace tierlb::net {

using namespace std::chrono_literals;

Listener::Listener(Executor executor, int fd, std::string name, AcceptGates gates,
                   std::uint32_t max_accept, Handler handler)
    : acceptor_(executor),
      wake_(executor),
      name_(std::move(name)),
      gates_(gates),
      max_accept_(max_accept),
      handler_(std::move(handler)) {
    error_code ec;
    acceptor_.assign(Protocol(local_address(fd).domain(), 0), fd, ec);
}

Listener::~Listener() {
    gates_.paused->remove(reinterpret_cast<std::uintptr_t>(this));
}

void Listener::start() {
    asio::co_spawn(acceptor_.get_executor(), run(), [this](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log::alert("listener {}: accept loop ended: {}", name_, ex.what());
            }
        }
    });
}

void Listener::stop() {
    stopping_ = true;
    error_code ec;
    acceptor_.close(ec);
    wake_.cancel();
}

// Waits until a connection closes (or AT_MOST passes).
Task<void> Listener::wait_for_slot(Clock::duration at_most) {
    const auto id = reinterpret_cast<std::uintptr_t>(this);
    gates_.paused->add(id,
                       [this] { asio::post(wake_.get_executor(), [this] { wake_.cancel(); }); });
    wake_.expires_after(at_most);
    co_await wake_.async_wait(use_task);
    gates_.paused->remove(id);
}

Task<void> Listener::run() {
    while (!stopping_) {
        if (gates_.full()) {
            add(stats_.paused_full);
            // Re-checked every second at worst, so a wake-up lost to a race costs little.
            co_await wait_for_slot(1s);
            continue;
        }
        auto [ec] = co_await acceptor_.async_wait(Acceptor::wait_read, use_task);
        if (stopping_) {
            break;
        }
        if (ec) {
            log::warning("listener {}: waiting for connections: {}", name_, ec.message());
            co_await wait_for_slot(100ms);
            continue;
        }
        if (!accept_batch()) {
            // Out of descriptors or memory: accepting again at once would spin. Resume when
            // a connection closes, or in 100 ms.
            co_await wait_for_slot(100ms);
        }
    }
}

bool Listener::accept_batch() {
    for (std::uint32_t i = 0; i < max_accept_ && !gates_.full(); ++i) {
        sockaddr_storage peer{};
        socklen_t peer_length = sizeof(peer);
        const int fd = ::accept4(acceptor_.native_handle(), reinterpret_cast<sockaddr*>(&peer),
                                 &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (resource_error_logged_) {
                log::notice("listener {}: accepting again", name_);
                resource_error_logged_ = false;
            }
            add(stats_.accepted);
            handler_(fd,
                     SocketAddress::from_native(reinterpret_cast<sockaddr*>(&peer), peer_length),
                     ConnectionSlot(gates_));
            continue;
        }
        const int error = errno;
        switch (error) {
            case EAGAIN:
                return true;
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
                if (!resource_error_logged_) {
                    log::alert("listener {}: accept: {}; pausing until a connection closes", name_,
                               errno_text(error));
                    resource_error_logged_ = true;
                }
                return false;
            default:
                add(stats_.accept_errors);
                log::warning("listener {}: accept: {}", name_, errno_text(error));
                return false;
        }
    }
    return true;
}

}  // namespace tierlb::net
