#include "master/nohop_groups.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "common/log/event_log.hpp"
#include "common/net/socket_ops.hpp"
#include "common/nohop/slot_table.h"

namespace tierlb::master {

namespace {

std::string where(const config::Proxy& proxy, const config::Bind& bind) {
    return "proxy '" + proxy.name + "', bind '" + bind.address_text + "' (" + bind.where.file +
           ":" + std::to_string(bind.where.line) + ")";
}

// The master's socket for each process of BIND, in slot order; fewer when some is missing.
std::vector<int> sockets_of(const std::string& key, const std::vector<int>& processes,
                            const std::vector<OpenListener>& listeners) {
    std::vector<int> fds;
    for (int process : processes) {
        for (const auto& l : listeners) {
            if (l.key == key && l.process == process) {
                fds.push_back(l.fd);
            }
        }
    }
    return fds;
}

bool uses(const std::vector<NohopGroup>& groups, int fd) {
    return std::any_of(groups.begin(), groups.end(), [fd](const NohopGroup& g) {
        return std::find(g.fds.begin(), g.fds.end(), fd) != g.fds.end();
    });
}

// A reload keeps GROUP: the weights the file now gives its processes (CONFIGURED) apply where
// they differ from the ones it gave before; elsewhere the weight stays as it is, set at run time
// or not. What is overwritten is kept in GROUP.undo, for a reload that fails.
void reweigh(NohopGroup& group, const std::vector<std::uint32_t>& configured) {
    group.undo.clear();
    for (std::uint32_t slot = 0; slot < configured.size(); ++slot) {
        if (configured[slot] == group.weights[slot]) {
            continue;
        }
        group.undo.push_back({slot, group.program->weight(slot), group.weights[slot]});
        group.program->set_weight(slot, configured[slot]);
        log::notice("{}: reload: process {}'s accept-weight is {} (it was {})", group.name,
                    group.processes[slot], configured[slot], group.weights[slot]);
    }
    group.weights = configured;
}

}  // namespace

Expected<PortReservation> PortReservation::take(const SocketAddress& address) {
    const int fd = ::socket(address.domain(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return unexpected(address.to_string() +
                          ": cannot create a socket: " + net::errno_text(errno));
    }
    // As the listening sockets have them, or they could not share the port.
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (::bind(fd, address.native(), address.length()) != 0) {
        const int error = errno;
        ::close(fd);
        return unexpected(address.to_string() + ": " + net::errno_text(error));
    }
    return PortReservation(fd, net::local_address(fd));
}

PortReservation::~PortReservation() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

std::vector<NohopGroup> NohopGroups::build(const config::Configuration& config,
                                           const std::vector<OpenListener>& listeners,
                                           std::vector<NohopGroup>& reusable) {
    std::vector<NohopGroup> built;
    std::string failed;
    std::string reason;
    for (const auto& proxy : config.proxies) {
        for (const auto& bind : proxy.binds) {
            if (!bind.accept_balance_leastconn || bind.processes.count() < 2) {
                continue;
            }
            NohopGroup group;
            group.key = listener_key(proxy, bind);
            group.name = where(proxy, bind);
            group.processes = bind.processes.numbers();
            group.fds = sockets_of(group.key, group.processes, listeners);
            if (group.fds.size() != group.processes.size()) {
                continue;
            }
            for (int process : group.processes) {
                group.weights.push_back(bind.accept_weight_of(process));
            }
            const auto same = std::find_if(reusable.begin(), reusable.end(), [&](auto& g) {
                return g.key == group.key && g.processes == group.processes && g.fds == group.fds;
            });
            if (same != reusable.end()) {
                reweigh(*same, group.weights);
                built.push_back(std::move(*same));
                reusable.erase(same);
                continue;
            }
            auto program = NohopProgram::load(static_cast<std::uint32_t>(group.fds.size()));
            auto error = program ? (*program)->attach(group.fds[0]) : program.error();
            if (error) {
                failed += (failed.empty() ? "" : "; ") + where(proxy, bind);
                reason = reason.empty() ? *error : reason;
                continue;
            }
            log::notice(
                "{}: accept-balance leastconn: the kernel places each connection on the "
                "process with the fewest (eBPF{})",
                where(proxy, bind),
                (*program)->migrates() ? ""
                                       : "; this kernel cannot migrate a dead process's queue");
            group.program = std::move(*program);
            for (std::uint32_t slot = 0; slot < group.weights.size(); ++slot) {
                group.program->set_weight(slot, group.weights[slot]);
            }
            built.push_back(std::move(group));
        }
    }
    fallback_ = reason;
    if (!failed.empty()) {
        log::warning(
            "accept-balance leastconn: {}. {} will run on plain SO_REUSEPORT: the kernel picks "
            "the process of each connection by hashing its addresses",
            reason, failed);
    }
    return built;
}

void NohopGroups::open(const config::Configuration& config,
                       const std::vector<OpenListener>& listeners) {
    std::vector<NohopGroup> none;
    groups_ = build(config, listeners, none);
}

net::NohopHandovers NohopGroups::handovers(int process, std::vector<int>& fds) const {
    net::NohopHandovers out;
    for (const auto& g : groups_) {
        for (std::size_t slot = 0; slot < g.processes.size(); ++slot) {
            if (g.processes[slot] != process) {
                continue;
            }
            out[g.key] = {g.program->sockets_fd(), g.program->table_fd(),
                          static_cast<std::uint32_t>(slot), g.program->migrates()};
            fds.push_back(g.program->sockets_fd());
            fds.push_back(g.program->table_fd());
        }
    }
    return out;
}

void NohopGroups::process_down(int process, bool shared) {
    for (auto& g : groups_) {
        for (std::size_t slot = 0; slot < g.processes.size(); ++slot) {
            if (g.processes[slot] != process) {
                continue;
            }
            g.program->slot_down(static_cast<std::uint32_t>(slot));
            if (shared || !g.program->migrates()) {
                continue;  // its queue waits for the process that accepts on its socket
            }
            const auto moved = migrate_queue(g.fds[slot]);
            if (!moved) {
                log::alert(
                    "{}: process {} is gone, its queued connections could not be moved: "
                    "{}",
                    g.name, process, moved.error());
            } else if (*moved > 0) {
                log::notice(
                    "{}: process {} is gone, {} connections queued for it went to the "
                    "other processes",
                    g.name, process, *moved);
            }
        }
    }
}

void NohopGroups::generation_gone(int process) {
    for (auto* groups : {&groups_, &previous_}) {
        for (auto& g : *groups) {
            for (std::size_t slot = 0; slot < g.processes.size(); ++slot) {
                if (g.processes[slot] == process) {
                    g.program->clear_retired(static_cast<std::uint32_t>(slot));
                }
            }
        }
    }
}

void NohopGroups::begin_reload(const config::Configuration& config,
                               const std::vector<OpenListener>& listeners) {
    previous_ = std::move(groups_);
    previous_fallback_ = fallback_;
    std::vector<const NohopProgram*> before;
    for (const auto& p : previous_) {
        before.push_back(p.program.get());
    }
    groups_ = build(config, listeners, previous_);  // takes the groups it keeps from previous_
    fresh_.clear();
    for (const auto& g : groups_) {
        if (std::find(before.begin(), before.end(), g.program.get()) == before.end()) {
            fresh_.push_back(g.program.get());
        }
    }
    // A group that goes lets go of its sockets, so that the new processes can put them in
    // their new group's array (a socket is in one array at most); a socket that no group
    // takes goes back to hashing.
    for (auto& p : previous_) {
        p.program->clear_sockets();
        for (int fd : p.fds) {
            if (!uses(groups_, fd)) {
                detach_nohop_program(fd);
            }
        }
    }
}

void NohopGroups::commit_reload() {
    previous_.clear();
    fresh_.clear();
    for (auto& g : groups_) {
        g.undo.clear();
    }
}

void NohopGroups::abort_reload(const std::vector<int>& live) {
    // The groups the reload made go; those it kept stay, with the weights they had.
    std::erase_if(groups_, [this](NohopGroup& g) {
        const bool made = std::find(fresh_.begin(), fresh_.end(), g.program.get()) != fresh_.end();
        if (made) {
            g.program->clear_sockets();
        }
        for (const auto& u : g.undo) {
            g.program->set_weight(u.slot, u.weight);
            g.weights[u.slot] = u.configured;
        }
        g.undo.clear();
        return made;
    });
    for (auto& p : previous_) {
        if (auto error = p.program->attach(p.fds[0])) {
            log::alert("{}: {}", p.name, *error);
        }
        groups_.push_back(std::move(p));
    }
    // Every group is the previous processes' again: each that lives has its socket in the
    // array and its slot up (a new process that failed to start marked a kept group's slot
    // down); the slot of one that died meanwhile stays down until its restart joins.
    for (auto& g : groups_) {
        for (std::uint32_t slot = 0; slot < g.processes.size(); ++slot) {
            if (std::find(live.begin(), live.end(), g.processes[slot]) == live.end()) {
                g.program->slot_down(slot);
            } else if (!g.program->slot_up(slot, g.fds[slot])) {
                log::alert("{}: process {}'s socket could not rejoin the group", g.name,
                           g.processes[slot]);
            }
        }
    }
    previous_.clear();
    fresh_.clear();
    fallback_ = previous_fallback_;
}

}  // namespace tierlb::master
