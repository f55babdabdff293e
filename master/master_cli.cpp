#include "master/master_cli.hpp"

#include <unistd.h>

#include <array>
#include <cstdlib>

#include "common/log/event_log.hpp"
#include "common/net/socket_ops.hpp"
#include "common/net/stats_commands.hpp"
#include "common/net/timeout.hpp"

#include <boost/asio/write.hpp>
#include "tierlb/version.hpp"

namespace tierlb::master {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t max_command = 16 * 1024;
constexpr auto idle_timeout = 60s;  // a client that sends nothing
constexpr std::size_t reply_part = 16 * 1024;

std::string uptime(net::Clock::duration d) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    char text[32];
    std::snprintf(text, sizeof(text), "%lldd%02lldh%02lldm%02llds",
                  static_cast<long long>(s / 86400), static_cast<long long>(s / 3600 % 24),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
    return text;
}

// HAProxy's columns, 16 characters wide, with the process number (HAProxy's relative pid)
// after the type, as HAProxy 2.0 had it.
std::string proc_line(const std::string& pid, const std::string& type, const std::string& process,
                      const std::string& reloads, const std::string& up,
                      const std::string& version) {
    auto cell = [](const std::string& s) {
        return s.size() < 16 ? s + std::string(16 - s.size(), ' ') : s + " ";
    };
    return cell(pid) + cell(type) + cell(process) + cell(reloads) + cell(up) + version + "\n";
}

const char* const help_text =
    "The following commands are valid at this level:\n"
    "  @!<pid>                                 : send a command to the <pid> process\n"
    "  @<process>                              : send a command to process number <process>\n"
    "  reload                                  : reload the configuration (as SIGUSR2)\n"
    "  show proc                               : show processes status\n"
    "  show version                            : show version of the master\n"
    "  help                                    : list the commands\n"
    "  prompt                                  : toggle interactive mode with prompt\n"
    "  quit                                    : disconnect\n";

}  // namespace

struct MasterCli::Pending {
    explicit Pending(net::Executor executor) : done(executor) {}
    std::string answer;
    net::Timer done;  // cancelled once the last part arrived
    bool complete = false;
};

MasterCli::MasterCli(net::asio::io_context& io, int listening_fd, Hooks hooks)
    : io_(io), acceptor_(io.get_executor()), hooks_(std::move(hooks)) {
    net::error_code ec;
    acceptor_.assign(net::Protocol(net::local_address(listening_fd).domain(), 0), listening_fd, ec);
    if (ec) {
        ::close(listening_fd);
    }
}

MasterCli::~MasterCli() {
    *alive_ = false;
}

void MasterCli::start() {
    net::asio::co_spawn(io_, accept_loop(), net::asio::detached);
}

net::Task<void> MasterCli::accept_loop() {
    auto alive = alive_;
    while (*alive && acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(net::use_task);
        if (!*alive) {
            co_return;
        }
        if (ec) {
            // Out of descriptors, most likely: wait rather than spin.
            net::Timer pause(io_.get_executor(), 100ms);
            co_await pause.async_wait(net::use_task);
            continue;
        }
        net::asio::co_spawn(io_, serve(std::move(socket)), net::asio::detached);
    }
}

net::Task<void> MasterCli::serve(net::Socket socket) {
    auto alive = alive_;
    std::string input;
    std::array<char, 4096> chunk;
    bool quit = false;
    bool prompt = false;
    while (!quit) {
        const std::size_t end = net::find_command_end(input);
        if (end == std::string::npos) {
            if (input.size() > max_command) {
                break;
            }
            auto r = co_await net::with_timeout(
                socket.async_read_some(net::asio::buffer(chunk), net::use_task), idle_timeout);
            if (!*alive || !r || std::get<0>(*r) || std::get<1>(*r) == 0) {
                // The end of input still runs a last command without its line feed.
                if (!input.empty() && *alive) {
                    input += '\n';
                    continue;
                }
                break;
            }
            input.append(chunk.data(), std::get<1>(*r));
            continue;
        }
        std::string command = input.substr(0, end);
        const bool line_ends = input[end] == '\n';
        input.erase(0, end + 1);
        if (!command.empty() && command.back() == '\r') {
            command.pop_back();
        }
        std::string reply = co_await answer(command, quit, prompt);
        if (!*alive) {
            co_return;
        }
        if (!quit) {
            reply += prompt ? "\n> " : "\n";
        }
        // Without `prompt`, a line is all a client gets: the connection closes after its
        // answers, as HAProxy's CLI does (`echo "show proc" | socat ...`).
        quit = quit || (line_ends && !prompt);
        auto w = co_await net::with_timeout(
            net::asio::async_write(socket, net::asio::buffer(reply), net::use_task), idle_timeout);
        if (!w || std::get<0>(*w)) {
            break;
        }
    }
    net::error_code ec;
    socket.shutdown(net::Socket::shutdown_send, ec);
    socket.close(ec);
}

