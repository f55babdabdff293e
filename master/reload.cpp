// Reload (SIGUSR2, SIGHUP), HAProxy's way with tierlb's master holding the listening sockets:
//   1. the files are read again and checked (certificates included); a configuration with
//      errors is refused, its errors logged, and nothing changes;
//   2. the sockets of addresses both configurations bind are kept (the same sockets, TCP and
//      abns@ alike: an abstract name cannot be bound twice), new ones are bound, and those
//      no longer named are closed in the master;
//   3. a new process is started for each process number, with the new configuration;
//   4. once they all say they are ready (or after 10 s), the previous processes are told to
//      stop softly: they stop accepting and serve their established connections until these
//      end (or `hard-stop-after`). Both generations accept meanwhile, and the sockets never
//      close, so no connection is refused.
//   5. if a new process cannot start (exit 1 or 2 at once: a certificate, a socket it binds
//      itself), the reload is undone: the new processes stop softly, and the previous ones
//      stay, with their configuration and sockets.

#include <csignal>

#include "common/log/event_log.hpp"
#include "config/load.hpp"
#include "master/sd_notify.hpp"
#include "master/supervisor_impl.hpp"
#include "worker/tls_context.hpp"

namespace tierlb::master {

namespace {
constexpr auto ready_deadline = 10s;
}  // namespace

void Supervisor::reload() {
    log::notice("master: reloading the configuration");
    sd_notify("RELOADING=1");
    config::Diagnostics diagnostics;
    auto config = config::load_files(cl_.files, diagnostics);
    if (config) {
        worker::check_tls(*config, diagnostics);
    }
    for (const auto& d : diagnostics.all()) {
        if (d.severity == config::Severity::error) {
            log::alert("{}", config::format(d));
        }
    }
    if (!config || diagnostics.has_errors()) {
        log::alert(
            "master: reload refused: the new configuration has {} error(s); the running "
            "processes keep serving with the previous one",
            diagnostics.error_count());
        sd_notify("READY=1\nSTATUS=reload refused: configuration errors");
        return;
    }
    if (retire_pending_) {
        retire_previous();  // a reload during a reload: the one under way is kept
    }
    auto opened = open_listeners(*config, 0, &listeners_);
    if (!opened) {
        log::alert("master: reload refused: {}", opened.error());
        sd_notify("READY=1\nSTATUS=reload refused");
        return;
    }
    previous_listeners_ = std::exchange(listeners_, std::move(*opened));
    previous_config_ = std::exchange(config_, std::move(config));
    nohop_.begin_reload(*config_, listeners_);  // before the new processes inherit its maps

    // The current generation retires once the next one is ready.
    for (auto& [number, child] : children_) {
        if (child.restart) {
            child.restart->cancel();
        }
    }
    ++reloads_;
    for (auto& [number, child] : children_) {
        ++child.reloads;
        if (child.channel) {
            child.channel->send(reload_started_message, "");
        }
    }
    previous_children_ = std::move(children_);
    children_.clear();
    not_ready_yet_.clear();
    for (int number : config_->processes) {
        children_[number].number = number;
        not_ready_yet_.insert(number);
    }
    retire_pending_ = true;
    for (auto& [number, child] : children_) {
        start(child);
    }
    log::notice(
        "master: reload: {} new processes started; the previous ones stop once these "
        "are ready",
        children_.size());
    retire_timer_ = std::make_unique<net::Timer>(io_.get_executor());
    retire_timer_->expires_after(ready_deadline);
    retire_timer_->async_wait([this](const net::error_code& ec) {
        if (!ec && retire_pending_) {
            log::warning(
                "master: reload: new processes not all ready after {} s; stopping the "
                "previous ones anyway",
                std::chrono::duration_cast<std::chrono::seconds>(ready_deadline).count());
            retire_previous();
        }
    });
}

// Closes the master's copy of each socket in FROM that KEEP does not hold.
void close_unless_kept(const std::vector<OpenListener>& from,
                       const std::vector<OpenListener>& keep) {
    for (const auto& old : from) {
        const bool kept = std::any_of(keep.begin(), keep.end(),
                                      [&](const OpenListener& l) { return l.fd == old.fd; });
        if (!kept) {
            ::close(old.fd);
        }
    }
}

void Supervisor::retire_previous() {
    retire_pending_ = false;
    if (retire_timer_) {
        retire_timer_->cancel();
    }
    // Sockets the new configuration does not bind: the master lets go of its copy (the
    // previous processes keep theirs until they stop).
    nohop_.commit_reload();
    close_unless_kept(previous_listeners_, listeners_);
    previous_listeners_.clear();
    previous_config_.reset();
    std::size_t stopping = 0;
    for (auto& [number, child] : previous_children_) {
        if (child.pid != 0) {
            ::kill(child.pid, SIGUSR1);
            retiring_.push_back(std::move(child));
            ++stopping;
        }
    }
    previous_children_.clear();
    log::notice(
        "master: reload done: {} previous processes stop softly (their established "
        "connections go on until they end)",
        stopping);
    sd_notify("READY=1\nSTATUS=reloaded");
}

void Supervisor::abort_reload(int failed, int status) {
    log::alert(
        "master: reload failed: process {} of the new configuration could not start ({}); "
        "the previous processes keep serving with the previous configuration",
        failed, describe_status(status));
    sd_notify("READY=1\nSTATUS=reload failed; serving with the previous configuration");
    retire_pending_ = false;
    if (retire_timer_) {
        retire_timer_->cancel();
    }
    not_ready_yet_.clear();
    // The new processes may have accepted connections already: they stop softly.
    for (auto& [number, child] : children_) {
        if (child.restart) {
            child.restart->cancel();
        }
        if (child.pid != 0) {
            ::kill(child.pid, SIGUSR1);
            retiring_.push_back(std::move(child));
        }
    }
    std::vector<int> live;
    for (const auto& [number, child] : previous_children_) {
        if (child.pid != 0) {
            live.push_back(number);
        }
    }
    nohop_.abort_reload(live);  // while the sockets of both configurations are open
    close_unless_kept(listeners_, previous_listeners_);
    listeners_ = std::move(previous_listeners_);
    config_ = std::move(previous_config_);
    children_ = std::move(previous_children_);
    previous_children_.clear();
    for (auto& [number, child] : children_) {
        if (child.pid == 0 && !stopping_) {
            start(child);  // it was waiting for a restart when the reload began
        } else if (child.channel) {
            child.channel->send(reload_aborted_message, "");
        }
    }
}

}  // namespace tierlb::master
