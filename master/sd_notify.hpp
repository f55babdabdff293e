#pragma once
// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram to the unix
// socket named by $NOTIFY_SOCKET (a path, or an abstract name written "@name"). Nothing when
// the variable is unset (not started by systemd with Type=notify).

#include <string_view>

namespace tierlb::master {

// STATE is "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...", several joined by '\n'.
void sd_notify(std::string_view state);

}  // namespace tierlb::master
