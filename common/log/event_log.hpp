#pragma once
// Process events (start, stop, errors, server state changes) on stderr, in HAProxy's form:
//   [NOTICE]   (12345) : process 2 ready
//   [WARNING]  (12345) : ...
//   [ALERT]    (12345) : ...
// so that people and scripts used to HAProxy read them the same way. -q keeps alerts only,
// -d adds debug lines. Also copied to the global "log" targets by the traffic logger.

#include <spdlog/fmt/fmt.h>

#include <string>
#include <string_view>

namespace tierlb::log {

enum class Level { debug, notice, warning, alert };
enum class Verbosity { quiet, normal, debug };

void set_verbosity(Verbosity v);
bool enabled(Level level);

// Writes one line: "[LEVEL]    (pid) : message".
void event(Level level, std::string_view message);

template <typename... Args>
void notice(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::notice)) {
        event(Level::notice, fmt::format(format, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void warning(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::warning)) {
        event(Level::warning, fmt::format(format, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void alert(fmt::format_string<Args...> format, Args&&... args) {
    event(Level::alert, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::debug)) {
        event(Level::debug, fmt::format(format, std::forward<Args>(args)...));
    }
}

}  // namespace tierlb::log
