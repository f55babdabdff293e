#include "common/net/stats_commands.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

#include "common/health/health_log.hpp"
#include "common/log/event_log.hpp"
#include "common/net/stats_nohop.hpp"
#include "tierlb/version.hpp"

namespace tierlb::net {

namespace {

using config::StatsLevel;
using Words = std::vector<std::string>;

constexpr std::string_view permission_denied = "Permission denied\n";
constexpr std::size_t max_words = 64;  // HAProxy's MAX_CLI_ARGS

struct Context {
    ProcessRuntime& runtime;
    StatsSession& session;
    const Words& words;

    // The Nth word, empty when there are fewer.
    std::string_view word(std::size_t n) const {
        return n < words.size() ? std::string_view(words[n]) : std::string_view();
    }
};

using Handler = std::string (*)(Context&);

struct Command {
    std::array<std::string_view, 3> keywords;  // the first words; unused ones empty
    StatsLevel level;
    std::string_view syntax;  // as listed by help, left of the ':'
    std::string_view description;
    Handler handler;
};

// strtol's reading of the leading digits, saturated: what HAProxy's atoi and strtol see.
std::int64_t leading_number(std::string_view text, std::size_t* used = nullptr) {
    std::size_t i = 0;
    const bool negative = !text.empty() && text[0] == '-';
    if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
        ++i;
    }
    const std::size_t digits_start = i;
    std::int64_t n = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        n = std::min<std::int64_t>(n * 10 + (text[i] - '0'), INT64_MAX / 10);
    }
    if (used != nullptr) {
        *used = i == digits_start ? 0 : i;
    }
    return negative ? -n : n;
}

// ---- Finding backends and servers -------------------------------------------------------

BackendRuntime* backend_named(const ProcessRuntime& runtime, std::string_view name) {
    const bool by_id = name.size() > 1 && name[0] == '#';
    for (const auto& b : runtime.backends) {
        if (by_id ? leading_number(name.substr(1)) == b->config().id : b->name() == name) {
            return b.get();
        }
    }
    return nullptr;
}

struct Target {
    BackendRuntime* backend = nullptr;
    std::size_t server = 0;
    std::string_view error;  // empty when found
};

// "B/S" (either may be "#<id>"), with HAProxy's errors.
Target find_target(const ProcessRuntime& runtime, std::string_view text) {
    const auto slash = text.find('/');
    if (text.empty() || slash == std::string_view::npos) {
        return {nullptr, 0, "Require 'backend/server'.\n"};
    }
    Target t;
    t.backend = backend_named(runtime, text.substr(0, slash));
    if (t.backend == nullptr) {
        t.error = "No such backend.\n";
        return t;
    }
    const std::string_view name = text.substr(slash + 1);
    const bool by_id = name.size() > 1 && name[0] == '#';
    for (std::size_t i = 0; i < t.backend->size(); ++i) {
        const auto& conf = *t.backend->server(i).config;
        if (by_id ? leading_number(name.substr(1)) == conf.id : conf.name == name) {
            t.server = i;
            return t;
        }
    }
    t.error = "No such server.\n";
    return t;
}

// ---- State and weight changes, logged as HAProxy logs them --------------------------------

health::ServerCounts counts_after(const BackendRuntime& backend, std::size_t server) {
    health::ServerCounts c;
    c.active_servers = backend.active_in_service();
    c.backup_servers = backend.backup_in_service();
    c.sessions = backend.view(server).load;
    return c;
}

std::string server_prefix(const health::ServerLogInfo& info) {
    return std::string(info.backup ? "Backup Server " : "Server ") + std::string(info.backend) +
           "/" + std::string(info.server);
}

