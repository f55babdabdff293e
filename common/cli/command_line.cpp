#include "common/cli/command_line.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace tierlb::cli {

namespace {

using Words = std::vector<std::string>;

// help, prompt and quit have no syntax here: they are always listed last, in this order.
// clang-format off
const std::vector<CommandSpec> command_table{
    {{"help"}, config::StatsLevel::user, "", "", CommandId::help},
    {{"prompt"}, config::StatsLevel::user, "", "", CommandId::prompt},
    {{"quit"}, config::StatsLevel::user, "", "", CommandId::quit},
    {{"show", "info"}, config::StatsLevel::user, "show info [desc|json|typed]*",
     "report information about the running process", CommandId::show_info},
    {{"show", "stat"}, config::StatsLevel::user, "show stat [desc|json|no-maint|typed|up]*",
     "report counters for each proxy and server", CommandId::show_stat},
    {{"show", "servers", "state"}, config::StatsLevel::user, "show servers state [<backend>]",
     "dump volatile server information (all or for a single backend)", CommandId::show_servers_state},
    {{"show", "backend"}, config::StatsLevel::user, "show backend",
     "list backends in the current running config", CommandId::show_backend},
    {{"show", "proc"}, config::StatsLevel::user, "show proc", "show processes status", CommandId::show_proc},
    {{"show", "version"}, config::StatsLevel::user, "show version", "show version of the current process",
     CommandId::show_version},
    {{"show", "cli", "level"}, config::StatsLevel::user, "show cli level",
     "display the level of the current CLI session", CommandId::show_cli_level},
    {{"get", "weight"}, config::StatsLevel::user, "get weight <bk>/<srv>",
     "report a server's current weight", CommandId::get_weight},
    {{"disable", "server"}, config::StatsLevel::admin, "disable server (DEPRECATED)",
     "disable a server for maintenance (use 'set server' instead)", CommandId::disable_server},
    {{"enable", "server"}, config::StatsLevel::admin, "enable server  (DEPRECATED)",
     "enable a disabled server (use 'set server' instead)", CommandId::enable_server},
    {{"set", "server"}, config::StatsLevel::admin, "set server <bk>/<srv> [opts]",
     "change a server's state or weight", CommandId::set_server},
    {{"set", "weight"}, config::StatsLevel::admin, "set weight <bk>/<srv>  (DEPRECATED)",
     "change a server's weight (use 'set server' instead)", CommandId::set_weight},
    {{"set", "accept-balance"}, config::StatsLevel::admin, "set accept-balance <fe>/<row> [opts]",
     "change a process's weight or state in an eBPF group", CommandId::set_accept_balance},
    {{"operator"}, config::StatsLevel::user, "operator",
     "lower the level of the current CLI session to operator", CommandId::operator_level},
    {{"user"}, config::StatsLevel::user, "user", "lower the level of the current CLI session to user",
     CommandId::user_level},
};
// clang-format on

std::size_t keyword_count_of(const CommandSpec& command) {
    std::size_t n = 0;
    while (n < command.keywords.size() && !command.keywords[n].empty()) {
        ++n;
    }
    return n;
}

bool listed(const CommandSpec& command) {
    return !command.syntax.empty();
}

// How many of the command's first keywords equal the first WORDS, up to LIMIT.
std::size_t matching_words(const CommandSpec& command, const Words& words, std::size_t limit) {
    std::size_t n = 0;
    while (n < limit && n < keyword_count_of(command) && n < words.size() &&
           command.keywords[n] == words[n]) {
        ++n;
    }
    return n;
}

const CommandSpec* find_command(const Words& words) {
    for (const auto& command : command_table) {
        const std::size_t n = keyword_count_of(command);
        if (matching_words(command, words, n) == n) {
            return &command;
        }
    }
    return nullptr;
}

std::string usage_line(const CommandSpec& command) {
    std::string line = "  " + std::string(command.syntax);
    line.resize(std::max<std::size_t>(line.size(), 42), ' ');
    return line + ": " + std::string(command.description) + "\n";
}

// ---- Suggestions for an unknown command ---------------------------------------------------
//
// Words are compared by the transitions between the kinds of characters they are made of
// (each letter, digits, anything else, word start and end), counted in a 32x32 table: two
// spellings of a word differ in few transitions, two different words in many.

// A fingerprint is sparse: the cells of the table a few words touch, sorted, with their counts
// (comparing two full 32x32 tables for every command of the table cost more than the rest of
// an unknown command's answer; the stats_command_line fuzz target spent most of its time there).
using Fingerprint = std::vector<std::pair<unsigned, std::uint32_t>>;

unsigned char_class(char c) {
    if (c >= 'a' && c <= 'z') {
        return static_cast<unsigned>(c - 'a');
    }
    if (c >= 'A' && c <= 'Z') {
        return static_cast<unsigned>(c - 'A');
    }
    return (c >= '0' && c <= '9') ? 26 : 27;
}

void add_word(std::vector<unsigned>& cells, std::string_view word) {
    unsigned previous = 28;  // start of word
    for (char c : word) {
        const unsigned current = char_class(c);
        cells.push_back(previous * 32 + current);
        previous = current;
    }
    cells.push_back(previous * 32 + 29);  // end of word
}

Fingerprint fingerprint_of(std::vector<unsigned> cells) {
    std::sort(cells.begin(), cells.end());
    Fingerprint fp;
    for (unsigned cell : cells) {
        if (!fp.empty() && fp.back().first == cell) {
            ++fp.back().second;
        } else {
            fp.emplace_back(cell, 1);
        }
    }
    return fp;
}

// The sum over the table's cells of the difference of their counts.
std::int64_t distance(const Fingerprint& a, const Fingerprint& b) {
    std::int64_t d = 0;
    std::size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
        if (j == b.size() || (i < a.size() && a[i].first < b[j].first)) {
            d += a[i++].second;
        } else if (i == a.size() || b[j].first < a[i].first) {
            d += b[j++].second;
        } else {
            d += std::abs(static_cast<std::int64_t>(a[i++].second) -
                          static_cast<std::int64_t>(b[j++].second));
        }
    }
    return d;
}

