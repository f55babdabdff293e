#include "common/net/health_checker.hpp"

#include <openssl/err.h>
#include <sys/socket.h>

#include "common/health/health_log.hpp"
#include "common/log/event_log.hpp"
#include "common/net/connector.hpp"
#include "common/net/session_steps.hpp"
#include "common/net/stream_end.hpp"
#include "common/proxy_protocol/encode.hpp"

namespace tierlb::net {

namespace {

using health::CheckOutcome;
using health::CheckStatus;
using std::chrono::milliseconds;

milliseconds since(Clock::time_point t) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - t);
}

health::CheckParams params_of(const config::ServerOptions& o) {
    health::CheckParams p;
    p.rise = o.rise;
    p.fall = o.fall;
    p.inter = o.inter;
    p.fastinter = o.fastinter.value_or(o.inter);
    p.downinter = o.downinter.value_or(o.inter);
    return p;
}

// The header a check sends: HAProxy's checks never carry client addresses.
std::string check_header(const config::ServerOptions& o) {
    if (o.send_proxy == config::SendProxy::v2) {
        return proxy_protocol::encode_v2(nullptr, nullptr);  // LOCAL
    }
    if (o.send_proxy == config::SendProxy::v1 || o.check_send_proxy) {
        return "PROXY UNKNOWN\r\n";
    }
    return {};
}

std::string first_ssl_error() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
    return reason != nullptr ? reason : "TLS handshake failed";
}

}  // namespace

HealthChecker::HealthChecker(Executor executor, BackendRuntime& backend, log::LogSinks logs)
    : executor_(executor), backend_(backend), logs_(std::move(logs)) {
    servers_.resize(backend.size());
}

HealthChecker::~HealthChecker() {
    stop();
}

std::optional<std::string> HealthChecker::start() {
    std::vector<std::size_t> checked;
    for (std::size_t i = 0; i < backend_.size(); ++i) {
        const config::Server& s = *backend_.server(i).config;
        if (!s.options.check) {
            continue;
        }
        servers_[i].state.emplace(params_of(s.options), Clock::now(), s.options.disabled);
        if (s.options.check_ssl) {
            servers_[i].tls.reset(SSL_CTX_new(TLS_client_method()));
            SSL_CTX* ctx = servers_[i].tls.get();
            SSL_CTX_set_verify(ctx, s.options.verify_required ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                               nullptr);
            if (!s.options.ca_file.empty() &&
                SSL_CTX_load_verify_locations(ctx, s.options.ca_file.c_str(), nullptr) != 1) {
                return "server '" + s.name + "' (" + s.where.file + ":" +
                       std::to_string(s.where.line) + "): cannot load ca-file '" +
                       s.options.ca_file + "': " + first_ssl_error();
            }
        }
        checked.push_back(i);
    }
    // HAProxy spreads the first checks of a backend over the first interval.
    for (std::size_t k = 0; k < checked.size(); ++k) {
        const std::size_t i = checked[k];
        const auto first =
            health::first_check_delay(servers_[i].state->next_interval(), k, checked.size());
        servers_[i].timer = std::make_unique<Timer>(executor_);
        asio::co_spawn(executor_, run(i, first), asio::detached);
    }
    return std::nullopt;
}

void HealthChecker::stop() {
    *alive_ = false;
    for (auto& s : servers_) {
        if (s.timer) {
            s.timer->cancel();
        }
    }
}

std::optional<health::CheckState> HealthChecker::state(std::size_t server) const {
    return servers_[server].state;
}

// Keeps the check state in step with the administrative state set from the stats socket:
// a server in maintenance is not checked. False while it is in maintenance.
bool HealthChecker::follow_admin_state(std::size_t server) {
    Server& s = servers_[server];
    const bool maint = backend_.view(server).admin == balance::AdminState::maint;
    if (maint && !s.in_maintenance) {
        s.state->enter_maintenance(Clock::now());
    } else if (!maint && s.in_maintenance) {
        s.state->leave_maintenance(Clock::now());
        backend_.set_up(server, s.state->up());
    }
    s.in_maintenance = maint;
    return !maint;
}

Task<void> HealthChecker::run(std::size_t server, Clock::duration first_delay) {
    auto alive = alive_;
    Clock::duration wait = first_delay;
    while (*alive) {
        Timer& timer = *servers_[server].timer;
        timer.expires_after(wait);
        co_await timer.async_wait(use_task);
        if (!*alive) {
            co_return;
        }
        if (follow_admin_state(server)) {
            CheckOutcome outcome = co_await check_once(server);
            if (!*alive) {
                co_return;
            }
            if (outcome.local_error) {
                log_local_error(server, outcome);
            }
            apply(server, servers_[server].state->record(std::move(outcome), Clock::now()));
        }
        wait = servers_[server].state->next_interval();
    }
}

