#pragma once
// The eBPF program of one accept-balance group and its two maps (no-hop mode, issue [9]), as the
// master loads them: common/nohop/leastconn.bpf.c, compiled by clang -target bpf at build time
// and embedded in tierlb, loaded with libbpf. Where tierlb was built without clang or libbpf,
// or the kernel refuses the program (no CAP_BPF or CAP_SYS_ADMIN, a kernel older than 5.12),
// load() says why and the bind runs on plain SO_REUSEPORT.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/expected.hpp"

struct tierlb_nohop_table;
struct bpf_object;

namespace tierlb::master {

class NohopProgram {
public:
    // Loads the program, makes its maps and fills the slot table for SLOTS processes (weight
    // 1, ready, none up yet). Attached as SELECT_OR_MIGRATE where the kernel has it (5.14),
    // else as SELECT.
    static Expected<std::unique_ptr<NohopProgram>> load(std::uint32_t slots);
    ~NohopProgram();
    NohopProgram(const NohopProgram&) = delete;
    NohopProgram& operator=(const NohopProgram&) = delete;

    // Makes the program choose the socket for the SO_REUSEPORT group FD belongs to (replacing
    // any program that group had).
    std::optional<std::string> attach(int fd) const;

    // The process of SLOT died: its socket leaves the array, the slot is down and counts
    // only the connections its previous generations still declare (those it had died with it).
    void slot_down(std::uint32_t slot);
    // No previous generation of SLOT's process is left: nothing of its count is retired (what
    // one that was killed declared goes; the current process's check then takes it off).
    void clear_retired(std::uint32_t slot);
    // Empties the socket array (the sockets go to another group), leaving the table as it is.
    void clear_sockets();
    // Puts FD back at SLOT, whose process lives (a reload undone), and marks it up; false
    // when the socket could not be put back.
    bool slot_up(std::uint32_t slot, int fd);

    // The weight of SLOT's process (0..256), as accept-weight or `set accept-balance` set it.
    std::uint32_t weight(std::uint32_t slot) const;
    void set_weight(std::uint32_t slot, std::uint32_t weight);

    int program_fd() const { return program_fd_; }
    int sockets_fd() const { return sockets_fd_; }
    int table_fd() const { return table_fd_; }
    bool migrates() const { return migrates_; }
    std::uint32_t slots() const { return slots_; }
    const tierlb_nohop_table& table() const { return *table_; }

private:
    NohopProgram() = default;

    bpf_object* object_ = nullptr;
    int program_fd_ = -1;
    int sockets_fd_ = -1;
    int table_fd_ = -1;
    bool migrates_ = false;
    std::uint32_t slots_ = 0;
    tierlb_nohop_table* table_ = nullptr;
};

// Stops SO_REUSEPORT group FD belongs to from running any program: plain hashing again.
void detach_nohop_program(int fd);

// The connections queued on the listening socket FD go to the other sockets of its group, as
// the group's program chooses, and FD listens again, empty. For the socket of a process that
// died, with a SELECT_OR_MIGRATE program: its queue is served now rather than at its restart.
// Returns how many connections were queued; the error says what failed.
Expected<std::uint32_t> migrate_queue(int fd);

}  // namespace tierlb::master
