#pragma once
// The other answers of the stats socket that describe the process, in HAProxy 2.6's formats:
// `show info` ("Key: value" lines in HAProxy's order), `show servers state` (the server-state
// file format, version 1) and `show proc` (the master CLI's table, one row for this process).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/net/runtime.hpp"
#include "common/net/stats_csv.hpp"

namespace tierlb::net {

// What the stats sockets themselves add to `show info`: HAProxy counts its CLI connections in
// Jobs and CumConns.
struct CliActivity {
    unsigned connections = 0;             // open now
    std::uint64_t total_connections = 0;  // accepted since start
};

std::string show_info(const ProcessRuntime& runtime, const CliActivity& cli = {});

// Every backend (or only BACKEND_FILTER when not empty); "Can't find backend.\n" when there is
// no backend of that name.
std::string show_servers_state(const ProcessRuntime& runtime, std::string_view backend_filter,
                               const CheckLookup& checks = {});

// "#<PID>          <type>          <reloads>       <uptime>        <version>      \n", then
// one row for this process (a worker, never reloaded).
std::string show_proc(const ProcessRuntime& runtime);

// The pieces of `show proc`, for the master CLI's table. RELOADS is a text because the
// master's row says "0 [failed: 0]".
std::string proc_header();
std::string proc_row(long pid, std::string_view type, std::string_view reloads,
                     std::chrono::seconds uptime, std::string_view version);

// Uptimes as HAProxy writes them: "0d 0h00m01s" (show info), "0d00h00m01s" (show proc).
std::string info_uptime(std::chrono::seconds uptime);
std::string proc_uptime(std::chrono::seconds uptime);

}  // namespace tierlb::net