Task<CheckOutcome> HealthChecker::check_once(std::size_t server) {
    const config::Server& conf = *backend_.server(server).config;
    const auto& timeouts = backend_.config().timeouts;
    const milliseconds interval = servers_[server].state->next_interval();
    // `timeout check`: the connect takes min(timeout connect, inter), what follows timeout
    // check; without it, inter bounds the whole check.
    const Clock::duration connect_limit =
        timeouts.check ? std::min<Clock::duration>(timeouts.connect.value_or(interval), interval)
                       : Clock::duration(interval);
    if (ServerProbe* probe = servers_[server].probe) {
        co_return co_await probe->probe(timeouts.check.value_or(interval));
    }
    const auto started = Clock::now();
    PlainEnd end;
    const ConnectOutcome c = co_await connect_once(conf.address, connect_limit, end);
    if (!c.connected && c.out_of_resources) {
        // No socket for the check: the process's shortage, not the server's.
        CheckOutcome local{CheckStatus::sockerr, since(started), c.error};
        local.local_error = true;
        co_return local;
    }
    if (!c.connected) {
        co_return CheckOutcome{c.timed_out ? CheckStatus::l4tout : CheckStatus::l4con,
                               since(started), c.timed_out ? std::string() : c.error};
    }
    const auto deadline =
        timeouts.check ? Clock::now() + *timeouts.check : started + Clock::duration(interval);
    const std::string header = check_header(conf.options);
    if (!header.empty() && !co_await send_all(end, header, deadline - Clock::now())) {
        co_return CheckOutcome{CheckStatus::sockerr, since(started),
                               "cannot send the PROXY header"};
    }
    if (!servers_[server].tls) {
        co_return CheckOutcome{CheckStatus::l4ok, since(started), {}};
    }
    co_return co_await tls_step(server, end.fd(), end.watch(), deadline, started);
}

// check-ssl: a TLS handshake as a client, after the PROXY header.
Task<CheckOutcome> HealthChecker::tls_step(std::size_t server, int fd, PollWatch& watch,
                                           Clock::time_point deadline, Clock::time_point started) {
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(servers_[server].tls.get()), &SSL_free);
    SSL_set_fd(ssl.get(), fd);
    SSL_set_connect_state(ssl.get());
    while (true) {
        ERR_clear_error();
        const int r = SSL_do_handshake(ssl.get());
        if (r == 1) {
            SSL_shutdown(ssl.get());
            co_return CheckOutcome{CheckStatus::l6ok, since(started), {}};
        }
        const int error = SSL_get_error(ssl.get(), r);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
            co_return CheckOutcome{CheckStatus::l6rsp, since(started), first_ssl_error()};
        }
        const std::uint32_t what = error == SSL_ERROR_WANT_READ ? readable : writable;
        watch.ready &= ~what;
        const auto left = deadline - Clock::now();
        if (left <= Clock::duration::zero() || !co_await wait_ready(watch, what, left)) {
            co_return CheckOutcome{CheckStatus::l6tout, since(started), {}};
        }
    }
}

// A check that could not run for want of a descriptor: said on stderr (one line per 10 s for
// the backend, with the count of the others), as HAProxy's "reached process FD limit" is, and
// the server's state kept.
void HealthChecker::log_local_error(std::size_t server, const CheckOutcome& outcome) {
    if (const auto unlogged = local_errors_.allow(log::Throttle::Clock::now())) {
        log::warning(
            "Health check for server {}/{} not run: {} (this process is out of descriptors; "
            "check 'ulimit -n' and maxconn); the server's state is kept{}",
            backend_.name(), backend_.server(server).config->name, outcome.info,
            log::unlogged_note(*unlogged));
    }
}

void HealthChecker::apply(std::size_t server, const health::CheckEvent& event) {
    if (event.transition != health::Transition::none) {
        backend_.set_up(server, event.transition == health::Transition::went_up);
    }
    log_lines(server, event);
}

void HealthChecker::log_lines(std::size_t server, const health::CheckEvent& event) {
    const ServerRuntime& s = backend_.server(server);
    const auto view = backend_.view(server);
    health::ServerLogInfo info{backend_.name(), s.config->name, s.config->options.backup,
                               view.weight == 0, view.admin == balance::AdminState::drain};
    health::ServerCounts counts{backend_.active_in_service(), backend_.backup_in_service(),
                                view.load, 0, 0};
    for (const auto& line : health::check_log_lines(info, event, counts)) {
        // On stderr, as HAProxy in the foreground: state changes are warnings (alerts when the
        // server was in service), check results notices.
        if (line.level == health::LogLevel::alert) {
            log::alert("{}", line.text);
        } else if (line.text.rfind("Health check for ", 0) == 0) {
            log::notice("{}", line.text);
        } else {
            log::warning("{}", line.text);
        }
        logs_.send(
            line.level == health::LogLevel::alert ? log::Severity::alert : log::Severity::notice,
            line.text);
    }
    if (event.transition == health::Transition::went_down && backend_.active_in_service() == 0 &&
        backend_.backup_in_service() == 0) {
        const std::string text = "backend '" + backend_.name() + "' has no server available!";
        log::alert("{}", text);
        logs_.send(log::Severity::emerg, text);
    }
}

void HealthChecker::mark_process_down(std::size_t server, const std::string& reason) {
    Server& s = servers_[server];
    const CheckOutcome outcome{CheckStatus::l4con, milliseconds(0), reason};
    if (s.state) {
        apply(server, s.state->force_down(outcome, Clock::now()));
        return;
    }
    // Without checks nothing else would ever say DOWN: the master's word is all there is.
    if (backend_.view(server).up) {
        backend_.set_up(server, false);
        health::CheckEvent event;
        event.outcome = outcome;
        event.transition = health::Transition::went_down;
        log_lines(server, event);
    }
}

void HealthChecker::mark_process_up(std::size_t server) {
    if (servers_[server].state) {
        return;  // `rise` good checks bring it back
    }
    if (!backend_.view(server).up) {
        backend_.set_up(server, true);
        health::CheckEvent event;
        event.outcome = CheckOutcome{CheckStatus::l4ok, milliseconds(0), "process ready"};
        event.transition = health::Transition::went_up;
        log_lines(server, event);
    }
}

}  // namespace tierlb::net
