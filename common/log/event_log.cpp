#include "common/log/event_log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>

namespace tierlb::log {

namespace {

std::atomic<Verbosity> verbosity{Verbosity::normal};

// One spdlog logger writing raw lines to stderr; spdlog's stderr sink writes each line with
// one fwrite under its mutex, so lines of several threads never interleave.
spdlog::logger& stderr_logger() {
    static auto logger = [] {
        auto l = std::make_shared<spdlog::logger>(
            "events", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        l->set_pattern("%v");
        l->set_level(spdlog::level::trace);
        l->flush_on(spdlog::level::trace);
        return l;
    }();
    return *logger;
}

const char* tag(Level level) {
    switch (level) {
        case Level::debug:
            return "[DEBUG]   ";
        case Level::notice:
            return "[NOTICE]  ";
        case Level::warning:
            return "[WARNING] ";
        case Level::alert:
            return "[ALERT]   ";
    }
    return "[?]       ";
}

}  // namespace

void set_verbosity(Verbosity v) {
    verbosity = v;
}

bool enabled(Level level) {
    switch (verbosity.load(std::memory_order_relaxed)) {
        case Verbosity::quiet:
            return level == Level::alert;
        case Verbosity::normal:
            return level != Level::debug;
        case Verbosity::debug:
            return true;
    }
    return true;
}

void event(Level level, std::string_view message) {
    stderr_logger().info("{} ({}) : {}", tag(level), ::getpid(), message);
}

}  // namespace tierlb::log
