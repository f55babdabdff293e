// "log" targets, shared by the global section and proxy sections:
//   log TARGET [len N] [format F] [FACILITY [MAX_LEVEL [MIN_LEVEL]]]
// TARGET is stdout, stderr, a unix datagram socket path (/dev/log), or a UDP syslog server
// (udp@IP:PORT, or HAProxy's plain IP[:PORT], port 514 by default). The facility is optional
// here (HAProxy requires it), local0 by default.

#include <array>

#include "config/parse_context.hpp"

namespace tierlb::config {

namespace {

constexpr std::array<std::string_view, 24> facilities = {
    "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "auth2",  "ftp",    "ntp",    "audit",  "alert",  "cron2",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};

constexpr std::array<std::string_view, 8> levels = {"emerg",   "alert",  "crit", "err",
                                                    "warning", "notice", "info", "debug"};

constexpr std::array<std::string_view, 8> formats = {"local", "rfc3164", "rfc5424", "priority",
                                                     "short", "timed",   "iso",     "raw"};

template <std::size_t N>
int index_of(const std::array<std::string_view, N>& names, std::string_view word) {
    for (std::size_t i = 0; i < N; ++i) {
        if (names[i] == word) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

// Sets the kind and address of TARGET from its first word; false (reported) when invalid.
bool parse_destination(ParseContext& ctx, const std::string& text, LogTarget& target) {
    target.text = text;
    if (text == "stdout" || text == "stderr") {
        target.kind =
            text == "stdout" ? LogTarget::Kind::stdout_stream : LogTarget::Kind::stderr_stream;
        return true;
    }
    if (text.front() == '/' || text.rfind("unix@", 0) == 0) {
        auto address = parse_address(text, AddressUse::connect);
        if (!address) {
            ctx.error("'log': " + address.error());
            return false;
        }
        target.kind = LogTarget::Kind::unix_datagram;
        target.address = *address;
        return true;
    }
    std::string inet = text.rfind("udp@", 0) == 0 ? text.substr(4) : text;
    if (inet.rfind("udp4@", 0) == 0 || inet.rfind("udp6@", 0) == 0) {
        inet = (inet[3] == '4' ? "ipv4@" : "ipv6@") + inet.substr(5);
    }
    // Syslog's port 514 when none is given: "10.0.0.1" or "[::1]" (IPv6 needs brackets).
    const bool bracketed = !inet.empty() && inet.back() == ']';
    if (bracketed || inet.find(':') == std::string::npos) {
        inet += ":514";
    }
    auto address = parse_address(inet, AddressUse::connect);
    if (!address) {
        ctx.error("'log': unknown target '" + text +
                  "' (expected stdout, stderr, a unix socket path such as /dev/log, or "
                  "udp@IP:PORT): " +
                  address.error());
        return false;
    }
    target.kind = LogTarget::Kind::udp;
    target.address = *address;
    return true;
}

}  // namespace

bool parse_log_target(ParseContext& ctx, std::span<const std::string> args, LogTarget& target) {
    target.where = ctx.where();
    if (args.empty()) {
        ctx.error("'log' expects a target (stdout, stderr, /dev/log or udp@IP:PORT)");
        return false;
    }
    if (!parse_destination(ctx, args[0], target)) {
        return false;
    }
    std::size_t i = 1;
    while (i + 1 < args.size() && (args[i] == "len" || args[i] == "format")) {
        if (args[i] == "len") {
            if (!ctx.parse(
                    "log len", args[i + 1], [](auto v) { return parse_uint(v, 80, 65535); },
                    target.max_length)) {
                return false;
            }
        } else if (index_of(formats, args[i + 1]) < 0) {
            ctx.error("'log': unknown format '" + args[i + 1] +
                      "' (expected local, rfc3164, rfc5424, priority, short, timed, iso or raw)");
            return false;
        } else {
            target.format = args[i + 1];
        }
        i += 2;
    }
    const std::string_view names[] = {"facility", "max level", "min level"};
    for (std::size_t n = 0; i < args.size(); ++i, ++n) {
        if (n >= 3) {
            ctx.error("'log': unexpected word '" + args[i] + "' after the levels");
            return false;
        }
        const int value = n == 0 ? index_of(facilities, args[i]) : index_of(levels, args[i]);
        if (value < 0) {
            ctx.error("'log': unknown " + std::string(names[n]) + " '" + args[i] +
                      (n == 0 ? "' (expected kern, user, daemon, local0 to local7, ...)"
                              : "' (expected emerg, alert, crit, err, warning, notice, info or "
                                "debug)"));
            return false;
        }
        (n == 0 ? target.facility : n == 1 ? target.max_level : target.min_level) = value;
    }
    return true;
}

}  // namespace tierlb::config
