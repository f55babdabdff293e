#include "common/net/session_record.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "common/log/tcplog.hpp"

namespace tierlb::net {

CompactAddress CompactAddress::of(const SocketAddress& a) {
    CompactAddress c;
    if (a.family() == AddressFamily::ipv4) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(a.native());
        std::memcpy(c.bytes.data(), &in->sin_addr, 4);
        c.family = AF_INET;
    } else if (a.family() == AddressFamily::ipv6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.native());
        std::memcpy(c.bytes.data(), &in6->sin6_addr, 16);
        c.family = AF_INET6;
    }
    c.port = a.port();
    return c;
}

std::optional<SocketAddress> CompactAddress::address() const {
    if (family == AF_INET) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_port = htons(port);
        std::memcpy(&in.sin_addr, bytes.data(), 4);
        return SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&in), sizeof(in));
    }
    if (family == AF_INET6) {
        sockaddr_in6 in6{};
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(port);
        std::memcpy(&in6.sin6_addr, bytes.data(), 16);
        return SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&in6), sizeof(in6));
    }
    return std::nullopt;
}

std::string CompactAddress::host() const {
    if (family == 0) {
        return "unix";
    }
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, bytes.data(), text, sizeof(text));
    return text;
}

SessionRecord::SessionRecord(ProcessState& process, ListenerRuntime& listener, ConnectionSlot slot,
                             Clock::time_point accepted)
    : process_(&process), listener_(&listener), accepted_(accepted) {
    // The gates are those of LISTENER: remembering that they were entered is enough.
    holds_slot_ = true;
    slot.disown();
    add(process.total_connections);
    // The rates count the connection when it was accepted: no clock reading of their own.
    process.connection_rate.add(accepted);
    raise_max(process.max_connections, process.connections.count());
    listener.stats.traffic.entered(accepted);
    listener.frontend->stats.traffic.entered(accepted);
}

void SessionRecord::begin_session() {
    const auto now = Clock::now();  // one reading for the three rates
    process_->session_rate.add(now);
    listener_->stats.traffic.began(now);
    listener_->frontend->stats.traffic.began(now);
}

SessionRecord::SessionRecord(SessionRecord&& other) noexcept
    : process_(other.process_),
      listener_(other.listener_),
      backend_(other.backend_),
      accepted_(other.accepted_),
      report_(std::move(other.report_)),
      server_(other.server_),
      client_(other.client_),
      wait_ms_(other.wait_ms_),
      connect_ms_(other.connect_ms_),
      retries_(other.retries_),
      redispatched_(other.redispatched_),
      tls_(other.tls_),
      holds_slot_(std::exchange(other.holds_slot_, false)),
      tls_counted_(std::exchange(other.tls_counted_, false)),
      settled_(std::exchange(other.settled_, true)) {}

SessionRecord::~SessionRecord() {
    if (!settled_) {
        fail('I', backend_ != nullptr ? 'D' : 'R', "internal error");
    }
}

void SessionRecord::assign(std::size_t server) {
    server_ = static_cast<std::uint32_t>(server);
    backend_->server(server).stats.last_session.store(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count()),
        std::memory_order_relaxed);
}

void SessionRecord::unassign() {
    if (backend_ != nullptr && server_ != no_index) {
        backend_->release(server_);
    }
    server_ = no_index;
}

void SessionRecord::count_retry(bool redispatched) {
    ++retries_;
    redispatched_ = redispatched_ || redispatched;
}

void SessionRecord::on_bytes(Direction d, std::size_t n) {
    auto account = [&](TrafficCounters& t) {
        add(d == Direction::to_server ? t.bytes_in : t.bytes_out, n);
    };
    account(listener_->stats.traffic);
    account(listener_->frontend->stats.traffic);
    if (backend_ != nullptr) {
        account(backend_->traffic());
        if (server_ != no_index) {
            account(backend_->server(server_).stats.traffic);
        }
    }
}

void SessionRecord::handed_off() {
    settled_ = true;
    listener_->stats.traffic.closed();
    listener_->frontend->stats.traffic.closed();
    if (std::exchange(holds_slot_, false)) {
        gates_of(*process_, *listener_).leave();
    }
}

void SessionRecord::finish(const TunnelResult& result) {
    settle(result);
}

void SessionRecord::fail(char who, char phase, std::string_view reason) {
    TunnelResult result;
    result.termination[0] = who;
    result.termination[1] = phase;
    result.detail = reason;
    settle(result);
}

std::string SessionRecord::accept_date() const {
    const auto age = Clock::now() - accepted_;
    return log::format_accept_date(
        std::chrono::system_clock::now() -
        std::chrono::duration_cast<std::chrono::system_clock::duration>(age));
}

