// After parsing: what depends on the whole configuration. The ssl-default-bind-* globals and
// crt-base/ca-base complete the binds and servers (a global section may come last), ids are
// numbered, and process numbers are resolved (INTERFACE.md section 2).

#include <set>

#include "config/load.hpp"

namespace tierlb::config {

namespace {

std::string with_base(const std::string& base, const std::string& path) {
    if (base.empty() || path.empty() || path.front() == '/') {
        return path;
    }
    return base + "/" + path;
}

void complete_tls(const Global& g, Bind& bind) {
    const TlsOptions& d = g.ssl_default_bind_options;
    if (!bind.tls.min_version) {
        bind.tls.min_version = d.min_version.value_or(TlsVersion::tlsv12);
    }
    if (!bind.tls.max_version) {
        bind.tls.max_version = d.max_version;
    }
    bind.tls.no_tls_tickets = bind.tls.no_tls_tickets || d.no_tls_tickets;
    bind.tls.prefer_client_ciphers = bind.tls.prefer_client_ciphers || d.prefer_client_ciphers;
    if (bind.ciphers.empty()) {
        bind.ciphers = g.ssl_default_bind_ciphers;
    }
    if (bind.ciphersuites.empty()) {
        bind.ciphersuites = g.ssl_default_bind_ciphersuites;
    }
    for (auto& crt : bind.crts) {
        crt = with_base(g.crt_base, crt);
    }
    bind.crt_list = with_base(g.crt_base, bind.crt_list);
}

// HAProxy numbers what has no explicit id with the next id no one else took.
template <typename Item>
void number_items(std::vector<Item>& items) {
    std::set<std::uint32_t> taken;
    for (const auto& item : items) {
        if (item.id != 0) {
            taken.insert(item.id);
        }
    }
    std::uint32_t next = 1;
    for (auto& item : items) {
        if (item.id == 0) {
            while (taken.count(next) != 0) {
                ++next;
            }
            item.id = next++;
        }
    }
}

// The processes a bind asks for before "all" is resolved: its own "process", else its
// section's "bind-process", else process 1.
ProcessSet requested_processes(const Proxy& proxy, const Bind& bind) {
    if (bind.process_option) {
        return *bind.process_option;
    }
    return proxy.bind_process.value_or(ProcessSet::single(1));
}

void resolve_processes(Configuration& config) {
    // Every number named anywhere; "all" means exactly these.
    ProcessSet used;
    auto note = [&used](const ProcessSet& s) {
        if (!s.is_all()) {
            used |= s;
        }
    };
    for (const auto& proxy : config.proxies) {
        for (const auto& bind : proxy.binds) {
            note(requested_processes(proxy, bind));
        }
        if (proxy.binds.empty()) {
            note(proxy.bind_process.value_or(ProcessSet::single(1)));
        }
    }
    for (const auto& s : config.global.stats_sockets) {
        note(s.process);
    }
    for (const auto& s : config.global.stats_http) {
        note(s.process);
    }
    if (used.empty()) {
        used = ProcessSet::single(1);
    }

    for (auto& proxy : config.proxies) {
        proxy.processes = ProcessSet();
        for (auto& bind : proxy.binds) {
            bind.processes = requested_processes(proxy, bind).resolved(used);
            proxy.processes |= bind.processes;
        }
    }
    // A backend runs wherever a frontend sends it traffic; one no frontend uses runs where its
    // bind-process says, else in process 1.
    for (auto& proxy : config.proxies) {
        if (!proxy.has_frontend() || proxy.default_backend.empty()) {
            continue;
        }
        for (auto& backend : config.proxies) {
            if (backend.name == proxy.default_backend && backend.has_backend()) {
                backend.processes |= proxy.processes;
            }
        }
    }
    ProcessSet all_processes;
    for (auto& proxy : config.proxies) {
        if (proxy.processes.empty()) {
            proxy.processes = proxy.bind_process.value_or(ProcessSet::single(1)).resolved(used);
        }
        all_processes |= proxy.processes;
    }
    for (auto& s : config.global.stats_sockets) {
        s.process = s.process.resolved(used);
        all_processes |= s.process;
    }
    for (auto& s : config.global.stats_http) {
        s.process = s.process.resolved(used);
        all_processes |= s.process;
    }
    for (auto& m : config.global.cpu_maps) {
        m.process = m.process.resolved(used);
    }
    config.processes = all_processes.numbers();
}

// A server whose address is an accept-proxy bind of this configuration is one of our
// workers; a TLS one if that bind terminates TLS.
void find_workers(Configuration& config) {
    for (auto& proxy : config.proxies) {
        for (auto& server : proxy.servers) {
            for (const auto& other : config.proxies) {
                for (const auto& bind : other.binds) {
                    if (bind.accept_proxy && bind.address == server.address) {
                        server.role = bind.ssl ? ServerRole::tls_worker : ServerRole::worker;
                    }
                }
            }
        }
    }
}

}  // namespace

void finalize(Configuration& config) {
    std::uint32_t proxy_id = 0;
    for (auto& proxy : config.proxies) {
        proxy.id = ++proxy_id;
        for (auto& bind : proxy.binds) {
            complete_tls(config.global, bind);
        }
        for (auto& server : proxy.servers) {
            server.options.ca_file = with_base(config.global.ca_base, server.options.ca_file);
        }
        number_items(proxy.binds);
        number_items(proxy.servers);
    }
    resolve_processes(config);
    find_workers(config);
}

}  // namespace tierlb::config
