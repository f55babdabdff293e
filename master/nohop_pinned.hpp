#pragma once
// accept-balance for processes started alone (`--process N`, one systemd unit each, say), with
// no master to load the eBPF program and hand its maps over (no-hop mode, issue [9]): the
// processes of a group share the program and its maps through bpffs.
//   - The first process of the group to start loads the program and pins it and its two maps
//     under ROOT/GROUP (ROOT: $TIERLB_BPF_PIN_DIR, else /sys/fs/bpf/tierlb; GROUP names the
//     bind's address and port, its proxy and bind, its processes, and the program tierlb
//     was built with); the others open what is pinned there. A lock on the directory makes
//     processes starting together find one group.
//   - Each attaches the program to its own socket (a SO_REUSEPORT group has one program),
//     starts its slot afresh (no connection, the file's accept-weight, ready: a process
//     alone is the only one of its number, what the slot held was a previous run's) and
//     puts its socket in the array (net::NohopMember::join).
//   - A process that exits or dies closes its socket: the kernel empties its slot in the
//     socket array, so the program skips it and `show stat` says DOWN, and (SELECT_OR_MIGRATE,
//     Linux 5.14) places the connections queued on it on the others. Its restarted self
//     starts the slot afresh. No master is needed for any of it.
//   - The pins outlive the processes, so a later start finds the group again; another build of
//     the program, other processes or another address pin a group of their own.
// Needs a fixed port (with port 0 each process would get a port of its own), bpffs mounted at
// ROOT's parent, and CAP_BPF or CAP_SYS_ADMIN in each process (to load, pin and open pins).

#include <string>

#include "common/expected.hpp"
#include "common/net/nohop_handover.hpp"
#include "config/model.hpp"

namespace tierlb::master {

// Where groups are pinned: $TIERLB_BPF_PIN_DIR, else /sys/fs/bpf/tierlb.
std::string nohop_pin_root();

// Opens, or makes and pins, the group of BIND (in PROXY) for PROCESS, whose listening socket
// LISTEN_FD is then the group's: the program is attached to it and PROCESS's slot starts
// afresh. The handover is for net::join_nohop; the error says why the bind runs on plain
// SO_REUSEPORT instead.
Expected<net::NohopHandover> open_pinned_group(const config::Proxy& proxy, const config::Bind& bind,
                                               int process, int listen_fd);

}  // namespace tierlb::master
