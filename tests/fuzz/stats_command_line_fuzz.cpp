// Fuzzes the stats socket's command line (common/cli/command_line.*): what a client of a stats
// socket sends, framed into commands, split into words, looked up in the table of commands and
// checked against the session's level, as common/net/stats_server.cpp does before running a
// command -- without running it: nothing here touches a process. The input is one session's
// bytes, the first byte its starting level. Checked beyond "no crash":
//   - framing: the commands and their delimiters are the input, in order, and no command
//     holds a delimiter that was not escaped;
//   - words: escaped again and joined, they split back to the same words, and the command
//     is looked up the same;
//   - lookup: a command found starts with its keywords (the first in the table that does),
//     runs only at its level or above (else "Permission denied"); an unknown
//     command starts with no command's keywords and is answered with usage lines of listed
//     commands and the help tail.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/cli/command_line.hpp"
#include "fuzz_assert.hpp"

namespace cli = tierlb::cli;
using tierlb::config::StatsLevel;

namespace {

const std::string_view help_tail =
    "  help [<command>]                        : list matching or all commands\n"
    "  prompt                                  : toggle interactive mode with prompt\n"
    "  quit                                    : disconnect\n";

// WORDS as a command line. An empty word can only be last (a lone backslash ends a line the
// way HAProxy reads it: as an empty argument), and is written so.
std::string escaped(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) {
        if (!out.empty()) {
            out += ' ';
        }
        if (w.empty()) {
            out += '\\';
        }
        for (char c : w) {
            if (c == ' ' || c == '\t' || c == '\\' || c == ';' || c == '\n') {
                out += '\\';
            }
            out += c;
        }
    }
    return out;
}

bool starts_with_keywords(const cli::CommandSpec& c, const std::vector<std::string>& words) {
    const std::size_t n = cli::keyword_count(c);
    if (words.size() < n) {
        return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (words[i] != c.keywords[i]) {
            return false;
        }
    }
    return true;
}

void check_command(std::string_view command, StatsLevel level) {
    const cli::ParsedCommand parsed = cli::parse_command(command, level);
    FUZZ_ASSERT(parsed.words.size() <= cli::max_words);
    if (parsed.command != nullptr) {
        FUZZ_ASSERT(starts_with_keywords(*parsed.command, parsed.words));
        // The first match in table order: no earlier command matches too.
        for (const auto& c : cli::commands()) {
            if (&c == parsed.command) {
                break;
            }
            FUZZ_ASSERT(!starts_with_keywords(c, parsed.words));
        }
        FUZZ_ASSERT(parsed.permitted == (level >= parsed.command->level));
        FUZZ_ASSERT(parsed.permitted ? parsed.answer.empty()
                                     : parsed.answer == cli::permission_denied);
    } else {
        FUZZ_ASSERT(!parsed.permitted);
        for (const auto& c : cli::commands()) {
            FUZZ_ASSERT(!starts_with_keywords(c, parsed.words));
        }
        const std::string& a = parsed.answer;
        FUZZ_ASSERT(a.rfind("Unknown command", 0) == 0);
        FUZZ_ASSERT(a.size() >= help_tail.size() &&
                    a.compare(a.size() - help_tail.size(), help_tail.size(), help_tail) == 0);
        // Between the title and the tail: usage lines of listed commands, sorted.
        std::size_t at = a.find('\n') + 1;
        std::string previous;
        while (at < a.size() - help_tail.size()) {
            const std::size_t end = a.find('\n', at);
            const std::string line = a.substr(at, end - at);
            bool known = false;
            for (const auto& c : cli::commands()) {
                known = known || (!c.syntax.empty() && line.rfind("  " + std::string(c.syntax), 0) == 0 &&
                                  line.find(": " + std::string(c.description)) != std::string::npos);
            }
            FUZZ_ASSERT(known && line >= previous);
            previous = line;
            at = end + 1;
        }
    }
    // Escaped again, the words read the same (a last word ending in '\r' would lose it to the
    // rule that drops a line's '\r').
    if (parsed.words.size() < cli::max_words &&
        (parsed.words.empty() || parsed.words.back().empty() ||
         parsed.words.back().back() != '\r')) {
        const std::string again = escaped(parsed.words);
        FUZZ_ASSERT(cli::find_command_end(again) == std::string_view::npos);
        const cli::ParsedCommand reparsed = cli::parse_command(again, level);
        FUZZ_ASSERT(reparsed.words == parsed.words);
        FUZZ_ASSERT(reparsed.command == parsed.command && reparsed.answer == parsed.answer);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    StatsLevel level = static_cast<StatsLevel>(data[0] % 3);
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::string_view rest = input;
    std::string rebuilt;
    while (true) {
        const std::size_t end = cli::find_command_end(rest);
        if (end == std::string_view::npos) {
            break;
        }
        FUZZ_ASSERT(rest[end] == '\n' || rest[end] == ';');
        const std::string_view command = rest.substr(0, end);
        FUZZ_ASSERT(cli::find_command_end(command) == std::string_view::npos);
        rebuilt.append(command).push_back(rest[end]);
        check_command(command, level);
        const cli::ParsedCommand parsed = cli::parse_command(command, level);
        if (parsed.permitted && parsed.command->id == cli::CommandId::quit) {
            break;
        }
        // The session commands that change the level, as stats_commands.cpp runs them.
        if (parsed.permitted && parsed.command->id == cli::CommandId::user_level) {
            level = StatsLevel::user;
        } else if (parsed.permitted && parsed.command->id == cli::CommandId::operator_level &&
                   level != StatsLevel::user) {
            level = StatsLevel::operator_level;
        }
        rest.remove_prefix(end + 1);
    }
    FUZZ_ASSERT(input.substr(0, rebuilt.size()) == rebuilt);
    if (!rest.empty()) {
        check_command(rest, level);  // an unfinished last command, as execute_line runs it
    }
    return 0;
}
