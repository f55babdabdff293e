#pragma once
// What the master hands a process for its accept-balance binds (no-hop mode, issue [9]), through
// the environment as the listening sockets are (master/listeners.hpp): for each bind, the two
// map descriptors of its group and the process's slot in it, inherited through exec:
//     TIERLB_NOHOP=KEY=SOCKETS_FD,TABLE_FD,SLOT,MIGRATES;KEY=...
// and, when the master could not set a group up, why (the process runs that bind on plain
// SO_REUSEPORT and says so in `show info`):
//     TIERLB_NOHOP_FALLBACK=REASON

#include <cstdint>
#include <map>
#include <string>

namespace tierlb::net {

inline constexpr const char* nohop_variable = "TIERLB_NOHOP";
inline constexpr const char* nohop_fallback_variable = "TIERLB_NOHOP_FALLBACK";

struct NohopHandover {
    int sockets_fd = -1;     // the REUSEPORT_SOCKARRAY: where the process puts its socket
    int table_fd = -1;       // the slot table (common/nohop/slot_table.h), to map
    std::uint32_t slot = 0;  // this process's slot
    bool migrates = false;   // the program also places a dead process's queued connections
    // A process started alone joined a group pinned in bpffs (master/nohop_pinned.hpp): no
    // master marks a dead process's slot down, so the member keeps the socket array to see
    // which slots have a live socket. Never in the environment.
    bool pinned = false;
};

// KEY (master/listeners.hpp listener_key) -> its handover.
using NohopHandovers = std::map<std::string, NohopHandover>;

std::string encode_nohop(const NohopHandovers& handovers);
// Entries that do not parse are left out (the process then runs them on plain SO_REUSEPORT).
NohopHandovers decode_nohop(const std::string& text);

}  // namespace tierlb::net
