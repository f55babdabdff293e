#pragma once
// Everything one client connection has to account for, from accept to close: the gates it
// entered (maxconn), the server it was counted on, its counters, and its log line. Moved from
// the set-up coroutine into the tunnel; whoever holds it last settles it exactly once, with
// finish() or fail(), or in its destructor if neither ran (an exception).

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "common/net/listener.hpp"
#include "common/net/runtime.hpp"
#include "common/net/tunnel.hpp"

namespace tierlb::net {

// A client address as the log needs it, in 20 bytes rather than a sockaddr_storage.
struct CompactAddress {
    std::array<std::uint8_t, 16> bytes{};
    std::uint16_t port = 0;
    std::uint8_t family = 0;  // AF_INET, AF_INET6, or 0 for unix

    static CompactAddress of(const SocketAddress& a);
    std::string host() const;
    std::optional<SocketAddress> address() const;  // none for unix
};

// How a session ended, for whoever handed it over (hand-off mode).
struct SessionSummary {
    std::optional<SocketAddress> client;  // none for a unix client
    Clock::time_point accepted;
    std::uint64_t bytes_in = 0;   // from the client
    std::uint64_t bytes_out = 0;  // to the client
    char termination[2] = {'-', '-'};
};

// Told once when the session ends: the control connection of the dispatcher that handed the
// socket over, which counts the connection on this worker until then.
class CloseReport {
public:
    virtual ~CloseReport() = default;
    virtual void closed(const SessionSummary& summary) = 0;
};

class SessionRecord {
public:
    SessionRecord(ProcessState& process, ListenerRuntime& listener, ConnectionSlot slot,
                  Clock::time_point accepted);
    SessionRecord(SessionRecord&& other) noexcept;
    SessionRecord& operator=(SessionRecord&&) = delete;
    ~SessionRecord();

    void set_client(const SocketAddress& client) { client_ = CompactAddress::of(client); }
    void set_close_report(std::unique_ptr<CloseReport> report) { report_ = std::move(report); }
    // The PROXY header and the TLS handshake went through: a session in stot from now on.
    void begin_session();
    void set_tls(bool tls) { tls_ = tls; }
    // The TLS handshake completed: counted in the process's TLS connections until the end.
    // A full one (not RESUMED) computed keys: SslFrontendKeyRate.
    void tls_established(bool resumed) {
        tls_counted_ = true;
        add(process_->tls_total);
        add(process_->tls_current);
        process_->tls_rate.add();
        if (!resumed) {
            process_->tls_key_rate.add();
        }
    }

    // The server the connection is counted on (released at the end).
    void assign(std::size_t server);
    void unassign();  // after a failed connect: released before trying again
    void set_wait(Clock::duration d) { wait_ms_ = to_ms(d); }
    void set_connect_time(Clock::duration d) { connect_ms_ = to_ms(d); }
    void count_retry(bool redispatched);
    // The backend the connection is sent to (counted in its sessions until the end).
    void set_backend(BackendRuntime& backend) {
        backend_ = &backend;
        backend.traffic().opened();
    }

    BackendRuntime* backend() const { return backend_; }
    Clock::time_point accepted() const { return accepted_; }
    std::size_t server() const { return server_ == no_index ? balance::no_server : server_; }
    FrontendRuntime& frontend() const { return *listener_->frontend; }
    ListenerRuntime& listener() const { return *listener_; }

    // The worker of a hand-off server owns the connection now: it leaves this process's
    // gates and frontend, and stays counted on its server (and backend) until the worker
    // reports its end (dispatcher/handoff_channel.hpp). Nothing is logged here.
    void handed_off();

    // The tunnel's interface.
    void on_bytes(Direction d, std::size_t n);
    void finish(const TunnelResult& result);

    // Ends a connection that never reached a server (or lost it during set-up).
    void fail(char who, char phase, std::string_view reason);

    // Ends a connection refused before it became a session (a bad PROXY header, a failed TLS
    // handshake), logged as HAProxy logs those: "client:port [date] frontend/bind: MESSAGE",
    // with DETAIL, our specific reason, in parentheses after it.
    void fail_connection(std::string_view message, std::string_view detail);

private:
    static std::int32_t to_ms(Clock::duration d) {
        return static_cast<std::int32_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    }
    void settle(const TunnelResult& result, bool log_session = true);
    std::string accept_date() const;

    ProcessState* process_;
    ListenerRuntime* listener_;
    BackendRuntime* backend_ = nullptr;
    Clock::time_point accepted_;
    std::unique_ptr<CloseReport> report_;  // hand-off mode only
    // 32 bits, next to the address: every idle connection holds a record.
    static constexpr std::uint32_t no_index = UINT32_MAX;
    std::uint32_t server_ = no_index;
    CompactAddress client_;
    std::int32_t wait_ms_ = -1;
    std::int32_t connect_ms_ = -1;
    std::uint8_t retries_ = 0;
    bool redispatched_ = false;
    bool tls_ = false;
    bool holds_slot_ = false;  // the connection counts in the maxconn gates
    bool tls_counted_ = false;
    bool settled_ = false;
};

}  // namespace tierlb::net
