#pragma once
// Keeps an accept-balance slot's count honest (no-hop mode, issue [9]). The eBPF program counts
// a connection when it picks the slot, at the client's SYN; the process takes it off when the
// connection ends. Some connections are counted and never end in the process: a SYN whose
// handshake never completes, a connection dropped from a full queue, a SYN cookie counted at
// the SYN and again at its ACK. So each process compares, periodically, its slot's count with
// what it really holds: its open connections plus those waiting in its accept queue.
//
// The two differ for a moment on every arrival too (a SYN counted, its handshake not done
// yet), so one difference is not drift. A difference is corrected once it has been seen at
// two checks in a row, in the same direction, and by the smaller of the two: what persisted.
// Pure: counts in, a correction out.

#include <cstdint>

namespace tierlb::nohop {

class DriftCorrector {
public:
    // COUNT is the slot's count now, EXPECTED the connections the process holds plus its
    // accept queue. Returns what to add to the count (negative to take off; 0 mostly).
    std::int64_t check(std::uint32_t count, std::uint32_t expected);

private:
    std::int64_t previous_ = 0;  // the difference seen at the last check, expected - count
};

}  // namespace tierlb::nohop
