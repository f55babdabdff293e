#include "common/net/service_listener.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <cerrno>
#include <list>
#include <system_error>

#include "common/log/event_log.hpp"
#include "common/net/socket_ops.hpp"
#include "common/net/timeout.hpp"

namespace tierlb::net {

using namespace std::chrono_literals;

namespace {

// The completion of a spawned coroutine: expected errors never get here, so anything that
// does is logged (and the connection it served is gone).
auto log_failure(std::string what) {
    return [what = std::move(what)](std::exception_ptr e) {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::alert("{} ended: {}", what, ex.what());
        } catch (...) {
            log::alert("{} ended: unknown exception", what);
        }
    };
}

}  // namespace

Task<std::optional<std::size_t>> read_some(Socket& socket, asio::mutable_buffer buffer,
                                           Clock::duration timeout) {
    auto result = co_await with_timeout(socket.async_read_some(buffer, use_task), timeout);
    if (!result || std::get<0>(*result) || std::get<1>(*result) == 0) {
        co_return std::nullopt;
    }
    co_return std::get<1>(*result);
}

Task<bool> write_all(Socket& socket, std::string_view data, Clock::duration timeout) {
    while (!data.empty()) {
        auto result =
            co_await with_timeout(socket.async_write_some(asio::buffer(data), use_task), timeout);
        if (!result || std::get<0>(*result)) {
            co_return false;
        }
        data.remove_prefix(std::get<1>(*result));
    }
    co_return true;
}

Task<void> close_gracefully(Socket& socket, Clock::duration timeout) {
    error_code ec;
    socket.shutdown(Socket::shutdown_send, ec);
    std::array<char, 4096> sink;
    const auto deadline = Clock::now() + std::min<Clock::duration>(timeout, 1s);
    for (std::size_t drained = 0; !ec && drained < 64 * 1024;) {
        const auto left = deadline - Clock::now();
        if (left <= Clock::duration::zero()) {
            break;
        }
        const auto n = co_await read_some(socket, asio::buffer(sink), left);
        if (!n) {
            break;
        }
        drained += *n;
    }
    socket.close(ec);
}

struct ServiceListener::State {
    State(Executor ex, std::string w, unsigned max, Serve s)
        : executor(ex),
          acceptor(ex),
          wake(ex),
          what(std::move(w)),
          max_clients(max),
          serve(std::move(s)) {}

    static Task<void> accept_loop(std::shared_ptr<State> self);
    static Task<void> run_client(std::shared_ptr<State> self, Socket socket);
    // Accepts one waiting client; false when accepting must pause (out of descriptors).
    bool accept_one(const std::shared_ptr<State>& self);
    Task<void> pause(Clock::duration d);
    void shutdown();

    Executor executor;
    Acceptor acceptor;
    Timer wake;  // the accept loop's pauses; cancelled when a client leaves and by stop()
    int family = AF_UNIX;
    std::string what;
    unsigned max_clients;
    Serve serve;
    ClientCounts counts;
    std::list<Socket*> clients;  // for stop(); touched on the executor only
    bool started = false;
    bool stopping = false;
    bool resource_error_logged = false;
};

Task<void> ServiceListener::State::pause(Clock::duration d) {
    wake.expires_after(d);
    co_await wake.async_wait(use_task);
}

bool ServiceListener::State::accept_one(const std::shared_ptr<State>& self) {
    const int fd =
        ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        const int error = errno;
        if (error == EAGAIN || error == EINTR || error == ECONNABORTED || error == EPROTO) {
            return true;
        }
        if (!resource_error_logged) {
            log::alert("{}: accept: {}; pausing", what, errno_text(error));
            resource_error_logged =
                error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
        }
        return false;
    }
    resource_error_logged = false;
    Socket socket(executor);
    error_code ec;
    socket.assign(Protocol(family, 0), fd, ec);
    if (ec) {
        ::close(fd);
        return true;
    }
    add(counts.total);
    ++counts.active;
    asio::co_spawn(executor, run_client(self, std::move(socket)), log_failure(what + ": client"));
    return true;
}

Task<void> ServiceListener::State::accept_loop(std::shared_ptr<State> self) {
    while (!self->stopping) {
        if (self->counts.active >= self->max_clients) {
            // A leaving client cancels the wait; the second is a bound, not a poll.
            co_await self->pause(1s);
            continue;
        }
        auto [ec] = co_await self->acceptor.async_wait(Acceptor::wait_read, use_task);
        if (self->stopping) {
            break;
        }
        if (ec) {
            log::warning("{}: waiting for connections: {}", self->what, ec.message());
            co_await self->pause(100ms);
            continue;
        }
        if (!self->accept_one(self)) {
            co_await self->pause(100ms);
        }
    }
}

Task<void> ServiceListener::State::run_client(std::shared_ptr<State> self, Socket socket) {
    // Leaves the registry whichever way the coroutine ends, even destroyed unfinished.
    struct Registration {
        State& state;
        std::list<Socket*>::iterator entry;
        ~Registration() {
            state.clients.erase(entry);
            --state.counts.active;
            if (!state.stopping) {
                state.wake.cancel();
            }
        }
    } registration{*self, self->clients.insert(self->clients.end(), &socket)};
    co_await self->serve(socket, self->counts);
    error_code ec;
    socket.close(ec);
}

void ServiceListener::State::shutdown() {
    stopping = true;
    error_code ec;
    acceptor.close(ec);
    wake.cancel();
    for (Socket* client : clients) {
        client->close(ec);
    }
}

ServiceListener::ServiceListener(Executor executor, int listening_fd, std::string what,
                                 unsigned max_clients, Serve serve)
    : state_(std::make_shared<State>(executor, std::move(what), max_clients, std::move(serve))) {
    state_->family = local_address(listening_fd).domain();
    error_code ec;
    state_->acceptor.assign(Protocol(state_->family, 0), listening_fd, ec);
    if (ec) {
        ::close(listening_fd);
        throw std::system_error(ec, state_->what);
    }
}

ServiceListener::~ServiceListener() {
    stop();
}

void ServiceListener::start() {
    asio::dispatch(state_->executor, [state = state_] {
        if (state->started || state->stopping) {
            return;
        }
        state->started = true;
        asio::co_spawn(state->executor, State::accept_loop(state),
                       log_failure(state->what + ": accept loop"));
    });
}

void ServiceListener::stop() {
    asio::dispatch(state_->executor, [state = state_] { state->shutdown(); });
}

const ClientCounts& ServiceListener::counts() const {
    return state_->counts;
}

}  // namespace tierlb::net