// Sets SERVER's admin state and logs HAProxy's lines for that transition (none when nothing
// changes). HAProxy prints them on stderr as warnings whatever their syslog level, and alerts
// when the backend has no server left.
void change_admin(BackendRuntime& backend, std::size_t server, balance::AdminState next) {
    using balance::AdminState;
    const auto before = backend.view(server);
    if (before.admin == next) {
        return;
    }
    const unsigned usable_before = backend.active_in_service() + backend.backup_in_service();
    backend.set_admin(server, next);
    const auto& conf = *backend.server(server).config;
    health::ServerLogInfo info{backend.name(), conf.name, before.backup, before.weight == 0,
                               before.admin == AdminState::drain};
    const auto after = counts_after(backend, server);
    if (next == AdminState::maint) {
        const auto entry =
            before.up ? health::MaintenanceEntry::was_up : health::MaintenanceEntry::was_down;
        if (auto line = health::maintenance_line(info, entry, after)) {
            log::warning("{}", line->text);
        }
    } else if (before.admin == AdminState::maint) {
        info.drain = next == AdminState::drain;
        log::warning("{}", health::leave_maintenance_line(info, before.up));
        if (info.drain) {
            log::warning("{} remains in forced drain mode.", server_prefix(info));
        }
    } else if (next == AdminState::drain) {
        log::warning("{}", health::enter_drain_line(info, before.up, after));
    } else {
        log::warning("{}", health::leave_drain_line(info, before.up));
    }
    if (usable_before > 0 && after.active_servers + after.backup_servers == 0) {
        const auto& proxy = backend.config();
        log::alert("{} '{}' has no server available!", proxy.has_frontend() ? "proxy" : "backend",
                   proxy.name);
    }
}

// HAProxy's server_parse_weight_change_request: an absolute weight 0..256, or N% of the
// initial weight. A static algorithm (map-based `balance source`) cannot change weights.
std::string change_weight(BackendRuntime& backend, std::size_t server, std::string_view text) {
    if (text.empty()) {
        return "Require <weight> or <weight%>.\n";
    }
    std::size_t used = 0;
    std::int64_t w = leading_number(text, &used);
    const std::string_view rest = text.substr(used);
    const auto& conf = *backend.server(server).config;
    if (used == 0) {
        return "Empty weight string empty or preceded by garbage";
    }
    if (rest == "%") {
        if (w < 0) {
            return "Relative weight must be positive.\n";
        }
        w = std::min<std::int64_t>(conf.options.weight * std::min<std::int64_t>(w, 25600) / 100,
                                   balance::max_weight);
    } else if (w < 0 || w > balance::max_weight) {
        return "Absolute weight can only be between 0 and 256 inclusive.\n";
    } else if (!rest.empty()) {
        return "Trailing garbage in weight string";
    }
    if (w != 0 && w != conf.options.weight && backend.config().balance == config::Balance::source) {
        return "Backend is using a static LB algorithm and only accepts weights '0%' and "
               "'100%'.\n";
    }
    backend.set_weight(server, static_cast<unsigned>(w));
    const auto view = backend.view(server);
    if (view.admin == balance::AdminState::drain) {
        health::ServerLogInfo info{backend.name(), conf.name, view.backup, w == 0, true};
        log::warning("{} remains in forced drain mode.", server_prefix(info));
    }
    return "";
}

// ---- Commands ---------------------------------------------------------------------------

std::string do_show_info(Context& c) {
    return show_info(c.runtime, c.session.cli);
}

std::optional<std::uint32_t> proxy_id_named(const ProcessRuntime& runtime, std::string_view n) {
    for (const auto& f : runtime.frontends) {
        if (f->config->name == n) {
            return f->config->id;
        }
    }
    for (const auto& b : runtime.backends) {
        if (b->name() == n) {
            return b->config().id;
        }
    }
    return std::nullopt;
}

