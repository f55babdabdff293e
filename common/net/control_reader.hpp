#pragma once
// Reads hand-off control messages waiting on a SOCK_SEQPACKET socket watched by the poller,
// for both ends of the control connection. Each message goes to ON_MESSAGE with the
// descriptor it carried (-1 if none, else the callee's to keep or close); ON_MESSAGE returns
// false to stop reading. The connection's end, an error, or a datagram that does not decode
// goes to ON_END with the reason ("" for an orderly end), once, and reading stops.

#include <unistd.h>

#include <span>
#include <string>

#include "common/handoff/message.hpp"
#include "common/net/fd_passing.hpp"
#include "common/net/poller.hpp"
#include "common/net/socket_ops.hpp"

namespace tierlb::net {

template <typename OnMessage, typename OnEnd>
void read_control_messages(PollWatch& watch, OnMessage on_message, OnEnd on_end) {
    std::uint8_t buffer[handoff::max_message];
    while (watch.fd >= 0 && (watch.ready & readable) != 0) {
        const ReceivedDatagram r = receive_datagram(watch.fd, buffer);
        switch (r.status) {
            case ReceivedDatagram::Status::would_block:
                watch.ready &= ~readable;
                return;
            case ReceivedDatagram::Status::ended:
                on_end(std::string());
                return;
            case ReceivedDatagram::Status::failed:
                on_end(errno_text(r.error));
                return;
            case ReceivedDatagram::Status::message:
                break;
        }
        auto message = handoff::decode(std::span(buffer, r.size));
        if (r.truncated || !message) {
            if (r.fd >= 0) {
                ::close(r.fd);
            }
            on_end("protocol error: " +
                   (message ? std::string("a message or descriptor cut short") : message.error()));
            return;
        }
        if (!on_message(*message, r.fd)) {
            return;
        }
    }
}

}  // namespace tierlb::net
