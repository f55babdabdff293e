#pragma once
// The few bpf(2) map operations accept-balance needs once its maps exist (no-hop mode, issue
// [9]), as system calls of their own: the processes use them without libbpf, which only the
// master links to load the program (master/nohop_program.hpp).

#include <cstdint>
#include <optional>
#include <string>

struct tierlb_nohop_table;

namespace tierlb::net {

// Puts SOCKET_FD's listening socket at SLOT of the REUSEPORT_SOCKARRAY MAP_FD, or finds it
// there already (a socket is in one array slot at most: the process a reload replaces put the
// same socket). The error says why not.
std::optional<std::string> register_socket(int map_fd, std::uint32_t slot, int socket_fd);

// Empties SLOT of the socket array; false when it was empty already or on error.
bool remove_socket(int map_fd, std::uint32_t slot);

// The slot table of TABLE_FD (a BPF_F_MMAPABLE array of one tierlb_nohop_table), mapped
// shared and writable; nullptr with errno set on failure. Unmapped by unmap_table.
tierlb_nohop_table* map_table(int table_fd);
void unmap_table(tierlb_nohop_table* table);

}  // namespace tierlb::net