// show stat [{<iid>|<proxy>} <type> <sid>] [up|no-maint]...; desc, json and typed are not
// supported and ignored (the answer stays CSV).
std::string do_show_stat(Context& c) {
    StatOptions options;
    options.show_addresses = c.session.level != StatsLevel::user;
    options.checks = c.session.checks;
    std::size_t flags_from = 2;
    if (!c.word(2).empty() && !c.word(3).empty() && !c.word(4).empty()) {
        auto id = proxy_id_named(c.runtime, c.word(2));
        if (!id) {
            const auto n = leading_number(c.word(2));
            if (n <= 0) {
                return "No such proxy.\n";
            }
            id = static_cast<std::uint32_t>(n);
        }
        options.filter.proxy_id = id;
        options.filter.types = static_cast<int>(leading_number(c.word(3)));
        options.filter.server_id = leading_number(c.word(4));
        flags_from = 5;
    }
    for (std::size_t i = flags_from; i < c.words.size(); ++i) {
        options.filter.up_only = options.filter.up_only || c.words[i] == "up";
        options.filter.no_maint = options.filter.no_maint || c.words[i] == "no-maint";
    }
    return show_stat(c.runtime, options);
}

std::string do_show_servers_state(Context& c) {
    return show_servers_state(c.runtime, c.word(3), c.session.checks);
}

std::string do_show_backend(Context& c) {
    std::string out = "# name\n";
    for (const auto& b : c.runtime.backends) {
        out.append(b->name()).push_back('\n');
    }
    return out;
}

std::string do_show_proc(Context& c) {
    return show_proc(c.runtime);
}

std::string do_show_version(Context&) {
    return std::string(tierlb::version_string) + "\n";
}

std::string do_show_cli_level(Context& c) {
    return std::string(config::to_string(c.session.level)) + "\n";
}

std::string do_get_weight(Context& c) {
    const Target t = find_target(c.runtime, c.word(2));
    if (!t.error.empty()) {
        return std::string(t.error);
    }
    const auto view = t.backend->view(t.server);
    return std::to_string(view.weight) + " (initial " +
           std::to_string(t.backend->server(t.server).config->options.weight) + ")\n";
}

std::string set_admin_of(Context& c, std::string_view target, balance::AdminState state) {
    const Target t = find_target(c.runtime, target);
    if (!t.error.empty()) {
        return std::string(t.error);
    }
    change_admin(*t.backend, t.server, state);
    return "";
}

std::string do_disable_server(Context& c) {
    return set_admin_of(c, c.word(2), balance::AdminState::maint);
}

std::string do_enable_server(Context& c) {
    return set_admin_of(c, c.word(2), balance::AdminState::ready);
}

std::string do_set_weight(Context& c) {
    const Target t = find_target(c.runtime, c.word(2));
    if (!t.error.empty()) {
        return std::string(t.error);
    }
    return change_weight(*t.backend, t.server, c.word(3));
}

std::string do_set_server(Context& c) {
    const Target t = find_target(c.runtime, c.word(2));
    if (!t.error.empty()) {
        return std::string(t.error);
    }
    if (c.word(3) == "weight") {
        return change_weight(*t.backend, t.server, c.word(4));
    }
    if (c.word(3) != "state") {
        return "usage: set server <backend>/<server> state | weight\n";
    }
    const std::string_view state = c.word(4);
    if (state == "ready" || state == "drain" || state == "maint") {
        change_admin(*t.backend, t.server,
                     state == "ready"   ? balance::AdminState::ready
                     : state == "drain" ? balance::AdminState::drain
                                        : balance::AdminState::maint);
        return "";
    }
    return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n";
}

std::string do_set_accept_balance(Context& c) {
    return set_accept_balance(c.runtime, c.words);
}

std::string do_operator(Context& c) {
    if (c.session.level == StatsLevel::user) {
        return std::string(permission_denied);
    }
    c.session.level = StatsLevel::operator_level;
    return "";
}

std::string do_user(Context& c) {
    c.session.level = StatsLevel::user;
    return "";
}

std::string do_prompt(Context& c) {
    c.session.prompt = !c.session.prompt;
    return "";
}

