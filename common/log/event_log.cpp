#include "common/log/event_log.hpp"

#include <unistd.h>

#include "common/log/stream_writer.hpp"

#include <atomic>

namespace tierlb::log {

namespace {

std::atomic<Verbosity> verbosity{Verbosity::normal};

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
    // One write per line (or the writer thread's PIPE_BUF batches): lines of several threads
    // and processes never interleave.
    write_line(2, fmt::format("{} ({}) : {}\n", tag(level), ::getpid(), message));
}

}  // namespace tierlb::log
