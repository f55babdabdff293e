#pragma once
// The master's accept-balance groups (no-hop mode, issue [9]): for each `bind ... process N-M
// accept-balance leastconn`, the eBPF program and maps of its SO_REUSEPORT group
// (nohop_program.hpp), attached to the sockets the master holds for the bind's processes.
//   - Each process inherits its group's map descriptors (nohop_handover.hpp) and puts its own
//     socket in the array once it listens (common/net/nohop_member.hpp).
//   - When a process dies, its slot goes down (no new connection is placed on it, its count
//     is 0) and, where the kernel migrates (SELECT_OR_MIGRATE), the connections waiting in its
//     socket's queue go to the other processes at once; its restarted self joins again.
//   - Where the program cannot be loaded or attached, one warning names the binds and why,
//     and they run on plain SO_REUSEPORT (the processes say so in `show info`).
//   - After a reload, the previous generation's connections stay in their slot's count, so
//     that leastconn counts every connection of a process number (common/net/nohop_member.hpp).
//   - A group starts with the weights of the bind's accept-weight (1 for the other processes).
//   - A reload keeps a group whose bind keeps the same sockets and processes (counts, weights
//     and states go on, except a weight accept-weight changed in the file: the new one applies);
//     a bind that changes gets a new group, the old one is kept until the new processes are
//     ready, and comes back if the reload fails (a kept group's weights too).

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/net/nohop_handover.hpp"
#include "config/model.hpp"
#include "master/listeners.hpp"
#include "master/nohop_program.hpp"

namespace tierlb::master {

// A TCP port taken for a while by a bound socket that does not listen (SO_REUSEPORT): the
// sockets of an accept-balance group on port 0 are bound to the port it got, not to 0, so
// that the kernel keeps the port of one of them when it stops listening and listens again
// (migrate_queue). The port is free for them, and for nobody else, until this goes.
class PortReservation {
public:
    static Expected<PortReservation> take(const SocketAddress& address);
    PortReservation(PortReservation&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)), address_(other.address_) {}
    PortReservation& operator=(PortReservation&&) = delete;
    ~PortReservation();

    const SocketAddress& address() const { return address_; }  // with the port

private:
    PortReservation(int fd, SocketAddress address) : fd_(fd), address_(address) {}
    int fd_;
    SocketAddress address_;
};

struct NohopGroup {
    std::string key;             // the bind's listener_key()
    std::string name;            // "proxy 'web', bind ':443' (FILE:LINE)"
    std::vector<int> processes;  // slot by slot
    std::vector<int> fds;        // the master's socket of each slot
    std::unique_ptr<NohopProgram> program;
    std::vector<std::uint32_t> weights;  // accept-weight's, slot by slot
    // During a reload that keeps the group: the slots whose accept-weight it changed, with
    // the weight each had before (run-time changes included) and the configured one.
    struct Undo {
        std::uint32_t slot;
        std::uint32_t weight;
        std::uint32_t configured;
    };
    std::vector<Undo> undo;
};

class NohopGroups {
public:
    // Sets up a group for each accept-balance bind of CONFIG whose sockets LISTENERS hold.
    void open(const config::Configuration& config, const std::vector<OpenListener>& listeners);

    // What process PROCESS inherits: its handovers, the reason its accept-balance binds run
    // without eBPF (empty if none), and the descriptors to keep open across exec.
    net::NohopHandovers handovers(int process, std::vector<int>& fds) const;
    const std::string& fallback() const { return fallback_; }

    // Process PROCESS died. SHARED: another live process still accepts on its sockets (the
    // one it replaces, during a reload), so they must keep their queues.
    void process_down(int process, bool shared);

    // The last process of a previous generation of number PROCESS is gone (its connections
    // ended, or it was killed with some): no connection of PROCESS's slots is retired.
    void generation_gone(int process);

    // A reload with CONFIG and LISTENERS (already opened, sharing the sockets that are kept).
    void begin_reload(const config::Configuration& config,
                      const std::vector<OpenListener>& listeners);
    // The new processes are ready: the groups of the previous configuration go.
    void commit_reload();
    // The reload failed: the new groups go, the previous ones take their sockets back; the
    // slots of the previous processes that LIVE (process numbers) are up, the others down.
    void abort_reload(const std::vector<int>& live);

private:
    // A new group per accept-balance bind of CONFIG, or the one of GROUPS that fits; the
    // binds that cannot have one are logged and named in fallback_.
    std::vector<NohopGroup> build(const config::Configuration& config,
                                  const std::vector<OpenListener>& listeners,
                                  std::vector<NohopGroup>& reusable);

    std::vector<NohopGroup> groups_;
    std::vector<NohopGroup> previous_;        // during a reload: the groups it replaces
    std::vector<const NohopProgram*> fresh_;  // during a reload: the groups it made
    std::string fallback_;                    // why some binds run on plain SO_REUSEPORT
    std::string previous_fallback_;
};

}  // namespace tierlb::master
