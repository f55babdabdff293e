#pragma once
// A socket pair between the master and each process it starts (SOCK_SEQPACKET: one message
// per send). The master says things to its processes through it (the TLS ticket keys now;
// later, which worker died); the process learns that the master is gone when it closes, and
// then stops softly rather than run on unsupervised.
//
// Messages are text: a first line naming the message, then its body.

#include <functional>
#include <optional>
#include <string>

#include "common/net/poller.hpp"

namespace tierlb::master {

inline constexpr const char* control_fd_variable = "TIERLB_CONTROL_FD";
inline constexpr const char* ticket_keys_message = "tls-ticket-keys";
// Master to processes: process N is gone (body "N\nhow"), or started again and ready ("N").
inline constexpr const char* process_down_message = "process-down";
inline constexpr const char* process_up_message = "process-up";
// Master to the processes a reload replaces: a new generation is starting, so accept no new
// hand-off control connection (they are the new dispatcher's, for the new workers); and, if
// the reload fails, accept them again.
inline constexpr const char* reload_started_message = "reload-started";
inline constexpr const char* reload_aborted_message = "reload-aborted";
// The master CLI's `@N COMMAND`: master to process "ID\nCOMMAND"; process to master the answer,
// in parts "ID\n+\nPART" and a last "ID\n.\nPART".
inline constexpr const char* cli_request_message = "cli-request";
inline constexpr const char* cli_reply_message = "cli-reply";
// Process to master: ready to serve.
inline constexpr const char* ready_message = "ready";

// Both ends, close-on-exec; the master keeps [0] and hands [1] to the process.
std::optional<std::pair<int, int>> make_control_pair();

// Sends one message; false when the process is gone or its queue is full.
bool send_message(int fd, const std::string& name, const std::string& body);

// One end, the process's or (for each process) the master's.
class ControlChannel {
public:
    using OnMessage = std::function<void(const std::string& name, const std::string& body)>;
    using OnClosed = std::function<void()>;

    explicit ControlChannel(int fd) { watch_.fd = fd; }
    ~ControlChannel();
    ControlChannel(const ControlChannel&) = delete;
    ControlChannel& operator=(const ControlChannel&) = delete;

    // Takes the messages already waiting (those the master sent before the process started).
    void read_waiting(const OnMessage& on_message);
    // From now on, messages and the other end's closing as they come, on EXECUTOR's poller.
    void watch(net::Executor executor, OnMessage on_message, OnClosed on_closed);

    bool send(const std::string& name, const std::string& body) {
        return send_message(watch_.fd, name, body);
    }

private:
    // Reads until the queue is empty; false when the master closed its end.
    bool drain(const OnMessage& on_message);
    static void on_ready(net::PollWatch* watch, void* owner);

    net::PollWatch watch_;
    OnMessage on_message_;
    OnClosed on_closed_;
    bool closed_ = false;
};

}  // namespace tierlb::master
