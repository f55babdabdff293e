#pragma once
// Reads the PROXY protocol header of an accept-proxy connection (REFERENCE.md): nothing else
// is read before a complete, valid header; a header split across several segments is waited
// for until the deadline; bytes after the header stay in the socket for what follows (the
// relay, or the TLS handshake).
//
// It never reads past the header: it peeks, parses, and consumes only bytes known to belong to
// the header (all of them while it is incomplete), so waiting for more cannot spin on data
// already there.

#include <string>

#include "common/expected.hpp"
#include "common/net/asio.hpp"
#include "common/net/poller.hpp"
#include "common/proxy_protocol/parse.hpp"

namespace tierlb::net {

struct ProxyHeaderError {
    // HAProxy's words for it, as its log says them ("Received something which does not look
    // like a PROXY protocol header", "Timeout while waiting for PROXY protocol header", ...).
    std::string message;
    std::string detail;  // the parser's specific reason, when there is one
    bool timeout = false;
};

Task<Expected<proxy_protocol::Header, ProxyHeaderError>> read_proxy_header(PollWatch& client,
                                                                           Clock::duration timeout);

}  // namespace tierlb::net
