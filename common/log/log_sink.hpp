#pragma once
// Where traffic and health log lines go: the "log" targets of the configuration. Each line is
// formatted for its target ("format raw", "local", "rfc3164", "rfc5424", ...) and written with
// one non-blocking call; a line that cannot be written at once is dropped and counted, so
// that logging never holds the data path (HAProxy does the same).

#include <atomic>
#include <memory>
#include <string_view>
#include <vector>

#include "config/model.hpp"

namespace tierlb::log {

// Syslog severities.
enum class Severity {
    emerg = 0,
    alert = 1,
    crit = 2,
    err = 3,
    warning = 4,
    notice = 5,
    info = 6,
    debug = 7
};

class LogSink {
public:
    explicit LogSink(const config::LogTarget& target);
    ~LogSink();
    LogSink(const LogSink&) = delete;
    LogSink& operator=(const LogSink&) = delete;

    void send(Severity severity, std::string_view message);
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    std::string frame(Severity severity, std::string_view message) const;

    config::LogTarget target_;
    int fd_ = -1;  // our socket for unix/udp targets; 1 or 2 for stdout/stderr
    bool own_fd_ = false;
    std::atomic<std::uint64_t> dropped_{0};
};

// The sinks of one proxy: its own "log" lines, plus the global ones with "log global".
class LogSinks {
public:
    void add(std::shared_ptr<LogSink> sink) { sinks_.push_back(std::move(sink)); }
    bool empty() const { return sinks_.empty(); }
    void send(Severity severity, std::string_view message) const {
        for (const auto& s : sinks_) {
            s->send(severity, message);
        }
    }

private:
    std::vector<std::shared_ptr<LogSink>> sinks_;
};

}  // namespace tierlb::log
