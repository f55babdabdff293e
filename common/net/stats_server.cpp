#include "common/net/stats_server.hpp"

#include <array>
#include <string>

#include "common/net/service_listener.hpp"
#include "common/net/stats_commands.hpp"

namespace tierlb::net {

// What every client of one stats socket shares; held by the client coroutines too.
struct StatsServer::Shared {
    config::StatsLevel level;
    Clock::duration timeout;
    ProcessRuntime& runtime;
    CheckLookup checks;
};

// One client, HAProxy's way: read a command, answer, and close once the request is consumed,
// or keep going in interactive mode (`prompt`) until `quit`.
Task<void> StatsServer::serve(std::shared_ptr<const Shared> shared, Socket& socket,
                              const ClientCounts& counts) {
    StatsSession session;
    session.level = shared->level;
    session.checks = shared->checks;
    std::string input;
    std::array<char, 4096> chunk;
    while (true) {
        const std::size_t end = find_command_end(input);
        if (end == std::string::npos || end > max_command) {
            if (input.size() > max_command) {
                break;  // a command longer than HAProxy's buffer: HAProxy closes too
            }
            const auto n = co_await read_some(socket, asio::buffer(chunk), shared->timeout);
            if (!n) {
                break;  // end of input (a partial command is dropped), error, timeout or stop
            }
            input.append(chunk.data(), *n);
            continue;
        }
        const std::string command = input.substr(0, end);
        input.erase(0, end + 1);
        session.cli = {counts.active.load(), get(counts.total)};
        std::string answer = run_command(shared->runtime, session, command);
        answer += end_of_answer(session);
        if (!co_await write_all(socket, answer, shared->timeout)) {
            break;
        }
        // Without prompt, HAProxy answers what the client sent at once, then closes.
        if (session.quit || (!session.prompt && input.empty())) {
            break;
        }
    }
    co_await close_gracefully(socket, shared->timeout);
}

StatsServer::StatsServer(Executor executor, int listening_fd, config::StatsLevel level,
                         std::chrono::milliseconds timeout, ProcessRuntime& runtime)
    : shared_(std::make_shared<Shared>(Shared{level, timeout, runtime, {}})),
      listener_(std::make_unique<ServiceListener>(
          executor, listening_fd, "stats socket", max_clients,
          [shared = shared_](Socket& socket, const ClientCounts& counts) {
              return serve(shared, socket, counts);
          })) {}

StatsServer::~StatsServer() = default;

void StatsServer::set_checks(CheckLookup checks) {
    shared_->checks = std::move(checks);
}

void StatsServer::start() {
    listener_->start();
}

void StatsServer::stop() {
    listener_->stop();
}

unsigned StatsServer::connections() const {
    return listener_->counts().active.load();
}

std::uint64_t StatsServer::total_connections() const {
    return get(listener_->counts().total);
}

}  // namespace tierlb::net
