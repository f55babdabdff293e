/* accept-balance leastconn (no-hop mode, issue [9]): an SK_REUSEPORT program attached to the
 * SO_REUSEPORT group of a `bind ... process N-M accept-balance leastconn`. For each new
 * connection the kernel runs it to choose the listening socket, i.e. the process: it picks the
 * slot with the fewest connections for its weight (slot_table.h), selects that process's
 * socket from the socket array, and counts the connection in the slot. The processes take
 * their own connections off as they end. Built by clang -target bpf, loaded by the master.
 *
 * Attached as BPF_SK_REUSEPORT_SELECT_OR_MIGRATE where the kernel has it (5.14): the same
 * choice then also places the connections waiting in the queue of a socket that stops
 * listening (md->migrating_sk is set), which the master does when a process dies. */
#include <linux/bpf.h>
#include <linux/tcp.h>
/* After linux/bpf.h, whose types the helpers' declarations use. */
#include <bpf/bpf_helpers.h>

#include "common/nohop/slot_table.h"

/* Slot i -> the listening socket of the group's i-th process; the processes fill it. */
struct {
    __uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
    __uint(max_entries, TIERLB_NOHOP_MAX_SLOTS);
    __type(key, __u32);
    __type(value, __u64);
} tierlb_sockets SEC(".maps");

/* The slot table, mapped into the master's and the processes' memory. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, struct tierlb_nohop_table);
} tierlb_table SEC(".maps");

/* Tries per connection: a slot whose socket is missing (its process just died) or whose count
 * another CPU changed meanwhile makes us pick again. */
#define TRIES 4

/* Whether the packet the kernel asks about opens a connection, which the slot then counts: a
 * SYN. The listener is looked up for other segments too (an ACK or RST that found no
 * connection, after a mass close for instance): they are placed the same way, but counted
 * they would be connections that never come. A queued connection being migrated comes with
 * no packet at all, and is one. (With SYN cookies the connection is made at the ACK: not
 * counted here, the process's correction adds it.) */
static __always_inline int opens_connection(const struct sk_reuseport_md* md) {
    const struct tcphdr* tcp = (const void*)(long)md->data;
    if ((const void*)(tcp + 1) > (const void*)(long)md->data_end) {
        return 1;
    }
    return tcp->syn && !tcp->ack;
}

SEC("sk_reuseport/migrate")
int tierlb_leastconn(struct sk_reuseport_md* md) {
    __u32 zero = 0;
    struct tierlb_nohop_table* table = bpf_map_lookup_elem(&tierlb_table, &zero);
    __u64 skip = 0;
    int selected = -1;
    int try;
    if (!table) {
        return SK_PASS;
    }
    const int counted = opens_connection(md);
    /* A random start spreads equal keys over the slots. */
    __u32 start = bpf_get_prandom_u32();
    for (try = 0; try < TRIES; try++) {
        __u32 seen = 0;
        int slot = tierlb_nohop_pick(table, start, skip, &seen);
        __u32 key;
        if (slot < 0 || slot >= TIERLB_NOHOP_MAX_SLOTS) {
            break;
        }
        key = slot;
        if (bpf_sk_select_reuseport(md, &tierlb_sockets, &key, 0) != 0) {
            skip |= 1ULL << slot; /* no socket there (yet): never this slot again */
            continue;
        }
        selected = slot;
        if (!counted) {
            return SK_PASS;
        }
        /* Count it only if nobody else did in between, so that two connections arriving
         * together on two CPUs do not both take the same least-loaded slot. */
        if (__sync_val_compare_and_swap(&table->slot[slot].count, seen, seen + 1) == seen) {
            __sync_fetch_and_add(&table->slot[slot].selected, 1);
            return SK_PASS;
        }
    }
    if (selected >= 0 && selected < TIERLB_NOHOP_MAX_SLOTS) {
        /* Raced on every try: keep the last socket selected and count it there anyway. */
        __sync_fetch_and_add(&table->slot[selected].count, 1);
        __sync_fetch_and_add(&table->slot[selected].selected, 1);
    }
    /* Nothing selected (every process down, drained or in maintenance): the kernel's own
     * choice, so that the connection waits in some backlog rather than being refused. */
    return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
