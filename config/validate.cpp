// Checks that need the whole configuration: references between sections, names and ids used
// twice, options that contradict each other, addresses bound twice. Each problem is reported
// at the line that causes it.

#include <algorithm>
#include <map>

#include "config/load.hpp"

namespace tierlb::config {

namespace {

std::string at(const Location& where) {
    return where.file + ":" + std::to_string(where.line);
}

std::string describe(const Proxy& p) {
    return std::string(to_string(p.kind)) + " '" + p.name + "'";
}

// HAProxy's rule: two sections may share a name unless both can act as frontends or both as
// backends (a listen is both).
void check_proxy_names(const Configuration& config, Diagnostics& diag) {
    for (std::size_t i = 0; i < config.proxies.size(); ++i) {
        const Proxy& p = config.proxies[i];
        for (std::size_t j = 0; j < i; ++j) {
            const Proxy& earlier = config.proxies[j];
            if (earlier.name == p.name && ((earlier.has_frontend() && p.has_frontend()) ||
                                           (earlier.has_backend() && p.has_backend()))) {
                diag.error(p.where, describe(p) + " has the same name as the " + describe(earlier) +
                                        " at " + at(earlier.where));
                break;
            }
        }
    }
}

template <typename Item, typename Key>
void check_unique(const std::vector<Item>& items, Key key, const char* what, Diagnostics& diag) {
    for (std::size_t i = 0; i < items.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (key(items[i]) == key(items[j]) && key(items[i]) != decltype(key(items[i])){}) {
                diag.error(items[i].where, std::string(what) + " '" + key(items[i]) +
                                               "' is already used at " + at(items[j].where));
                break;
            }
        }
    }
}

void check_references(const Configuration& config, const Proxy& p, Diagnostics& diag) {
    if (!p.has_frontend()) {
        return;
    }
    if (!p.default_backend.empty()) {
        const Proxy* target = config.find_proxy(p.default_backend);
        const Location& where =
            p.default_backend_where.line > 0 ? p.default_backend_where : p.where;
        if (config.find_backend(p.default_backend) == nullptr) {
            diag.error(where, describe(p) + ": 'default_backend " + p.default_backend + "': " +
                                  (target != nullptr
                                       ? "'" + p.default_backend + "' is a frontend, not a backend"
                                       : "no backend or listen section named '" +
                                             p.default_backend + "'"));
        } else if (p.kind == ProxyKind::listen && !p.servers.empty()) {
            diag.warning(where, describe(p) +
                                    " has servers and a default_backend; its own "
                                    "servers are not used");
        }
    } else if (p.kind == ProxyKind::frontend) {
        diag.error(p.where, describe(p) +
                                " has no 'default_backend': its connections would "
                                "have nowhere to go");
    } else if (p.servers.empty()) {
        diag.warning(p.where, describe(p) + " has no server: its connections will be closed");
    }
    if (p.binds.empty()) {
        diag.warning(p.where, describe(p) + " has no 'bind' line: it will not accept anything");
    }
    if (!p.timeouts.client) {
        diag.warning(p.where, describe(p) +
                                  " has no 'timeout client': idle clients are never "
                                  "closed (long-lived connections usually want one of "
                                  "hours)");
    }
}

void check_server(const Server& s, Diagnostics& diag) {
    const ServerOptions& o = s.options;
    const std::string name = "server '" + s.name + "'";
    if (o.handoff && o.send_proxy != SendProxy::none) {
        diag.error(s.where, name +
                                ": 'handoff' passes the socket itself; it cannot be combined "
                                "with 'send-proxy' (the addresses travel with the socket)");
    }
    if (o.handoff && !s.address.is_unix()) {
        diag.error(s.where, name + ": 'handoff' needs a unix or abns@ address, not '" +
                                s.address_text + "'");
    }
    if (o.handoff && (o.check_ssl || o.check_send_proxy)) {
        diag.error(s.where, name +
                                ": a 'handoff' server is checked over its control "
                                "connection; 'check-ssl' and 'check-send-proxy' do not apply");
    }
    if (o.check_ssl && !o.check) {
        diag.warning(s.where, name + ": 'check-ssl' has no effect without 'check'");
    }
    if (o.verify_required && o.ca_file.empty()) {
        diag.error(s.where, name + ": 'verify required' needs 'ca-file FILE' to verify against");
    }
}

// "2-5", "2,4,6-7": a set of process numbers as `process` takes it.
std::string process_text(const std::vector<int>& numbers) {
    std::string text;
    for (std::size_t i = 0; i < numbers.size();) {
        std::size_t j = i;
        while (j + 1 < numbers.size() && numbers[j + 1] == numbers[j] + 1) {
            ++j;
        }
        text += (text.empty() ? "" : ",") + std::to_string(numbers[i]) +
                (j > i ? "-" + std::to_string(numbers[j]) : "");
        i = j + 1;
    }
    return text;
}

// accept-weight: only with accept-balance leastconn (it weighs the group's processes), and
// only for the bind's own processes (a number outside them is a mistake, not a no-op).
void check_accept_weights(const Bind& b, const std::string& name, Diagnostics& diag) {
    if (b.accept_weights.empty()) {
        return;
    }
    if (!b.accept_balance_leastconn) {
        diag.error(b.where, name +
                                ": 'accept-weight' needs 'accept-balance leastconn' (it weighs "
                                "the processes of the bind's eBPF group)");
        return;
    }
    const std::vector<int> mine = b.processes.numbers();
    for (const auto& w : b.accept_weights) {
        std::vector<int> outside;
        bool names_one = false;
        for (int p : w.processes.numbers()) {
            const bool in_bind = b.processes.contains(p);
            names_one = names_one || in_bind;
            if (!in_bind) {
                outside.push_back(p);
            }
        }
        if (w.processes.is_all()) {
            continue;
        }
        if (!w.relative && !outside.empty()) {
            diag.error(b.where, name + ": 'accept-weight " + w.text + "': process" +
                                    (outside.size() > 1 ? "es " : " ") + process_text(outside) +
                                    (outside.size() > 1 ? " are" : " is") +
                                    " not among the bind's processes (" + process_text(mine) + ")");
        } else if (w.relative && !names_one) {
            diag.error(b.where, name + ": 'accept-weight " + w.text +
                                    "': none of the bind's processes (" + process_text(mine) +
                                    ") is " + w.text.substr(0, w.text.rfind(':')));
        }
    }
}

void check_bind(const Bind& b, Diagnostics& diag) {
    const std::string name = "bind '" + b.address_text + "'";
    const bool has_certificate = !b.crts.empty() || !b.crt_list.empty();
    if (b.ssl && !has_certificate) {
        diag.error(b.where,
                   name + ": 'ssl' needs a certificate: add 'crt FILE' or 'crt-list FILE'");
    }
    if (!b.ssl && (has_certificate || !b.alpn.empty())) {
        diag.warning(b.where, name + ": 'crt', 'crt-list' and 'alpn' are ignored without 'ssl'");
    }
    if (b.tls.min_version && b.tls.max_version && *b.tls.min_version > *b.tls.max_version) {
        diag.error(b.where, name + ": 'ssl-min-ver' is above 'ssl-max-ver'");
    }
    if (b.accept_handoff && !b.address.is_unix()) {
        diag.error(b.where, name + ": 'accept-handoff' needs a unix or abns@ address");
    }
    if (b.defer_accept && !b.address.is_inet()) {
        diag.warning(b.where, name + ": 'defer-accept' applies to TCP addresses only: ignored");
    }
    if (b.accept_handoff && b.accept_proxy) {
        diag.error(b.where, name +
                                ": 'accept-handoff' and 'accept-proxy' conflict: a handed-off "
                                "socket comes with its addresses, not a PROXY header");
    }
    const bool names_owner = !b.user.empty() || !b.group.empty() || b.uid || b.gid;
    if (!b.address.is_unix() && (b.mode || names_owner)) {
        diag.error(b.where, name +
                                ": 'mode', 'user', 'group', 'uid' and 'gid' apply to unix "
                                "sockets only");
    }
    if ((!b.user.empty() && b.uid) || (!b.group.empty() && b.gid)) {
        diag.error(b.where, name +
                                ": 'user' and 'uid' (or 'group' and 'gid') name the same "
                                "thing: give one");
    }
    if (b.accept_balance_leastconn && b.address.is_unix()) {
        diag.error(b.where, name +
                                ": 'accept-balance' needs a TCP address shared by several "
                                "processes");
    } else if (b.accept_balance_leastconn && b.processes.count() < 2) {
        diag.warning(b.where, name +
                                  ": 'accept-balance' has no effect on a listener of one "
                                  "process");
    }
    check_accept_weights(b, name, diag);
    if (b.address.is_unix() && b.processes.count() > 1) {
        diag.error(b.where, name +
                                ": a unix or abns@ socket cannot be shared by several "
                                "processes; give each process its own name");
    }
}

// One address, one listener per process: a second bind line on the same address in the same
// process would fail at start-up. (The same TCP address in different processes is a
// SO_REUSEPORT group; a unix name can only have one owner.)
void check_bound_twice(const Configuration& config, Diagnostics& diag) {
    std::vector<const Bind*> seen;
    for (const auto& p : config.proxies) {
        for (const auto& b : p.binds) {
            for (const auto& earlier : seen) {
                const bool same_owner_needed = b.address.is_unix();
                const bool overlap = (earlier->processes.mask() & b.processes.mask()) != 0;
                const bool kernel_picks_port = b.address.is_inet() && b.address.port() == 0;
                if (earlier->address == b.address && !kernel_picks_port &&
                    (overlap || same_owner_needed)) {
                    diag.error(b.where, "address '" + b.address_text + "' is already bound at " +
                                            at(earlier->where) +
                                            (same_owner_needed ? "" : " in the same process"));
                    break;
                }
            }
            seen.push_back(&b);
        }
    }
}

}  // namespace

