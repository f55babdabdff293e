#pragma once
// The stats socket's command line, HAProxy 2.6's, apart from what the commands do
// (common/net/stats_commands.hpp runs them on a process): commands end at a line feed or at a
// ';' not escaped by a backslash; words are separated by spaces and tabs; a backslash escapes
// the next character. A command is looked up in the table of commands by its first words and
// checked against the session's level; an unknown one is answered with the commands that look
// closest to it, as HAProxy answers it. Pure: no runtime, no sockets.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"

namespace tierlb::cli {

// The end of the first command in BUFFER: the index of the first '\n' or ';' that no backslash
// escapes, or npos when the command is not complete yet.
std::size_t find_command_end(std::string_view buffer);

// The words of one command, unescaped; at most 64 (HAProxy's MAX_CLI_ARGS), the rest ignored.
std::vector<std::string> split_words(std::string_view command);
inline constexpr std::size_t max_words = 64;

enum class CommandId {
    help,
    prompt,
    quit,
    show_info,
    show_stat,
    show_servers_state,
    show_backend,
    show_proc,
    show_version,
    show_cli_level,
    get_weight,
    disable_server,
    enable_server,
    set_server,
    set_weight,
    set_accept_balance,
    operator_level,
    user_level,
};

struct CommandSpec {
    std::array<std::string_view, 3> keywords;  // the first words; unused ones empty
    config::StatsLevel level;                  // the lowest level allowed to run it
    std::string_view syntax;                   // as listed by help, left of the ':'
    std::string_view description;
    CommandId id;
};

// Every command, in lookup order.
const std::vector<CommandSpec>& commands();
std::size_t keyword_count(const CommandSpec& command);

inline constexpr std::string_view permission_denied = "Permission denied\n";

// One command line, looked up.
struct ParsedCommand {
    std::vector<std::string> words;
    const CommandSpec* command = nullptr;  // null: unknown
    bool permitted = false;                // found, and the level allows it
    std::string answer;  // when not permitted: the usage (unknown) or "Permission denied\n"
};

// COMMAND without its delimiter; a trailing '\r' is ignored.
ParsedCommand parse_command(std::string_view command, config::StatsLevel level);

// help's answer: the commands that match the words after "help" (all of them without any).
std::string help_text(const std::vector<std::string>& words);

}  // namespace tierlb::cli
