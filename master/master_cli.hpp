#pragma once
// The master CLI (`tierlb -S ADDR -f FILE`), as HAProxy's master CLI:
//   show proc         the master and its processes: pid, type, process number, reloads,
//                     uptime, version; those of a previous configuration under "# old workers"
//   @N COMMAND        COMMAND run by process N as its stats socket would run it, at level
//                     admin (the master CLI is the operator's), the answer relayed back
//   @!PID COMMAND     the same, naming the process by pid
//   reload            as SIGUSR2
//   help, prompt, quit, show version
// Commands end at a line feed or an unescaped ';', as on the stats socket. The processes are
// asked over their control channel (master/control_channel.hpp), so a process needs no stats
// socket of its own.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/net/asio.hpp"

namespace tierlb::master {

struct ProcessEntry {
    pid_t pid = 0;
    int number = 0;  // 0 for the master
    bool old = false;
    unsigned reloads = 0;
    net::Clock::time_point started;
};

class MasterCli {
public:
    struct Hooks {
        std::function<std::vector<ProcessEntry>()> processes;
        // Sends COMMAND to process NUMBER as request ID; false when it cannot be asked.
        std::function<bool(int number, std::uint64_t id, const std::string& command)> forward;
        std::function<void()> reload;
    };

    MasterCli(net::asio::io_context& io, int listening_fd, Hooks hooks);
    ~MasterCli();
    MasterCli(const MasterCli&) = delete;
    MasterCli& operator=(const MasterCli&) = delete;

    void start();

    // A part of the answer to request ID from a process (LAST: the end of it).
    void on_reply(std::uint64_t id, bool last, std::string_view part);

    static constexpr auto answer_timeout = std::chrono::seconds(10);

private:
    struct Pending;
    net::Task<void> accept_loop();
    net::Task<void> serve(net::Socket socket);
    net::Task<std::string> answer(const std::string& command, bool& quit, bool& prompt);
    net::Task<std::string> ask(int number, const std::string& command);
    std::string show_proc() const;

    net::asio::io_context& io_;
    net::Acceptor acceptor_;
    Hooks hooks_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, std::shared_ptr<Pending>> pending_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// How a process answers a master CLI request: ANSWER cut into control-channel messages.
std::vector<std::string> reply_messages(std::uint64_t id, const std::string& answer);

}  // namespace tierlb::master
