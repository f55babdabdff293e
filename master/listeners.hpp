#pragma once
// Opening the listening sockets of a configuration. The master opens every process's sockets
// before starting any (so a bind that fails, or an abns@ name already held, stops everything
// with exit code 2 before anything runs) and hands each process its own; a process started
// alone with --process N opens its own.

#include <map>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "config/model.hpp"

namespace tierlb::master {

struct OpenListener {
    std::string key;  // listener_key()
    int process = 0;
    int fd = -1;
    SocketAddress bound;       // the address really bound (port 0 resolved)
    SocketAddress configured;  // as written: what a reload matches on (with the type)
    int type = SOCK_STREAM;    // SOCK_SEQPACKET for an accept-handoff bind
};

// "PROXY/BIND_ID": names a bind in the handover between master and process.
std::string listener_key(const config::Proxy& proxy, const config::Bind& bind);

// Opens the listeners of PROCESS (or of every process when PROCESS is 0). The error names the
// proxy, the bind, FILE:LINE and the cause; sockets it opened are closed then. With HELD (a
// reload), a bind whose configured address and process match a socket already held reuses
// that socket: connections waiting on it are not lost, and a port 0 keeps its port.
Expected<std::vector<OpenListener>> open_listeners(const config::Configuration& config, int process,
                                                   const std::vector<OpenListener>* held = nullptr);

// The handover through the environment: "KEY=FD;KEY=FD".
std::string encode_handover(const std::vector<OpenListener>& listeners, int process);
std::map<std::string, int> decode_handover(const std::string& text);

inline constexpr const char* handover_variable = "TIERLB_LISTEN_FDS";
// Set for the processes a reload starts: the sockets they bind themselves (stats sockets on a
// path) take over the previous process's rather than fail.
inline constexpr const char* takeover_variable = "TIERLB_TAKEOVER=1";

}  // namespace tierlb::master