// A TLS frontend's sockets carry OpenSSL's state: they cannot be handed to another process.
void check_handoff_frontends(const Configuration& config, const Proxy& p, Diagnostics& diag) {
    const bool terminates_tls =
        std::any_of(p.binds.begin(), p.binds.end(), [](const Bind& b) { return b.ssl; });
    const Proxy* backend = p.has_frontend() ? config.backend_of(p) : nullptr;
    if (!terminates_tls || backend == nullptr) {
        return;
    }
    for (const auto& s : backend->servers) {
        if (s.options.handoff) {
            diag.error(s.where, "server '" + s.name + "': 'handoff' in a backend of " +
                                    describe(p) +
                                    ", which terminates TLS: a TLS connection cannot be handed "
                                    "to another process");
        }
    }
}

void validate(const Configuration& config, Diagnostics& diag) {
    check_proxy_names(config, diag);
    check_bound_twice(config, diag);
    for (const auto& p : config.proxies) {
        check_references(config, p, diag);
        check_handoff_frontends(config, p, diag);
        check_unique(
            p.servers, [](const Server& s) { return s.name; }, "server name", diag);
        check_unique(
            p.servers, [](const Server& s) { return std::to_string(s.id); }, "server id", diag);
        check_unique(
            p.binds, [](const Bind& b) { return std::to_string(b.id); }, "bind id", diag);
        check_unique(
            p.binds, [](const Bind& b) { return b.name; }, "bind name", diag);
        for (const auto& s : p.servers) {
            check_server(s, diag);
        }
        for (const auto& b : p.binds) {
            check_bind(b, diag);
        }
    }
}

}  // namespace tierlb::config