namespace {

// The connection errors "option dontlognull" keeps out of the log, as HAProxy does: the peer
// went away before sending anything that counts (a port scan, a health check).
bool is_null_connection(std::string_view message) {
    static constexpr std::string_view silent[] = {
        "Connection closed while waiting for PROXY protocol header",
        "Connection error while waiting for PROXY protocol header",
        "Connection closed during SSL handshake",
        "Connection error during SSL handshake",
    };
    return std::find(std::begin(silent), std::end(silent), message) != std::end(silent);
}

}  // namespace

void SessionRecord::fail_connection(std::string_view message, std::string_view detail) {
    if (settled_) {
        return;
    }
    FrontendRuntime& frontend = *listener_->frontend;
    const bool silent = frontend.config->dontlognull && is_null_connection(message);
    if (!frontend.logs.empty() && !silent) {
        const config::Bind& bind = *listener_->config;
        std::string line =
            client_.host() + ":" + std::to_string(client_.family == 0 ? bind.id : client_.port) +
            " [" + accept_date() + "] " + frontend.config->name + "/" +
            (bind.name.empty() ? std::to_string(bind.id) : bind.name) + ": " + std::string(message);
        if (!detail.empty()) {
            line += " (" + std::string(detail) + ")";
        }
        frontend.logs.send(log::Severity::info, line);
    }
    TunnelResult result;
    result.termination[0] = 'C';
    result.termination[1] = 'R';
    result.detail = message;
    settle(result, false);
}

void SessionRecord::settle(const TunnelResult& result, bool log_session) {
    if (settled_) {
        return;
    }
    settled_ = true;
    FrontendRuntime& frontend = *listener_->frontend;
    if (result.termination[0] == 'S' && result.termination[1] == 'D' && server_ != no_index) {
        add(backend_->server(server_).stats.response_errors);
    }
    const bool log_it = log_session && !frontend.logs.empty() && frontend.config->tcplog &&
                        !(frontend.config->dontlognull && result.to_server == 0);
    if (log_it) {
        const auto now = Clock::now();
        log::TcpLogFields f;
        f.client_host = client_.host();
        f.client_port = client_.family == 0 ? listener_->config->id : client_.port;
        f.accepted =
            std::chrono::system_clock::now() -
            std::chrono::duration_cast<std::chrono::system_clock::duration>(now - accepted_);
        f.frontend = frontend.config->name;
        f.frontend_ssl = tls_;
        f.backend = backend_ != nullptr ? std::string_view(backend_->name())
                                        : std::string_view(frontend.config->name);
        f.server = server_ != no_index ? std::string_view(backend_->server(server_).config->name)
                                       : std::string_view("<NOSRV>");
        f.wait_ms = wait_ms_;
        f.connect_ms = connect_ms_;
        f.total_ms = to_ms(now - accepted_);
        f.bytes_to_client = result.to_client;
        f.termination[0] = result.termination[0];
        f.termination[1] = result.termination[1];
        f.actconn = process_->connections.count();
        f.feconn = frontend.connections.count();
        f.beconn =
            backend_ != nullptr ? static_cast<unsigned>(get(backend_->traffic().current)) : 0;
        f.srv_conn =
            server_ != no_index
                ? static_cast<unsigned>(get(backend_->server(server_).stats.traffic.current))
                : 0;
        f.retries = retries_;
        f.redispatched = redispatched_;
        f.backend_queue = backend_ != nullptr ? backend_->queued() : 0;
        frontend.logs.send(log::Severity::info, log::format_tcplog(f));
    }
    if (server_ != no_index) {
        backend_->count_end(server_, {result.termination[0], result.termination[1], wait_ms_,
                                      connect_ms_, to_ms(Clock::now() - accepted_)});
        backend_->release(server_);
    }
    if (backend_ != nullptr) {
        backend_->traffic().closed();
    }
    if (report_) {
        SessionSummary summary;
        summary.client = client_.address();
        summary.accepted = accepted_;
        summary.bytes_in = result.to_server;
        summary.bytes_out = result.to_client;
        summary.termination[0] = result.termination[0];
        summary.termination[1] = result.termination[1];
        std::exchange(report_, nullptr)->closed(summary);
    }
    listener_->stats.traffic.closed();
    frontend.stats.traffic.closed();
    if (std::exchange(tls_counted_, false)) {
        process_->tls_current.fetch_sub(1, std::memory_order_relaxed);
    }
    if (std::exchange(holds_slot_, false)) {
        gates_of(*process_, *listener_).leave();
    }
}

}  // namespace tierlb::net
