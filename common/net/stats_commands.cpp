#include "common/net/stats_commands.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

#include "common/health/health_log.hpp"
#include "common/log/event_log.hpp"
#include "common/net/stats_nohop.hpp"
#include "common/net/stats_typed.hpp"
#include "tierlb/version.hpp"

namespace tierlb::net {

namespace {

using config::StatsLevel;
using Words = std::vector<std::string>;

using cli::permission_denied;

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

// The output format words of show info and show stat: typed, json (desc, which adds each
// field's description to them in HAProxy, is accepted and ignored).
enum class StatFormat { plain, typed, json };

StatFormat format_from(const Context& c, std::size_t first) {
    StatFormat format = StatFormat::plain;
    for (std::size_t i = first; i < c.words.size(); ++i) {
        if (c.words[i] == "typed") {
            format = StatFormat::typed;
        } else if (c.words[i] == "json") {
            format = StatFormat::json;
        }
    }
    return format;
}

// show info [typed|json] [desc]
std::string do_show_info(Context& c) {
    const std::string info = show_info(c.runtime, c.session.cli);
    switch (format_from(c, 2)) {
        case StatFormat::typed: return info_typed(info, c.runtime.state.number);
        case StatFormat::json: return info_json(info, c.runtime.state.number);
        case StatFormat::plain: break;
    }
    return info;
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

// show stat [{<iid>|<proxy>} <type> <sid>] [typed|json] [desc] [up|no-maint]...
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
    switch (format_from(c, flags_from)) {
        case StatFormat::typed: return stat_typed(stat_lines(c.runtime, options));
        case StatFormat::json: return stat_json(stat_lines(c.runtime, options));
        case StatFormat::plain: break;
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

std::string do_help(Context& c) {
    return cli::help_text(c.words);
}

// What runs each command of cli::commands(), indexed by its CommandId.
// clang-format off
constexpr std::array<Handler, 18> handlers{
    do_help, do_prompt, do_quit, do_show_info, do_show_stat, do_show_servers_state,
    do_show_backend, do_show_proc, do_show_version, do_show_cli_level, do_get_weight,
    do_disable_server, do_enable_server, do_set_server, do_set_weight, do_set_accept_balance,
    do_operator, do_user,
};
// clang-format on
static_assert(static_cast<std::size_t>(cli::CommandId::user_level) + 1 == handlers.size());

}  // namespace

std::string run_command(ProcessRuntime& runtime, StatsSession& session, std::string_view command) {
    const cli::ParsedCommand parsed = cli::parse_command(command, session.level);
    if (!parsed.permitted) {
        return parsed.answer;
    }
    Context context{runtime, session, parsed.words};
    return handlers[static_cast<std::size_t>(parsed.command->id)](context);
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
