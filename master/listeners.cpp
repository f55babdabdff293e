#include "master/listeners.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>

#include "common/log/event_log.hpp"
#include "common/net/socket_ops.hpp"
#include "master/nohop_groups.hpp"

namespace tierlb::master {

std::string listener_key(const config::Proxy& proxy, const config::Bind& bind) {
    return proxy.name + "/" + std::to_string(bind.id);
}

namespace {

// HAProxy: the bind's backlog, else the frontend's maxconn, else the global one.
int backlog_of(const config::Configuration& config, const config::Proxy& proxy,
               const config::Bind& bind) {
    if (bind.backlog) {
        return static_cast<int>(*bind.backlog);
    }
    std::uint32_t value = proxy.maxconn != 0 ? proxy.maxconn : config.global.maxconn.value_or(0);
    if (value == 0) {
        value = 1024;
    }
    return static_cast<int>(std::min<std::uint32_t>(value, 65535));
}

Expected<net::ListenOptions> options_of(const config::Configuration& config,
                                        const config::Proxy& proxy, const config::Bind& bind) {
    net::ListenOptions o;
    o.backlog = backlog_of(config, proxy, bind);
    o.reuse_port = bind.processes.count() > 1;
    // Hand-off control connections keep each message whole with its descriptor.
    o.type = bind.accept_handoff ? SOCK_SEQPACKET : SOCK_STREAM;
    o.mode = bind.mode;
    o.owner = bind.uid;
    o.group = bind.gid;
    if (!bind.user.empty()) {
        const passwd* pw = ::getpwnam(bind.user.c_str());
        if (pw == nullptr) {
            return unexpected("unknown user '" + bind.user + "'");
        }
        o.owner = pw->pw_uid;
    }
    if (!bind.group.empty()) {
        const group* gr = ::getgrnam(bind.group.c_str());
        if (gr == nullptr) {
            return unexpected("unknown group '" + bind.group + "'");
        }
        o.group = gr->gr_gid;
    }
    return o;
}

}  // namespace

Expected<std::vector<OpenListener>> open_listeners(const config::Configuration& config, int process,
                                                   const std::vector<OpenListener>* held) {
    std::vector<OpenListener> opened;
    std::vector<int> new_fds;  // ours to close on failure (held ones belong to the caller)
    auto close_new = [&new_fds] {
        for (int fd : new_fds) {
            ::close(fd);
        }
    };
    for (const auto& proxy : config.proxies) {
        for (const auto& bind : proxy.binds) {
            auto where = [&] {
                return "proxy '" + proxy.name + "', bind '" + bind.address_text + "' (" +
                       bind.where.file + ":" + std::to_string(bind.where.line) + "): ";
            };
            auto options = options_of(config, proxy, bind);
            if (!options) {
                close_new();
                return unexpected(where() + options.error());
            }
            // A group of processes sharing a port 0 must share the port the first one got.
            SocketAddress address = bind.address;
            std::optional<PortReservation> reserved;  // accept-balance on port 0
            for (int p : bind.processes.numbers()) {
                if (process != 0 && p != process) {
                    continue;
                }
                const OpenListener* kept = nullptr;
                static const std::vector<OpenListener> none;
                for (const auto& h : held != nullptr ? *held : none) {  // an lvalue: no copy
                    if (h.configured == bind.address && h.process == p && h.type == options->type) {
                        kept = &h;
                    }
                }
                int fd = kept != nullptr ? kept->fd : -1;
                if (kept == nullptr && bind.accept_balance_leastconn && address.is_inet() &&
                    address.port() == 0 && bind.processes.count() > 1) {
                    auto port = PortReservation::take(address);
                    if (!port) {
                        close_new();
                        return unexpected(where() + "cannot bind: " + port.error());
                    }
                    reserved.emplace(std::move(*port));
                    address = reserved->address();
                }
                if (kept == nullptr) {
                    auto bound = net::open_listener(address, *options);
                    if (!bound) {
                        close_new();
                        return unexpected(where() + "cannot bind: " + bound.error());
                    }
                    fd = *bound;
                    new_fds.push_back(fd);
                }
                // On a kept listener too: a reload may add or remove the keyword.
                if (address.is_inet()) {
                    if (const int error = net::set_defer_accept(fd, bind.defer_accept)) {
                        close_new();
                        return unexpected(where() + "defer-accept: " + net::errno_text(error));
                    }
                }
                OpenListener l{listener_key(proxy, bind),
                               p,
                               fd,
                               net::local_address(fd),
                               bind.address,
                               options->type};
                if (address.is_inet() && address.port() == 0) {
                    address = l.bound;
                }
                log::notice("proxy {}: bind {} ({}:{}) listening on {} for process {}", proxy.name,
                            bind.address_text, bind.where.file, bind.where.line,
                            l.bound.to_string(), p);
                opened.push_back(std::move(l));
            }
        }
    }
    return opened;
}

std::string encode_handover(const std::vector<OpenListener>& listeners, int process) {
    std::string text;
    for (const auto& l : listeners) {
        if (l.process == process) {
            text += (text.empty() ? "" : ";") + l.key + "=" + std::to_string(l.fd);
        }
    }
    return text;
}

std::map<std::string, int> decode_handover(const std::string& text) {
    std::map<std::string, int> fds;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find(';', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        const std::string item = text.substr(start, end - start);
        const auto eq = item.rfind('=');
        if (eq != std::string::npos) {
            fds[item.substr(0, eq)] = std::atoi(item.c_str() + eq + 1);
        }
        start = end + 1;
    }
    return fds;
}

}  // namespace tierlb::master
