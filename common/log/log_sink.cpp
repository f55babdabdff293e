#include "common/log/log_sink.hpp"

#include <spdlog/fmt/fmt.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>

#include "common/log/stream_writer.hpp"

namespace tierlb::log {

namespace {

std::string host_name() {
    char name[256] = {};
    ::gethostname(name, sizeof(name) - 1);
    return name;
}

}  // namespace

LogSink::LogSink(const config::LogTarget& target) : target_(target) {
    using Kind = config::LogTarget::Kind;
    if (target.kind == Kind::stdout_stream || target.kind == Kind::stderr_stream) {
        fd_ = target.kind == Kind::stdout_stream ? 1 : 2;
        return;
    }
    fd_ = ::socket(target.address->domain(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    own_fd_ = fd_ >= 0;
    if (fd_ >= 0 && ::connect(fd_, target.address->native(), target.address->length()) != 0) {
        // /dev/log may not exist yet (no syslog daemon): keep the socket and retry per line.
    }
}

LogSink::~LogSink() {
    if (own_fd_) {
        ::close(fd_);
    }
}

std::string LogSink::frame(Severity severity, std::string_view message) const {
    const int level = static_cast<int>(severity);
    const int priority = target_.facility * 8 + level;
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    localtime_r(&t, &tm);
    char date[32];
    const std::string& format = target_.format;
    if (format == "raw") {
        return std::string(message);
    }
    if (format == "short") {
        return fmt::format("<{}>{}", level, message);
    }
    if (format == "priority") {
        return fmt::format("<{}>{}", priority, message);
    }
    if (format == "iso" || format == "timed" || format == "rfc5424") {
        std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S%z", &tm);
        if (format == "iso") {
            return fmt::format("{} {}", date, message);
        }
        if (format == "timed") {
            return fmt::format("<{}>{} {}", level, date, message);
        }
        static const std::string host = host_name();
        return fmt::format("<{}>1 {} {} tierlb {} - - {}", priority, date, host, ::getpid(),
                           message);
    }
    std::strftime(date, sizeof(date), "%b %e %H:%M:%S", &tm);
    if (format == "rfc3164") {
        static const std::string host = host_name();
        return fmt::format("<{}>{} {} tierlb[{}]: {}", priority, date, host, ::getpid(), message);
    }
    return fmt::format("<{}>{} tierlb[{}]: {}", priority, date, ::getpid(), message);  // local
}

void LogSink::send(Severity severity, std::string_view message) {
    const int level = static_cast<int>(severity);
    if (level > target_.max_level || level < target_.min_level || fd_ < 0) {
        return;
    }
    std::string line = frame(severity, message);
    if (line.size() > target_.max_length) {
        line.resize(target_.max_length);
    }
    if (!own_fd_) {
        line += '\n';
        write_line(fd_, std::move(line));  // never blocks a connection's thread
        return;
    }
    ssize_t n = ::send(fd_, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTCONN && target_.address) {
        ::connect(fd_, target_.address->native(), target_.address->length());
        n = ::send(fd_, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (n < 0) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        count_dropped_line();
    }
}

}  // namespace tierlb::log
