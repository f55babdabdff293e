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

#include <csignal>

#include "common/log/event_log.hpp"
#include "config/load.hpp"
#include "master/supervisor_impl.hpp"
#include "worker/tls_context.hpp"

namespace tierlb::master {

namespace {
constexpr auto ready_deadline = 10s;
}  // namespace

void Supervisor::reload() {
    log::notice("master: reloading the configuration");
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
        return;
    }
    auto opened = open_listeners(*config, 0, &listeners_);
    if (!opened) {
        log::alert("master: reload refused: {}", opened.error());
        return;
    }
    // Sockets the new configuration does not bind: the master lets go of its copy (the
    // previous processes keep theirs until they stop).
    for (const auto& old : listeners_) {
        const bool kept = std::any_of(opened->begin(), opened->end(),
                                      [&](const OpenListener& l) { return l.fd == old.fd; });
        if (!kept) {
            ::close(old.fd);
        }
    }
    listeners_ = std::move(*opened);
    config_ = std::move(config);

    // The current generation retires once the next one is ready.
    for (auto& [number, child] : children_) {
        if (child.restart) {
            child.restart->cancel();
        }
        if (child.pid != 0) {
            retiring_.push_back(std::move(child));
        }
    }
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

void Supervisor::retire_previous() {
    retire_pending_ = false;
    if (retire_timer_) {
        retire_timer_->cancel();
    }
    for (auto& child : retiring_) {
        ::kill(child.pid, SIGUSR1);
    }
    if (!retiring_.empty()) {
        log::notice(
            "master: reload done: {} previous processes stop softly (their established "
            "connections go on until they end)",
            retiring_.size());
    }
}

}  // namespace tierlb::master