// The closest commands among those that start with the LENGTH words that matched, as HAProxy
// picks them: at most 5, none much worse than the best.
std::vector<const CommandSpec*> suggestions(const Words& words, std::size_t length) {
    struct Match {
        const CommandSpec* command;
        std::int64_t distance;
    };
    std::vector<unsigned> typed_cells;
    std::size_t typed_length = 0;
    for (std::size_t i = length; i < words.size() && i < 5; ++i) {
        add_word(typed_cells, words[i]);
        typed_length += words[i].size();
    }
    const Fingerprint typed = fingerprint_of(std::move(typed_cells));
    std::vector<Match> matches;
    for (const auto& command : command_table) {
        if (!listed(command) || matching_words(command, words, length) != length) {
            continue;
        }
        std::vector<unsigned> known_cells;
        std::size_t total_length = typed_length;
        for (std::size_t i = length; i < keyword_count_of(command); ++i) {
            add_word(known_cells, command.keywords[i]);
            total_length += command.keywords[i].size();
        }
        const std::int64_t d = distance(typed, fingerprint_of(std::move(known_cells)));
        if (d < static_cast<std::int64_t>(5 * total_length / 2)) {
            matches.push_back({&command, d});
        }
    }
    std::stable_sort(matches.begin(), matches.end(),
                     [](const Match& a, const Match& b) { return a.distance < b.distance; });
    std::vector<const CommandSpec*> out;
    for (std::size_t i = 0; i < matches.size() && i < 5; ++i) {
        if (matches[i].distance > 5 * matches[0].distance / 2) {
            break;
        }
        out.push_back(matches[i].command);
    }
    return out;
}

// help's answer, and the answer to an unknown command (IS_HELP false).
std::string usage(Words words, bool is_help) {
    if (is_help) {
        words.erase(words.begin());
    }
    std::size_t length = 0;
    for (const auto& command : command_table) {
        if (listed(command)) {
            length = std::max(length, matching_words(command, words, 5));
        }
    }
    std::string out;
    if (is_help) {
        out = "The following commands are valid at this level:\n";
    } else if (length == 0 && (words.empty() || words[0].empty())) {
        out = "Unknown command. Please enter one of the following commands only:\n";
    } else {
        out = "Unknown command, but maybe one of the following ones is a better match:\n";
    }
    std::vector<const CommandSpec*> chosen;
    if (length < words.size() && !words[length].empty()) {
        chosen = suggestions(words, length);
    }
    if (chosen.empty()) {
        for (const auto& command : command_table) {
            if (listed(command) && matching_words(command, words, length) == length) {
                chosen.push_back(&command);
            }
        }
    }
    std::vector<std::string> lines;
    for (const CommandSpec* command : chosen) {
        lines.push_back(usage_line(*command));
    }
    std::sort(lines.begin(), lines.end());
    for (const auto& line : lines) {
        out += line;
    }
    out +=
        "  help [<command>]                        : list matching or all commands\n"
        "  prompt                                  : toggle interactive mode with prompt\n"
        "  quit                                    : disconnect\n";
    return out;
}

}  // namespace

const std::vector<CommandSpec>& commands() {
    return command_table;
}

std::size_t keyword_count(const CommandSpec& command) {
    return keyword_count_of(command);
}

std::size_t find_command_end(std::string_view buffer) {
    for (std::size_t i = 0; i < buffer.size(); ++i) {
        if (buffer[i] == '\\') {
            ++i;  // the escaped character, whatever it is, does not end the command
        } else if (buffer[i] == '\n' || buffer[i] == ';') {
            return i;
        }
    }
    return std::string_view::npos;
}

std::vector<std::string> split_words(std::string_view command) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (words.size() < max_words) {
        while (i < command.size() && (command[i] == ' ' || command[i] == '\t')) {
            ++i;
        }
        if (i >= command.size()) {
            break;
        }
        std::string word;
        for (; i < command.size() && command[i] != ' ' && command[i] != '\t'; ++i) {
            if (command[i] == '\\' && i + 1 < command.size()) {
                ++i;  // "\x" is "x", "\\" is "\", "\ " a space inside the word
            } else if (command[i] == '\\') {
                continue;  // a lone backslash at the end is dropped
            }
            word.push_back(command[i]);
        }
        words.push_back(std::move(word));
    }
    return words;
}

ParsedCommand parse_command(std::string_view command, config::StatsLevel level) {
    if (!command.empty() && command.back() == '\r') {
        command.remove_suffix(1);
    }
    ParsedCommand parsed;
    parsed.words = split_words(command);
    parsed.command = find_command(parsed.words);
    if (parsed.command == nullptr) {
        parsed.answer = usage(parsed.words, false);
    } else if (level < parsed.command->level) {
        parsed.answer = std::string(permission_denied);
    } else {
        parsed.permitted = true;
    }
    return parsed;
}

std::string help_text(const std::vector<std::string>& words) {
    return usage(words, true);
}

}  // namespace tierlb::cli