net::Task<std::string> MasterCli::answer(const std::string& command, bool& quit, bool& prompt) {
    const auto words = net::split_words(command);
    if (words.empty()) {
        co_return std::string();
    }
    const std::string& first = words[0];
    if (first.size() > 1 && first[0] == '@') {
        const std::string rest = command.substr(command.find(first) + first.size());
        int number = 0;
        if (first[1] == '!') {
            const pid_t pid = std::atoi(first.c_str() + 2);
            for (const auto& p : hooks_.processes()) {
                if (p.pid == pid && p.number != 0) {
                    number = p.number;
                }
            }
        } else {
            number = std::atoi(first.c_str() + 1);
        }
        if (number <= 0) {
            co_return "Unknown process: " + first.substr(1) + "\n";
        }
        // Named first: GCC 12 mishandles a temporary built inside a co_await's arguments.
        const std::string relayed = rest.empty() ? std::string() : rest.substr(1);
        std::string reply = co_await ask(number, relayed);
        co_return reply;
    }
    if (first == "quit") {
        quit = true;
        co_return std::string();
    }
    if (first == "prompt") {
        prompt = !prompt;
        co_return std::string();
    }
    if (first == "help") {
        co_return help_text;
    }
    if (command == "show proc") {
        co_return show_proc();
    }
    if (command == "show version") {
        co_return std::string(tierlb::version_string) + "\n";
    }
    if (command == "reload") {
        hooks_.reload();
        co_return std::string();
    }
    co_return "Unknown command: '" + command + "'\n" + help_text;
}

net::Task<std::string> MasterCli::ask(int number, const std::string& command) {
    const std::uint64_t id = next_id_++;
    auto pending = std::make_shared<Pending>(io_.get_executor());
    if (!hooks_.forward(number, id, command)) {
        co_return "No such process: " + std::to_string(number) + "\n";
    }
    pending_[id] = pending;
    pending->done.expires_after(answer_timeout);
    auto alive = alive_;
    co_await pending->done.async_wait(net::use_task);
    if (!*alive) {
        co_return std::string();
    }
    pending_.erase(id);
    if (!pending->complete) {
        co_return pending->answer + "(no complete answer from process " + std::to_string(number) +
            " within " + std::to_string(answer_timeout.count()) + " s)\n";
    }
    // The process's answer ends with its own end-of-answer; ours follows.
    std::string answer = std::move(pending->answer);
    if (!answer.empty() && answer.back() == '\n') {
        answer.pop_back();
    }
    co_return answer;
}

void MasterCli::on_reply(std::uint64_t id, bool last, std::string_view part) {
    auto found = pending_.find(id);
    if (found == pending_.end()) {
        return;  // timed out already
    }
    found->second->answer.append(part);
    if (last) {
        found->second->complete = true;
        found->second->done.cancel();
    }
}

std::string MasterCli::show_proc() const {
    const auto now = net::Clock::now();
    const auto processes = hooks_.processes();
    auto line = [&](const ProcessEntry& p, const char* type) {
        return proc_line(std::to_string(p.pid), type, std::to_string(p.number),
                         std::to_string(p.reloads), uptime(now - p.started),
                         tierlb::version_string);
    };
    std::string out =
        proc_line("#<PID>", "<type>", "<process>", "<reloads>", "<uptime>", "<version>");
    for (const auto& p : processes) {
        if (p.number == 0) {
            out += line(p, "master");
        }
    }
    out += "# workers\n";
    for (const auto& p : processes) {
        if (p.number != 0 && !p.old) {
            out += line(p, "worker");
        }
    }
    bool header = false;
    for (const auto& p : processes) {
        if (p.old) {
            if (!header) {
                out += "# old workers\n";
                header = true;
            }
            out += line(p, "worker");
        }
    }
    return out;
}

std::vector<std::string> reply_messages(std::uint64_t id, const std::string& answer) {
    std::vector<std::string> messages;
    std::size_t at = 0;
    do {
        const std::string part = answer.substr(at, reply_part);
        at += part.size();
        const bool last = at >= answer.size();
        messages.push_back(std::to_string(id) + "\n" + (last ? "." : "+") + "\n" + part);
    } while (at < answer.size());
    return messages;
}

}  // namespace tierlb::master
