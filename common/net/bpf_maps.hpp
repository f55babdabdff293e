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
// Whether SLOT of the socket array holds a socket (the kernel empties the slot of a socket
// that closes, so: whether a live process listens there); true when the lookup fails
// otherwise than by finding the slot empty.
bool socket_present(int map_fd, std::uint32_t slot);

// bpffs: pins the map or program FD at PATH (an error says why not), and opens the object
// pinned at PATH (-1 with errno set).
std::optional<std::string> pin_object(int fd, const std::string& path);
int open_pinned(const std::string& path);

// The slot table of TABLE_FD (a BPF_F_MMAPABLE array of one tierlb_nohop_table), mapped
// shared and writable; nullptr with errno set on failure. Unmapped by unmap_table.
tierlb_nohop_table* map_table(int table_fd);
void unmap_table(tierlb_nohop_table* table);

}  // namespace tierlb::net