std::string do_quit(Context& c) {
    c.session.quit = true;
    return "";
}

std::string do_help(Context& c);

// help, prompt and quit have no syntax here: they are always listed last, in this order.
// clang-format off
constexpr std::array<Command, 18> commands{{
    {{"help"}, StatsLevel::user, "", "", do_help},
    {{"prompt"}, StatsLevel::user, "", "", do_prompt},
    {{"quit"}, StatsLevel::user, "", "", do_quit},
    {{"show", "info"}, StatsLevel::user, "show info",
     "report information about the running process", do_show_info},
    {{"show", "stat"}, StatsLevel::user, "show stat [no-maint|up]*",
     "report counters for each proxy and server", do_show_stat},
    {{"show", "servers", "state"}, StatsLevel::user, "show servers state [<backend>]",
     "dump volatile server information (all or for a single backend)", do_show_servers_state},
    {{"show", "backend"}, StatsLevel::user, "show backend",
     "list backends in the current running config", do_show_backend},
    {{"show", "proc"}, StatsLevel::user, "show proc", "show processes status", do_show_proc},
    {{"show", "version"}, StatsLevel::user, "show version", "show version of the current process",
     do_show_version},
    {{"show", "cli", "level"}, StatsLevel::user, "show cli level",
     "display the level of the current CLI session", do_show_cli_level},
    {{"get", "weight"}, StatsLevel::user, "get weight <bk>/<srv>",
     "report a server's current weight", do_get_weight},
    {{"disable", "server"}, StatsLevel::admin, "disable server (DEPRECATED)",
     "disable a server for maintenance (use 'set server' instead)", do_disable_server},
    {{"enable", "server"}, StatsLevel::admin, "enable server  (DEPRECATED)",
     "enable a disabled server (use 'set server' instead)", do_enable_server},
    {{"set", "server"}, StatsLevel::admin, "set server <bk>/<srv> [opts]",
     "change a server's state or weight", do_set_server},
    {{"set", "weight"}, StatsLevel::admin, "set weight <bk>/<srv>  (DEPRECATED)",
     "change a server's weight (use 'set server' instead)", do_set_weight},
    {{"set", "accept-balance"}, StatsLevel::admin, "set accept-balance <fe>/<row> [opts]",
     "change a process's weight or state in an eBPF group", do_set_accept_balance},
    {{"operator"}, StatsLevel::user, "operator",
     "lower the level of the current CLI session to operator", do_operator},
    {{"user"}, StatsLevel::user, "user", "lower the level of the current CLI session to user",
     do_user},
}};
// clang-format on

std::size_t keyword_count(const Command& command) {
    std::size_t n = 0;
    while (n < command.keywords.size() && !command.keywords[n].empty()) {
        ++n;
    }
    return n;
}

bool listed(const Command& command) {
    return !command.syntax.empty();
}

// How many of the command's first keywords equal the first WORDS, up to LIMIT.
std::size_t matching_words(const Command& command, const Words& words, std::size_t limit) {
    std::size_t n = 0;
    while (n < limit && n < keyword_count(command) && n < words.size() &&
           command.keywords[n] == words[n]) {
        ++n;
    }
    return n;
}

const Command* find_command(const Words& words) {
    for (const auto& command : commands) {
        const std::size_t n = keyword_count(command);
        if (matching_words(command, words, n) == n) {
            return &command;
        }
    }
    return nullptr;
}

std::string usage_line(const Command& command) {
    std::string line = "  " + std::string(command.syntax);
    line.resize(std::max<std::size_t>(line.size(), 42), ' ');
    return line + ": " + std::string(command.description) + "\n";
}

// ---- Suggestions for an unknown command ---------------------------------------------------
//
// Words are compared by the transitions between the kinds of characters they are made of
// (each letter, digits, anything else, word start and end), counted in a 32x32 table: two
// spellings of a word differ in few transitions, two different words in many.

