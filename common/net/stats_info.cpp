#include "common/net/stats_info.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <spdlog/fmt/fmt.h>

#include <array>
#include <optional>
#include <vector>

#include "common/health/check_result.hpp"
#include "common/log/stream_writer.hpp"
#include "common/net/tls_offload_counters.hpp"
#include "tierlb/version.hpp"

namespace tierlb::net {

namespace {

using std::chrono::duration_cast;
using std::chrono::seconds;

std::string hostname() {
    std::array<char, 256> name{};
    if (::gethostname(name.data(), name.size() - 1) != 0) {
        return "";
    }
    return name.data();
}

std::uint64_t open_files_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
        return 0;
    }
    return limit.rlim_cur;
}

// Listening sockets of this process: the binds, plus the stats sockets and stats pages it
// serves (HAProxy counts its CLI listeners too).
std::uint64_t listener_count(const ProcessRuntime& runtime) {
    std::uint64_t count = runtime.listeners.size();
    if (const auto& config = runtime.state.config) {
        for (const auto& s : config->global.stats_sockets) {
            count += s.process.contains(runtime.state.number) ? 1 : 0;
        }
        for (const auto& s : config->global.stats_http) {
            count += s.process.contains(runtime.state.number) ? 1 : 0;
        }
    }
    return count;
}

// Bytes tierlb wrote: to clients (frontends' bout) and to servers (backends' bin).
std::uint64_t bytes_out(const ProcessRuntime& runtime) {
    std::uint64_t total = 0;
    for (const auto& f : runtime.frontends) {
        total += get(f->stats.traffic.bytes_out);
    }
    for (const auto& b : runtime.backends) {
        total += get(b->traffic().bytes_in);
    }
    return total;
}

// How the kernel spreads this process's accept-balance binds over their processes: the eBPF
// program, or plain SO_REUSEPORT and why. Nothing when the process has no such bind.
std::optional<std::string> accept_balance_mode(const ProcessRuntime& runtime) {
    std::optional<std::string> mode;
    for (const auto& l : runtime.listeners) {
        if (!l->config->accept_balance_leastconn) {
            continue;
        }
        if (!l->nohop) {
            return "SO_REUSEPORT (" + l->nohop_fallback + ")";
        }
        mode = l->nohop->migrates() ? "eBPF leastconn"
                                    : "eBPF leastconn (queued connections wait for a restart)";
    }
    return mode;
}

