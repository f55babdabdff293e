/* The table an accept-balance group shares between the kernel and its processes (no-hop mode,
 * issue [9]): one slot per process of a `bind ... process N-M accept-balance leastconn`, in
 * the order of the process numbers. It is the only value of a BPF array map that user space
 * maps into memory (BPF_F_MMAPABLE), so that
 *   - the eBPF program (leastconn.bpf.c) picks a slot and counts the connection it places;
 *   - a process takes one off its own slot when a connection ends, and corrects drift, with
 *     plain atomic operations on the mapped memory (no system call per connection);
 *   - the master marks a dead process's slot down, and any process reads every slot for
 *     `show stat` and changes weights for `set accept-balance`.
 *
 * C, not C++: clang -target bpf compiles it into the program, g++ into tierlb and its unit
 * tests, so the pick is one piece of code tested where it runs. Fixed-size fields only: both
 * compilers must lay the structures out identically. */
#ifndef TIERLB_NOHOP_SLOT_TABLE_H
#define TIERLB_NOHOP_SLOT_TABLE_H

#include <linux/types.h>

#define TIERLB_NOHOP_MAX_SLOTS 64 /* process numbers go from 1 to 64 */

/* A slot's administrative state, as `set server ... state` for servers. Drain and maint both
 * mean "never selected": connections already placed stay where they are either way. */
#define TIERLB_NOHOP_READY 0u
#define TIERLB_NOHOP_DRAIN 1u
#define TIERLB_NOHOP_MAINT 2u

#define TIERLB_NOHOP_MAX_WEIGHT 256u

/* One read of a field other CPUs change: volatile in the program, so that the compiler reads
 * it once; plain in C++, where only the unit tests run the pick (on a table of their own). */
#ifdef __cplusplus
#define TIERLB_NOHOP_READ(field) (field)
#else
#define TIERLB_NOHOP_READ(field) (*(volatile const __typeof__(field)*)&(field))
#endif

struct tierlb_nohop_slot {
    __u32 count;    /* connections placed on this process's socket and not ended yet, whichever
                       generation of the process (after a reload) holds them */
    __u32 weight;   /* 0..256, 1 unless changed; 0 = never selected */
    __u32 admin;    /* TIERLB_NOHOP_READY, _DRAIN or _MAINT */
    __u32 up;       /* 1 while a live process has its socket in the socket array */
    __u64 selected; /* connections placed here since the group was made (lbtot) */
    __u32 retired;  /* of count: those the process's previous generations hold (a reload), as
                       they declare them; the current process leaves them out of its drift
                       check. Not read by the program. */
    __u32 reserved;
};

/* Table flags. */
#define TIERLB_NOHOP_MIGRATES 1u /* the program is attached as SELECT_OR_MIGRATE */

struct tierlb_nohop_table {
    __u32 slots; /* slots in use, 2..TIERLB_NOHOP_MAX_SLOTS */
    __u32 flags; /* TIERLB_NOHOP_MIGRATES, for processes that open a pinned group */
    struct tierlb_nohop_slot slot[TIERLB_NOHOP_MAX_SLOTS];
};

/* HAProxy's leastconn key (lb_fwlc.c), as common/balance/leastconn.cpp has it: a process with
 * no connection is 0 whatever its weight, otherwise (count + 1) * 4096 / (weight * 16), so
 * that processes compare by the load they would have once picked, relative to their weight. */
static inline __u64 tierlb_nohop_key(__u32 count, __u32 weight) {
    __u64 load = count;
    if (count == 0) {
        return 0;
    }
    return (load + 1) * TIERLB_NOHOP_MAX_WEIGHT / weight;
}

/* The slot a new connection goes to: among the slots that are up, ready, of a non-zero
 * weight and not in SKIP (a bit per slot: sockets found missing), the lowest key; equal keys
 * go to the first met from START (any number: the scan begins at START modulo the slots), so
 * that a random START spreads ties. *SEEN is the count the chosen slot had when read. -1 when
 * no slot can be chosen.
 *
 * Written for the BPF verifier too: every loop is bounded by a constant and every index is
 * checked against the array's size before use. */
static inline int tierlb_nohop_pick(const struct tierlb_nohop_table* table, __u32 start, __u64 skip,
                                    __u32* seen) {
    __u32 slots = table->slots;
    int best = -1;
    __u64 best_key = 0;
    __u32 k;
    if (slots == 0 || slots > TIERLB_NOHOP_MAX_SLOTS) {
        return -1;
    }
    start %= slots;
    for (k = 0; k < TIERLB_NOHOP_MAX_SLOTS; k++) {
        __u32 i = start + k;
        const struct tierlb_nohop_slot* s;
        __u32 count;
        __u32 weight;
        __u64 key;
        if (k >= slots) {
            break;
        }
        if (i >= slots) {
            i -= slots;
        }
        if (i >= TIERLB_NOHOP_MAX_SLOTS) {
            break;
        }
        s = &table->slot[i];
        /* Each field read once: other CPUs change them while we look. */
        count = TIERLB_NOHOP_READ(s->count);
        weight = TIERLB_NOHOP_READ(s->weight);
        if (!s->up || s->admin != TIERLB_NOHOP_READY || weight == 0 || (skip >> i) & 1) {
            continue;
        }
        key = tierlb_nohop_key(count, weight);
        if (best < 0 || key < best_key) {
            best = i;
            best_key = key;
            *seen = count;
        }
    }
    return best;
}

#endif /* TIERLB_NOHOP_SLOT_TABLE_H */
