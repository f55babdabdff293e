// Gives the heap's free pages back to the kernel once a process has gone quiet.
//
// A burst of TLS handshakes allocates and frees a lot (handshake buffers, key shares); what it
// frees stays in glibc's heap, scattered between the long-lived connections' blocks, and keeps
// the process's resident memory high for as long as those connections live (hours). After one
// second without a new or ended connection, malloc_trim(0) returns every whole free page
// (~2.6 KB per idle TLS connection measured after a burst of 2,000). Once per quiet spell: a
// trim walks the heap, so a steady stream of connections never pays for it.
#pragma once

#include <cstdint>

#include "common/net/asio.hpp"
#include "common/net/runtime.hpp"

namespace tierlb::net {

class IdleTrim {
public:
    IdleTrim(Executor executor, const ProcessState& state,
             Clock::duration quiet_period = std::chrono::seconds(1));

    void start();
    void stop() { timer_.cancel(); }

    std::uint64_t trims() const { return trims_; }

    // What the timer does every quiet period (public for tests): trim if connections came or
    // went before the last period and none since.
    void tick();

private:
    void arm();
    struct Activity {
        std::uint64_t accepted = 0;  // only grows: moves with every new connection
        std::uint32_t current = 0;   // moves with every close not matched by an accept
        bool operator==(const Activity&) const = default;
    };
    Activity activity() const;

    Timer timer_;
    const ProcessState& state_;
    Clock::duration quiet_period_;
    Activity last_activity_;
    bool dirty_ = false;  // connections came or went since the last trim
    std::uint64_t trims_ = 0;
};

}  // namespace tierlb::net
