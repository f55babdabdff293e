#pragma once
// A process's side of an accept-balance group (no-hop mode, issue [9]): the kernel's eBPF
// program places each new connection on the process whose slot has the fewest connections
// (common/nohop/slot_table.h); this process
//   - puts its listening socket in the group's socket array at its slot, and marks the slot up
//     (the master marks it down when the process dies; a restarted process joins again);
//   - takes a connection off its slot when the connection ends (AcceptGates::leave);
//   - corrects its slot's count every second against what it holds (common/nohop/drift.hpp);
//   - when a reload starts (or it stops softly), becomes its slot's previous generation: its
//     connections stay in the slot's count, so that the process replacing it gets new ones
//     only as its number's total allows, and it declares them in the slot's `retired` (adding
//     those it still accepts, taking off those that end), which the current process adds to
//     what it expects: each process checks its own part, and neither corrects the other's;
//     a reload that fails makes it the current one again;
//   - shows every slot of the group in `show stat`, and changes their weight and state for
//     `set accept-balance` (the table is shared: any process of the group can).
// The slot table is mapped into memory: counting costs an atomic operation, no system call.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "common/net/asio.hpp"
#include "common/net/nohop_handover.hpp"
#include "common/nohop/drift.hpp"

struct tierlb_nohop_table;

namespace tierlb::net {

struct ListenerRuntime;

// A slot's administrative state (slot_table.h's TIERLB_NOHOP_READY, _DRAIN, _MAINT).
inline constexpr std::uint32_t nohop_ready = 0;
inline constexpr std::uint32_t nohop_drain = 1;
inline constexpr std::uint32_t nohop_maint = 2;

// One slot of the group, as `show stat` shows it.
struct NohopSlotView {
    int process = 0;
    std::uint32_t count = 0;
    std::uint32_t weight = 0;
    std::uint32_t admin = nohop_ready;
    bool up = false;
    std::uint64_t selected = 0;
};

class NohopMember {
public:
    // Maps the table and puts LISTEN_FD in the socket array at the handover's slot. PROCESSES
    // are the group's process numbers, slot by slot. The handover's descriptors are closed
    // either way. The error says why the socket could not join.
    static Expected<std::unique_ptr<NohopMember>> join(const NohopHandover& handover, int listen_fd,
                                                       std::vector<int> processes);
    // A member over a table the caller owns and keeps (unit tests): no map, no socket.
    static std::unique_ptr<NohopMember> on_table(tierlb_nohop_table& table, std::uint32_t slot,
                                                 std::vector<int> processes);
    ~NohopMember();
    NohopMember(const NohopMember&) = delete;
    NohopMember& operator=(const NohopMember&) = delete;

    // A connection this process accepted on the group's socket (the program counted it at
    // its SYN): on the listener's thread.
    void connection_started();
    // A connection this process accepted on the group's socket ended: on any thread.
    void connection_ended();

    // A reload started (FOR_GOOD false) or the process stops softly (true): from now on the
    // HELD connections it has, and those it still accepts, are declared retired in its slot.
    // On the listener's thread, with HELD its connections there.
    void supersede(std::uint32_t held, bool for_good);
    // The reload failed: the slot is this process's again (unless it stops).
    void resume();
    bool superseded() const { return superseded_.load(std::memory_order_relaxed); }

    // Every second, on LISTENER's thread: compares the slot's count with what it should be
    // (LISTENER's open connections, its accept queue, and the previous generations'
    // connections) and corrects persistent drift; superseded, checks its own retired part
    // against its open connections instead.
    void start_reconcile(ListenerRuntime& listener);

    std::uint32_t slot() const { return slot_; }
    bool migrates() const { return migrates_; }
    std::vector<NohopSlotView> slots() const;

    // `set accept-balance`: the weight (0..256) or state of PROCESS's slot; false when
    // PROCESS is not in the group.
    bool set_weight(int process, std::uint32_t weight);
    bool set_admin(int process, std::uint32_t admin);

    // Adds DELTA to this process's slot count, never below 0 (drift corrections).
    void adjust(std::int64_t delta);
    // What this process declares retired in its slot (0 unless superseded).
    std::int64_t retired_part() const { return published_.load(std::memory_order_relaxed); }

private:
    NohopMember(tierlb_nohop_table* table, bool mapped, std::uint32_t slot, bool migrates,
                std::vector<int> processes, int sockets_fd = -1)
        : table_(table),
          mapped_(mapped),
          slot_(slot),
          migrates_(migrates),
          processes_(std::move(processes)),
          sockets_fd_(sockets_fd) {}
    std::optional<std::uint32_t> slot_of(int process) const;
    void reconcile_later(ListenerRuntime& listener);
    void reconcile(ListenerRuntime& listener);
    void retire(std::int64_t delta);

    tierlb_nohop_table* table_;
    bool mapped_;  // ours to unmap
    std::uint32_t slot_;
    bool migrates_;
    std::vector<int> processes_;
    int sockets_fd_;  // a pinned group's socket array (slots with a live socket), else -1

    std::atomic<bool> superseded_{false};
    bool stopping_ = false;                   // superseded for good: no resume
    std::atomic<std::int64_t> published_{0};  // this process's part of the slot's retired
    std::unique_ptr<Timer> reconcile_timer_;  // on the listener's thread, as what follows
    nohop::DriftCorrector drift_;             // of the slot's count, while current
    nohop::DriftCorrector own_drift_;         // of published_, while superseded
};

// What the master handed this process for its accept-balance binds (the environment, read
// once and cleared), with the reason some run without eBPF.
struct NohopInheritance {
    NohopHandovers handovers;
    std::string fallback;
};
NohopInheritance take_nohop_inheritance();

// Joins LISTENER, an accept-balance bind whose socket is LISTEN_FD and whose key is KEY, to its
// group with what the master handed over; where it cannot, notes why in its nohop_fallback
// (show info) and, unless the master already warned, logs a warning. ALONE: the process runs
// without a master (--process N); INHERITED is then what it found in bpffs
// (master/nohop_pinned.hpp).
void join_nohop(ListenerRuntime& listener, const std::string& key, int listen_fd,
                const NohopInheritance& inherited, bool alone);

// The connections waiting in a listening TCP socket's accept queue (TCP_INFO), 0 on error.
std::uint32_t accept_queue_length(int listen_fd);

}  // namespace tierlb::net