using Fingerprint = std::array<std::uint16_t, 32 * 32>;

unsigned char_class(char c) {
    if (c >= 'a' && c <= 'z') {
        return static_cast<unsigned>(c - 'a');
    }
    if (c >= 'A' && c <= 'Z') {
        return static_cast<unsigned>(c - 'A');
    }
    return (c >= '0' && c <= '9') ? 26 : 27;
}

void add_word(Fingerprint& fp, std::string_view word) {
    unsigned previous = 28;  // start of word
    for (char c : word) {
        const unsigned current = char_class(c);
        ++fp[previous * 32 + current];
        previous = current;
    }
    ++fp[previous * 32 + 29];  // end of word
}

int distance(const Fingerprint& a, const Fingerprint& b) {
    int d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        d += std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i]));
    }
    return d;
}

// The closest commands among those that start with the LENGTH words that matched, as HAProxy
// picks them: at most 5, none much worse than the best.
std::vector<const Command*> suggestions(const Words& words, std::size_t length) {
    struct Match {
        const Command* command;
        int distance;
    };
    std::vector<Match> matches;
    for (const auto& command : commands) {
        if (!listed(command) || matching_words(command, words, length) != length) {
            continue;
        }
        Fingerprint typed{}, known{};
        std::size_t total_length = 0;
        for (std::size_t i = length; i < words.size() && i < 5; ++i) {
            add_word(typed, words[i]);
            total_length += words[i].size();
        }
        for (std::size_t i = length; i < keyword_count(command); ++i) {
            add_word(known, command.keywords[i]);
            total_length += command.keywords[i].size();
        }
        const int d = distance(typed, known);
        if (d < static_cast<int>(5 * total_length / 2)) {
            matches.push_back({&command, d});
        }
    }
    std::stable_sort(matches.begin(), matches.end(),
                     [](const Match& a, const Match& b) { return a.distance < b.distance; });
    std::vector<const Command*> out;
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
    for (const auto& command : commands) {
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
    std::vector<const Command*> chosen;
    if (length < words.size() && !words[length].empty()) {
        chosen = suggestions(words, length);
    }
    if (chosen.empty()) {
        for (const auto& command : commands) {
            if (listed(command) && matching_words(command, words, length) == length) {
                chosen.push_back(&command);
            }
        }
    }
    std::vector<std::string> lines;
    for (const Command* command : chosen) {
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

std::string do_help(Context& c) {
    return usage(c.words, true);
}

}  // namespace

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

std::string run_command(ProcessRuntime& runtime, StatsSession& session, std::string_view command) {
    if (!command.empty() && command.back() == '\r') {
        command.remove_suffix(1);
    }
    const Words words = split_words(command);
    const Command* found = find_command(words);
    if (found == nullptr) {
        return usage(words, false);
    }
    if (session.level < found->level) {
        return std::string(permission_denied);
    }
    Context context{runtime, session, words};
    return found->handler(context);
}

std::string_view end_of_answer(const StatsSession& session) {
    if (session.quit) {
        return "";
    }
    return session.prompt ? "\n> " : "\n";
}

std::string execute_line(ProcessRuntime& runtime, StatsSession& session, std::string_view text) {
    std::string buffer(text);
    if (buffer.empty() || buffer.back() != '\n') {
        buffer.push_back('\n');
    }
    std::string out;
    std::string_view rest = buffer;
    while (!session.quit) {
        const std::size_t end = find_command_end(rest);
        if (end == std::string_view::npos) {
            break;
        }
        out += run_command(runtime, session, rest.substr(0, end));
        out += end_of_answer(session);
        rest.remove_prefix(end + 1);
    }
    return out;
}

std::string execute_command(ProcessRuntime& runtime, std::string_view line, StatsLevel level) {
    StatsSession session;
    session.level = level;
    return execute_line(runtime, session, line);
}

}  // namespace tierlb::net
