#include "common/net/stats_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <cerrno>
#include <list>
#include <optional>
#include <string>
#include <system_error>

#include "common/log/event_log.hpp"
#include "common/net/socket_ops.hpp"
#include "common/net/stats_commands.hpp"
#include "common/net/timeout.hpp"

namespace tierlb::net {

using namespace std::chrono_literals;

namespace {

// The completion of a spawned coroutine: expected errors never get here, so anything that
// does is logged (and the connection it served is gone).
auto log_failure(const char* what) {
    return [what](std::exception_ptr e) {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::alert("stats socket: {} ended: {}", what, ex.what());
        } catch (...) {
            log::alert("stats socket: {} ended: unknown exception", what);
        }
    };
}

// Some bytes into BUFFER; nullopt at end of input, on error and after TIMEOUT without data.
Task<std::optional<std::size_t>> read_some(Socket& socket, asio::mutable_buffer buffer,
                                           Clock::duration timeout) {
    auto result = co_await with_timeout(socket.async_read_some(buffer, use_task), timeout);
    if (!result || std::get<0>(*result) || std::get<1>(*result) == 0) {
        co_return std::nullopt;
    }
    co_return std::get<1>(*result);
}

// All of DATA, failing when the client takes no byte for TIMEOUT: a large answer to a slow
// but live reader goes through.
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

// Sends FIN after the answer, then reads what the client still sends for a moment: closing
// with unread input would reset the connection and could lose the end of the answer.
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

}  // namespace

struct StatsServer::State {
    State(Executor ex, config::StatsLevel lvl, Clock::duration t, ProcessRuntime& rt)
        : executor(ex), acceptor(ex), wake(ex), level(lvl), timeout(t), runtime(rt) {}

    static Task<void> accept_loop(std::shared_ptr<State> self);
    static Task<void> serve(std::shared_ptr<State> self, Socket socket);
    // Accepts one waiting client; false when accepting must pause (out of descriptors).
    bool accept_one(const std::shared_ptr<State>& self);
    Task<void> pause(Clock::duration d);
    void shutdown();

    Executor executor;
    Acceptor acceptor;
    Timer wake;  // the accept loop's pauses; cancelled when a client leaves and by stop()
    int family = AF_UNIX;
    config::StatsLevel level;
    Clock::duration timeout;
    ProcessRuntime& runtime;
    CheckLookup checks;
    std::list<Socket*> clients;  // for stop(); touched on the executor only
    std::atomic<unsigned> active{0};
    std::atomic<std::uint64_t> total{0};
    bool started = false;
    bool stopping = false;
    bool resource_error_logged = false;
};

Task<void> StatsServer::State::pause(Clock::duration d) {
    wake.expires_after(d);
    co_await wake.async_wait(use_task);
}

bool StatsServer::State::accept_one(const std::shared_ptr<State>& self) {
    const int fd =
        ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        const int error = errno;
        if (error == EAGAIN || error == EINTR || error == ECONNABORTED || error == EPROTO) {
            return true;
        }
        if (!resource_error_logged) {
            log::alert("stats socket: accept: {}; pausing", errno_text(error));
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
    add(total);
    ++active;
    asio::co_spawn(executor, serve(self, std::move(socket)), log_failure("client"));
    return true;
}

Task<void> StatsServer::State::accept_loop(std::shared_ptr<State> self) {
    while (!self->stopping) {
        if (self->active >= max_clients) {
            // A leaving client cancels the wait; the second is a bound, not a poll.
            co_await self->pause(1s);
            continue;
        }
        auto [ec] = co_await self->acceptor.async_wait(Acceptor::wait_read, use_task);
        if (self->stopping) {
            break;
        }
        if (ec) {
            log::warning("stats socket: waiting for connections: {}", ec.message());
            co_await self->pause(100ms);
            continue;
        }
        if (!self->accept_one(self)) {
            co_await self->pause(100ms);
        }
    }
}

Task<void> StatsServer::State::serve(std::shared_ptr<State> self, Socket socket) {
    // Leaves the registry whichever way the coroutine ends, even destroyed unfinished.
    struct Registration {
        State& state;
        std::list<Socket*>::iterator entry;
        ~Registration() {
            state.clients.erase(entry);
            --state.active;
            if (!state.stopping) {
                state.wake.cancel();
            }
        }
    } registration{*self, self->clients.insert(self->clients.end(), &socket)};

    StatsSession session;
    session.level = self->level;
    session.checks = self->checks;
    std::string input;
    std::array<char, 4096> chunk;
    while (!self->stopping) {
        const std::size_t end = find_command_end(input);
        if (end == std::string::npos || end > max_command) {
            if (input.size() > max_command) {
                break;  // a command longer than HAProxy's buffer: HAProxy closes too
            }
            const auto n = co_await read_some(socket, asio::buffer(chunk), self->timeout);
            if (!n) {
                break;  // end of input (a partial command is dropped), error or timeout
            }
            input.append(chunk.data(), *n);
            continue;
        }
        const std::string command = input.substr(0, end);
        input.erase(0, end + 1);
        session.cli = {self->active.load(), get(self->total)};
        std::string answer = run_command(self->runtime, session, command);
        answer += end_of_answer(session);
        if (!co_await write_all(socket, answer, self->timeout)) {
            break;
        }
        // Without prompt, HAProxy answers what the client sent at once, then closes.
        if (session.quit || (!session.prompt && input.empty())) {
            break;
        }
    }
    co_await close_gracefully(socket, self->timeout);
}

void StatsServer::State::shutdown() {
    stopping = true;
    error_code ec;
    acceptor.close(ec);
    wake.cancel();
    for (Socket* client : clients) {
        client->close(ec);
    }
}

StatsServer::StatsServer(Executor executor, int listening_fd, config::StatsLevel level,
                         std::chrono::milliseconds timeout, ProcessRuntime& runtime)
    : state_(std::make_shared<State>(executor, level, timeout, runtime)) {
    state_->family = local_address(listening_fd).domain();
    error_code ec;
    state_->acceptor.assign(Protocol(state_->family, 0), listening_fd, ec);
    if (ec) {
        ::close(listening_fd);
        throw std::system_error(ec, "stats socket");
    }
}

StatsServer::~StatsServer() {
    stop();
}

void StatsServer::set_checks(CheckLookup checks) {
    state_->checks = std::move(checks);
}

void StatsServer::start() {
    asio::dispatch(state_->executor, [state = state_] {
        if (state->started || state->stopping) {
            return;
        }
        state->started = true;
        asio::co_spawn(state->executor, State::accept_loop(state), log_failure("accept loop"));
    });
}

void StatsServer::stop() {
    asio::dispatch(state_->executor, [state = state_] { state->shutdown(); });
}

unsigned StatsServer::connections() const {
    return state_->active.load();
}

std::uint64_t StatsServer::total_connections() const {
    return get(state_->total);
}

}  // namespace tierlb::net
