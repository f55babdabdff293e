#pragma once
// Where a dispatcher's session can give its client socket away instead of relaying it
// (hand-off mode, INTERFACE.md section 6): a server line with `handoff`. The dispatcher's
// control connection to that worker implements it (dispatcher/handoff_channel.hpp).

#include <chrono>
#include <cstdint>

#include "common/address.hpp"

namespace tierlb::net {

struct HandoffRequest {
    int fd = -1;  // the client socket; the caller still owns it (and closes it) afterwards
    SocketAddress client;
    SocketAddress local;
    std::uint32_t listener_index = 0;  // the dispatcher's listener, for its log line later
    std::chrono::system_clock::time_point accepted;
};

class HandoffTarget {
public:
    virtual ~HandoffTarget() = default;

    // Passes the socket to the worker. False when this worker cannot take it now (control
    // connection down, too many hand-offs in flight, the kernel's limit on descriptors in
    // flight): the caller chooses another server. Callable from any thread.
    virtual bool hand_off(const HandoffRequest& request) = 0;
};

}  // namespace tierlb::net
