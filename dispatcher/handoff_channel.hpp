#pragma once
// The dispatcher's side of hand-off mode (INTERFACE.md section 6): one control connection to
// the worker of a `handoff` server, kept open (re-established when it closes), over which
//   - client sockets go to the worker (hand_off, from any session thread);
//   - the worker says which ones it took (cumulatively, in its close reports or a late
//     accepted message: they leave the in-flight count) and when each one ended (closed: its
//     count on the server is released, and its log line written here, as for a relayed
//     connection);
//   - health checks ask and the worker answers (probe), so a hung worker is caught.
// A control connection that closes marks the server DOWN at once, and releases what it
// counted: the worker's connections are gone with it (those in flight are logged as lost).
//
// The dispatcher holds nothing per handed-off connection: the ids say which server (this
// channel) and the worker's reports carry what the log line needs.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/handoff/message.hpp"
#include "common/net/asio.hpp"
#include "common/net/handoff_target.hpp"
#include "common/net/health_checker.hpp"
#include "common/net/poller.hpp"
#include "common/net/runtime.hpp"

namespace tierlb::dispatcher {

class HandoffChannel final : public net::HandoffTarget, public net::ServerProbe {
public:
    // Hand-offs waiting for the worker's word at most; beyond, the worker is skipped (it has
    // stopped reading, or is far behind).
    static constexpr std::uint32_t max_in_flight = 256;

    HandoffChannel(net::Executor executor, net::ProcessRuntime& runtime,
                   net::BackendRuntime& backend, std::size_t server, net::HealthChecker* checker);
    ~HandoffChannel() override;
    HandoffChannel(const HandoffChannel&) = delete;
    HandoffChannel& operator=(const HandoffChannel&) = delete;

    void start();
    void stop();  // no more reconnecting (soft stop)

    bool hand_off(const net::HandoffRequest& request) override;
    net::Task<health::CheckOutcome> probe(net::Clock::duration limit) override;

    std::uint32_t in_flight() const {
        std::lock_guard lock(send_mutex_);
        return in_flight_locked();
    }
    std::uint32_t handed() const { return handed_.load(std::memory_order_relaxed); }

private:
    void connect();
    void retry_later();
    static void on_ready(net::PollWatch*, void* owner);
    void read_messages();
    bool on_message(const handoff::Message& message);  // false once the connection is lost
    void on_closed_report(const handoff::Closed& closed);
    void taken_through(std::uint64_t id);  // the worker's cumulative acknowledgement
    std::uint32_t in_flight_locked() const {
        return static_cast<std::uint32_t>(next_id_ - 1 - acked_through_);
    }
    void lost(const std::string& why);
    bool send(const handoff::Message& message, int fd = -1);
    std::string server_name() const;

    net::Executor executor_;
    net::ProcessRuntime& runtime_;
    net::BackendRuntime& backend_;
    std::size_t server_;
    net::HealthChecker* checker_;
    net::PollWatch watch_;
    net::Timer reconnect_;
    net::Timer check_wait_;
    // watch_.fd, next_id_ and acked_through_, against the sessions' threads
    mutable std::mutex send_mutex_;
    std::uint64_t next_id_ = 1;
    // Every hand-off up to this id is the worker's (or was written off when a control
    // connection ended); those after it are in flight.
    std::uint64_t acked_through_ = 0;
    std::atomic<std::uint32_t> handed_{0};     // counted on the server, not yet closed
    std::uint64_t checks_sent_ = 0;
    std::optional<std::uint64_t> pending_check_;
    bool check_answered_ = false;
    net::Clock::duration retry_delay_;
    bool stopped_ = false;
    bool leaving_ = false;  // the worker said it stops: its end is no failure
    bool was_up_ = false;   // for logging only the changes
    bool refusal_logged_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tierlb::dispatcher