class InfoWriter {
public:
    void add(std::string_view key, std::string_view value) {
        out_.append(key).append(": ").append(value).push_back('\n');
    }
    void add(std::string_view key, std::uint64_t value) { add(key, std::to_string(value)); }
    // Fields HAProxy has and tierlb has no counter for (memory pools, SSL rates, ...).
    void zeros(std::initializer_list<std::string_view> keys) {
        for (auto key : keys) {
            add(key, std::uint64_t{0});
        }
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

// show servers state's numbers are HAProxy's enums: HCHK_STATUS_* and CHK_RES_*.
int check_status_code(health::CheckStatus status) {
    switch (status) {
        case health::CheckStatus::ini:
            return 1;
        case health::CheckStatus::sockerr:
            return 5;
        case health::CheckStatus::l4ok:
            return 6;
        case health::CheckStatus::l4tout:
            return 7;
        case health::CheckStatus::l4con:
            return 8;
        case health::CheckStatus::l6ok:
            return 9;
        case health::CheckStatus::l6tout:
            return 10;
        case health::CheckStatus::l6rsp:
            return 11;
        case health::CheckStatus::l7tout:
            return 12;
        case health::CheckStatus::l7rsp:
            return 13;
        case health::CheckStatus::l7ok:
            return 15;
        case health::CheckStatus::l7sts:
            return 17;
    }
    return 0;
}

int check_result_code(health::CheckStatus status) {
    switch (health::result_of(status)) {
        case health::CheckResult::passed:
            return 3;
        case health::CheckResult::failed:
            return 2;
        case health::CheckResult::unknown:
            break;
    }
    return 0;
}

constexpr std::string_view servers_state_header =
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
    "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
    "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

// srv_f_forced_id: whether each server's id was written in the configuration. The
// configuration does not keep it, so this replays its numbering (the first id no other server
// has, from where the last automatic one left off): an id it would not have given was written.
// Ambiguous only when an explicit id equals the one that numbering would give.
std::vector<bool> forced_ids(const BackendRuntime& backend) {
    std::vector<bool> forced(backend.size(), false);
    std::uint32_t next = 1;
    for (std::size_t i = 0; i < backend.size(); ++i) {
        const std::uint32_t id = backend.server(i).config->id;
        std::uint32_t candidate = next;
        for (bool taken = true; taken;) {
            taken = false;
            for (std::size_t j = 0; j < backend.size() && !taken; ++j) {
                taken = j != i && backend.server(j).config->id == candidate;
            }
            candidate += taken ? 1 : 0;
        }
        forced[i] = id != candidate;
        next = forced[i] ? next : candidate + 1;
    }
    return forced;
}

// HAProxy's admin flags: SRV_ADMF_FMAINT (set by the CLI), SRV_ADMF_CMAINT (`disabled` in the
// configuration; kept after the server is enabled again), SRV_ADMF_FDRAIN.
int admin_flags(const config::Server& server, balance::AdminState admin) {
    int flags = server.options.disabled ? 0x04 : 0;
    if (admin == balance::AdminState::maint) {
        flags |= 0x01;
    } else if (admin == balance::AdminState::drain) {
        flags |= 0x08;
    }
    return flags;
}

void servers_state_line(std::string& out, const BackendRuntime& backend, std::size_t index,
                        bool forced_id, const std::optional<health::CheckState>& check,
                        Clock::time_point now) {
    const ServerRuntime& server = backend.server(index);
    const config::Server& conf = *server.config;
    const auto view = backend.view(index);
    const bool maint = view.admin == balance::AdminState::maint;
    const bool inet = conf.address.is_inet();
    // Without a checker, the values HAProxy has before a check runs: status INI, health at
    // rise, state CONFIGURED|ENABLED (|PAUSED in maintenance). Maintenance zeroes the health;
    // only a check brings it back, so a server without `check` that the configuration
    // disabled keeps 0, and one without `check` is PAUSED only in that case.
    int status = 1;
    int result = 0;
    const bool zeroed = maint || (!conf.options.check && conf.options.disabled);
    unsigned health = zeroed ? 0 : conf.options.rise;
    int state = conf.options.check ? (maint ? 14 : 6) : (conf.options.disabled ? 8 : 0);
    if (check) {
        status = check_status_code(check->last_status());
        result = check_result_code(check->last_status());
        health = check->health();
    }
    const auto since =
        now > view.last_change ? duration_cast<seconds>(now - view.last_change) : seconds(0);
    out += fmt::format("{} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 {} - {} - 0 0 - - 0\n",
                       backend.config().id, backend.name(), conf.id, conf.name,
                       inet ? conf.address.host() : std::string("-"), (maint || !view.up) ? 0 : 2,
                       admin_flags(conf, view.admin), view.weight, conf.options.weight,
                       since.count(), status, result, health, state, forced_id ? 1 : 0,
                       inet ? conf.address.port() : 0);
}

}  // namespace

std::string info_uptime(std::chrono::seconds uptime) {
    const auto s = uptime.count();
    return fmt::format("{}d {}h{:02}m{:02}s", s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
}

std::string proc_uptime(std::chrono::seconds uptime) {
    const auto s = uptime.count();
    return fmt::format("{}d{:02}h{:02}m{:02}s", s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
}

std::string show_info(const ProcessRuntime& runtime, const CliActivity& cli) {
    const ProcessState& state = runtime.state;
    const auto uptime = duration_cast<seconds>(Clock::now() - state.started);
    const std::uint64_t maxconn = global_maxconn(runtime);
    const std::uint64_t current = state.connections.count();
    const std::uint64_t total = get(state.total_connections) + cli.total_connections;
    const std::uint64_t listeners = listener_count(runtime);
    const auto& config = state.config;
    InfoWriter w;
    w.add("Name", "tierlb");
    w.add("Version", tierlb::version_string);
    w.add("Release_date", "");
    w.add("Nbthread", config ? config->global.nbthread : 1);
    w.add("Nbproc", config && !config->processes.empty() ? config->processes.size() : 1);
    w.add("Process_num", static_cast<std::uint64_t>(state.number));
    w.add("Pid", static_cast<std::uint64_t>(::getpid()));
    w.add("Uptime", info_uptime(uptime));
    w.add("Uptime_sec", static_cast<std::uint64_t>(uptime.count()));
    w.zeros({"Memmax_MB", "PoolAlloc_MB", "PoolUsed_MB", "PoolFailed"});
    w.add("Ulimit-n", open_files_limit());
    w.add("Maxsock", open_files_limit());
    w.add("Maxconn", maxconn);
    w.add("Hard_maxconn", maxconn);
    w.add("CurrConns", current);
    w.add("CumConns", total);
    w.add("CumReq", total);
    w.add("MaxSslConns", std::uint64_t{0});  // no separate limit: maxconn applies
    w.add("CurrSslConns", get(runtime.state.tls_current));
    w.add("CumSslConns", get(runtime.state.tls_total));
    w.zeros({"Maxpipes", "PipesUsed", "PipesFree"});
    // Per second over the last second, and the most seen; no rate limits (0).
    const auto now = Clock::now();
    w.add("ConnRate", state.connection_rate.per_second(now));
    w.add("ConnRateLimit", std::uint64_t{0});
    w.add("MaxConnRate", state.connection_rate.max());
    w.add("SessRate", state.session_rate.per_second(now));
    w.add("SessRateLimit", std::uint64_t{0});
    w.add("MaxSessRate", state.session_rate.max());
    const std::uint64_t tls_rate = state.tls_rate.per_second(now);
    const std::uint64_t key_rate = state.tls_key_rate.per_second(now);
    w.add("SslRate", tls_rate);
    w.add("SslRateLimit", std::uint64_t{0});
    w.add("MaxSslRate", state.tls_rate.max());
    w.add("SslFrontendKeyRate", key_rate);
    w.add("SslFrontendMaxKeyRate", state.tls_key_rate.max());
    // The share of the last second's handshakes that resumed a session, as HAProxy has it.
    w.add("SslFrontendSessionReuse_pct",
          tls_rate == 0 ? std::uint64_t{0} : (tls_rate - std::min(key_rate, tls_rate)) * 100 /
                                                 tls_rate);
    w.zeros({"SslBackendKeyRate",
             "SslBackendMaxKeyRate",
             "SslCacheLookups",
             "SslCacheMisses",
             "CompressBpsIn",
             "CompressBpsOut",
             "CompressBpsRateLim",
             "Tasks",
             "Run_queue"});
    // Not measured: reported idle rather than busy, so that monitoring does not alarm.
    w.add("Idle_pct", 100);
    w.add("node", hostname());
    w.add("Stopping", std::uint64_t{runtime.state.stopping.load() ? 1u : 0u});
    w.add("Jobs", listeners + current + cli.connections);
    w.add("Unstoppable Jobs", std::uint64_t{0});
    w.add("Listeners", listeners);
    w.zeros({"ActivePeers", "ConnectedPeers"});
    w.add("DroppedLogs", log::dropped_lines());
    w.zeros({"BusyPolling", "FailedResolutions"});
    w.add("TotalBytesOut", bytes_out(runtime));
    w.zeros({"TotalSplicdedBytesOut", "BytesOutRate", "DebugCommandsIssued", "CumRecvLogs"});
    w.add("Build info", tierlb::version_string);
    w.zeros({"Memmax_bytes", "PoolAlloc_bytes", "PoolUsed_bytes"});
    w.add("Start_time_sec",
          static_cast<std::uint64_t>(
              duration_cast<seconds>(state.started_wall.time_since_epoch()).count()));
    w.add("Tainted", std::uint64_t{0});
    // tierlb's own, after HAProxy's fields (no-hop mode, issue [9]).
    if (const auto mode = accept_balance_mode(runtime)) {
        w.add("AcceptBalance", *mode);
    }
    if (get(runtime.state.tls_total) != 0) {
        // Idle TLS connections taken over from OpenSSL (tune.ssl.idle-offload), and kept.
        w.add("SslIdleOffloaded", tls_offload_counters.taken.load(std::memory_order_relaxed));
        w.add("SslIdleKept", tls_offload_counters.kept.load(std::memory_order_relaxed));
    }
    return w.take();
}

std::string show_servers_state(const ProcessRuntime& runtime, std::string_view backend_filter,
                               const CheckLookup& checks) {
    const BackendRuntime* only = nullptr;
    if (!backend_filter.empty()) {
        for (const auto& b : runtime.backends) {
            if (b->name() == backend_filter) {
                only = b.get();
            }
        }
        if (only == nullptr) {
            return "Can't find backend.\n";
        }
    }
    const auto now = Clock::now();
    std::string out(servers_state_header);
    for (const auto& b : runtime.backends) {
        if (only != nullptr && b.get() != only) {
            continue;
        }
        const std::vector<bool> forced = forced_ids(*b);
        for (std::size_t i = 0; i < b->size(); ++i) {
            std::optional<health::CheckState> check;
            if (checks && b->server(i).config->options.check) {
                check = checks(*b, i);
            }
            servers_state_line(out, *b, i, forced[i], check, now);
        }
    }
    return out;
}

std::string proc_header() {
    return fmt::format("#{:<14} {:<15} {:<15} {:<15} {:<15}\n", "<PID>", "<type>", "<reloads>",
                       "<uptime>", "<version>");
}

std::string proc_row(long pid, std::string_view type, std::string_view reloads,
                     std::chrono::seconds uptime, std::string_view version) {
    return fmt::format("{:<15} {:<15} {:<15} {:<15} {}\n", pid, type, reloads, proc_uptime(uptime),
                       version);
}

std::string show_proc(const ProcessRuntime& runtime) {
    const auto uptime = duration_cast<seconds>(Clock::now() - runtime.state.started);
    return proc_header() +
           proc_row(static_cast<long>(::getpid()), "worker", "0", uptime, tierlb::version_string);
}

}  // namespace tierlb::net
