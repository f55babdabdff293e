#pragma once
// The stats socket's command language, HAProxy 2.6's: commands end at a line feed or at a ';'
// not escaped by a backslash, words are separated by spaces and tabs, a backslash escapes the
// next character. Every answer is followed by an empty line ("\n"), or by "\n> " in interactive
// mode (`prompt`); `quit` ends the session without one. Errors are answers too, worded as
// HAProxy words them ("No such backend.", "Permission denied", ...), and an unknown command is
// answered with the commands that look closest to it.
//
// Supported: help, prompt, quit, operator, user, show info, show stat, show servers state,
// show backend, show proc, show version, show cli level, get weight, and at level admin:
// disable server, enable server, set server B/S state|weight, set weight, set accept-balance
// (stats_nohop.hpp). State and weight
// changes are logged on the event log as HAProxy logs them ("Server B/S is going DOWN for
// maintenance. ...").

#include <string>
#include <string_view>
#include <vector>

#include "common/cli/command_line.hpp"
#include "common/net/runtime.hpp"
#include "common/net/stats_csv.hpp"
#include "common/net/stats_info.hpp"
#include "config/model.hpp"

namespace tierlb::net {

// One client's state across its commands.
struct StatsSession {
    config::StatsLevel level = config::StatsLevel::operator_level;  // `operator`/`user` lower it
    bool prompt = false;  // interactive mode, toggled by `prompt`
    bool quit = false;    // `quit` was entered: close now
    CliActivity cli;      // the stats sockets' own connections, for show info
    CheckLookup checks;   // health-check columns, when the process runs checks
};

// The command line itself (framing, words, lookup, help) is common/cli/command_line.hpp.
using cli::find_command_end;
using cli::split_words;

// Runs one command (without its delimiter; a trailing '\r' is ignored) and returns its answer,
// without the end-of-answer that follows it.
std::string run_command(ProcessRuntime& runtime, StatsSession& session, std::string_view command);

// What follows an answer: "\n", "\n> " in interactive mode, nothing once `quit` was entered.
std::string_view end_of_answer(const StatsSession& session);

// Everything a client receives for TEXT sent at once (as with `echo "TEXT" | socat ...`): each
// command's answer and end-of-answer, in order, up to `quit`. TEXT is taken as one line: a
// missing final line feed is implied.
std::string execute_line(ProcessRuntime& runtime, StatsSession& session, std::string_view text);
std::string execute_command(ProcessRuntime& runtime, std::string_view line,
                            config::StatsLevel level);

}  // namespace tierlb::net
