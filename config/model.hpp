#pragma once
// The configuration as tierlb runs it: plain structs, filled by the parser, completed by
// finalize() (defaults applied, process numbers resolved), checked by validate(), then held
// immutably (shared_ptr<const Configuration>) by the runtime. A reload builds a new one.
//
// Defaults are HAProxy's; each field says its default where it has one.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "config/diagnostics.hpp"
#include "config/process_set.hpp"

namespace tierlb::config {

using Duration = std::chrono::milliseconds;

enum class TlsVersion { tlsv12, tlsv13 };
const char* to_string(TlsVersion v);

// global "log" and proxy "log": where log lines go.
struct LogTarget {
    enum class Kind { stdout_stream, stderr_stream, unix_datagram, udp };
    Kind kind = Kind::stderr_stream;
    std::string text;                      // as written, for messages
    std::optional<SocketAddress> address;  // unix_datagram and udp
    std::string format = "local";          // local rfc3164 rfc5424 priority short timed iso raw
    unsigned max_length = 1024;
    int facility = 16;  // syslog facility number; 16 = local0
    int max_level = 7;  // syslog severities: 0 emerg .. 7 debug
    int min_level = 0;
    Location where;
};

enum class StatsLevel { user, operator_level, admin };
const char* to_string(StatsLevel level);

struct StatsSocket {
    std::string text;
    SocketAddress address;
    ProcessSet process = ProcessSet::single(1);
    StatsLevel level = StatsLevel::operator_level;  // HAProxy's default
    std::optional<mode_t> mode;
    std::string user, group;
    Location where;
};

struct StatsHttp {
    std::string text;
    SocketAddress address;
    ProcessSet process = ProcessSet::single(1);
    Location where;
};

struct CpuMap {
    ProcessSet process;
    std::vector<int> cpus;
    Location where;
};

// ssl-default-bind-options and the per-bind TLS version bounds.
struct TlsOptions {
    std::optional<TlsVersion> min_version;  // TLSv1.2 when nothing sets it
    std::optional<TlsVersion> max_version;
    bool no_tls_tickets = false;
    bool prefer_client_ciphers = false;
};

struct Global {
    std::optional<std::uint32_t> maxconn;  // unset: derived from the fd limit at start-up
    std::uint32_t nbthread = 1;
    std::vector<CpuMap> cpu_maps;
    std::uint32_t tune_maxaccept = 4;
    // tune.ssl.idle-offload: idle TLS 1.3 connections leave OpenSSL (worker/tls_takeover.hpp)
    bool tune_ssl_idle_offload = true;
    // tune.dispatcher.sched-batch: processes with no TLS bind run under SCHED_BATCH
    bool tune_dispatcher_sched_batch = true;
    std::optional<Duration> hard_stop_after;
    std::vector<StatsSocket> stats_sockets;
    Duration stats_timeout{10000};
    std::vector<StatsHttp> stats_http;
    std::vector<LogTarget> logs;
    std::string user, group;  // the processes run as them once their sockets are open
    Location user_where, group_where;
    std::string tls_ticket_keys;
    Location tls_ticket_keys_where;
    std::string ssl_default_bind_ciphers, ssl_default_bind_ciphersuites;
    TlsOptions ssl_default_bind_options;
    std::string crt_base, ca_base;  // prefixes for relative certificate and CA paths
    bool daemon = false;
    std::string pidfile;
};

struct Timeouts {
    std::optional<Duration> connect, client, server, check, queue, tunnel, client_fin, server_fin,
        client_hs;
};

enum class Balance { roundrobin, leastconn, source, first };
const char* to_string(Balance b);

enum class SendProxy { none, v1, v2 };

// What a v2 header carries besides the addresses and the ALPN: HAProxy's "proxy-v2-options",
// set by send-proxy-v2-ssl (ssl) and send-proxy-v2-ssl-cn (ssl, cert-cn) too.
struct ProxyV2Options {
    bool ssl = false;         // the SSL TLV: client flags, verify result, VERSION
    bool cert_cn = false;     // its CN: the client certificate's common name
    bool ssl_cipher = false;  // its CIPHER
    bool cert_sig = false;    // its SIG_ALG: our certificate's signature algorithm
    bool cert_key = false;    // its KEY_ALG: our certificate's key, "EC256"
    bool authority = false;   // the name the client asked for (SNI)
    bool crc32c = false;      // a CRC32C TLV over the header

    friend bool operator==(const ProxyV2Options&, const ProxyV2Options&) = default;
};

struct ServerOptions {
    SendProxy send_proxy = SendProxy::none;
    ProxyV2Options proxy_v2;
    bool check = false;
    Duration inter{2000};
    std::optional<Duration> fastinter, downinter;  // both default to inter
    std::uint32_t rise = 2, fall = 3;
    std::uint32_t weight = 1;    // 0..256; 0 = drain
    std::uint32_t maxconn = 0;   // 0 = no limit
    std::uint32_t maxqueue = 0;  // 0 = no limit
    bool backup = false;
    bool disabled = false;
    bool check_send_proxy = false;
    bool check_ssl = false;
    bool verify_required = false;  // "verify required"; default none for a local worker
    std::string ca_file;
    bool handoff = false;
};

// What a server is to this configuration: one of its own worker processes (its address is a
// bind here, with accept-proxy) may be replaced by another when it dies before answering.
enum class ServerRole { external, worker, tls_worker };

struct Server {
    std::string name;
    std::string address_text;
    SocketAddress address;
    ServerOptions options;
    ServerRole role = ServerRole::external;
    std::uint32_t id = 0;  // "id", else its position from 1 (HAProxy's sid)
    Location where;
};

// "accept-weight PROCESSES:WEIGHT" on an accept-balance bind: the weight its group starts
// PROCESSES with (no-hop mode). "all", "odd" and "even" mean those of the bind's processes.
struct AcceptWeight {
    std::string text;  // as written, for messages
    ProcessSet processes;
    bool relative = false;  // "all", "odd" or "even"
    std::uint32_t weight = 1;
};

struct Bind {
    std::string address_text;
    SocketAddress address;
    std::optional<ProcessSet> process_option;  // "process" as written
    ProcessSet processes;                      // resolved by finalize()
    bool accept_proxy = false;
    bool ssl = false;
    std::vector<std::string> crts;  // files or directories; the first is the default
    std::string crt_list;
    std::vector<std::string> alpn;
    TlsOptions tls;  // ssl-min-ver / ssl-max-ver, completed from ssl-default-bind-options
    std::string ciphers, ciphersuites;  // completed from the ssl-default-bind-* globals
    std::optional<std::uint32_t> maxconn;
    std::optional<std::uint32_t> backlog;
    // "defer-accept": TCP only; the kernel hands a connection over once its first bytes are
    // in (TCP_DEFER_ACCEPT), for protocols where the client speaks first (TLS, HTTP).
    bool defer_accept = false;
    std::string name;
    std::uint32_t id = 0;  // "id", else its position from 1
    std::optional<mode_t> mode;
    // Unix sockets: the socket file's owner, and who may connect to an accept-handoff bind
    // or send a PROXY header to an accept-proxy one (besides root and this process's user).
    std::string user, group;
    std::optional<uid_t> uid;  // "uid N": the numeric form of "user"
    std::optional<gid_t> gid;  // "gid N": of "group"
    bool accept_handoff = false;
    bool accept_balance_leastconn = false;
    std::vector<AcceptWeight> accept_weights;  // in order: the last one naming a process wins
    Location where;

    // The weight accept-weight gives PROCESS, 1 when none does.
    std::uint32_t accept_weight_of(int process) const {
        std::uint32_t weight = 1;
        for (const auto& w : accept_weights) {
            if (w.processes.contains(process)) {
                weight = w.weight;
            }
        }
        return weight;
    }
};

enum class ProxyKind { defaults, frontend, backend, listen };
const char* to_string(ProxyKind k);

// A frontend, backend or listen section, or a defaults section (whose settings the sections
// after it start from). HAProxy's model: a listen is a frontend and a backend in one.
struct Proxy {
    ProxyKind kind = ProxyKind::listen;
    std::string name;
    Location where;
    std::uint32_t id = 0;  // position among proxies, from 1

    Balance balance = Balance::roundrobin;
    std::uint32_t maxconn = 0;  // 0 = the global maxconn
    Timeouts timeouts;
    std::uint32_t retries = 3;
    bool redispatch = false;
    bool tcplog = false;
    bool dontlognull = false;
    bool tcpka_client = false, tcpka_server = false;
    bool log_global = false;
    std::vector<LogTarget> logs;
    ServerOptions default_server;
    std::string default_backend;
    Location default_backend_where;
    std::optional<ProcessSet> bind_process;
    std::vector<Bind> binds;
    std::vector<Server> servers;

    ProcessSet processes;  // where it runs, resolved by finalize()

    bool has_frontend() const { return kind == ProxyKind::frontend || kind == ProxyKind::listen; }
    bool has_backend() const { return kind == ProxyKind::backend || kind == ProxyKind::listen; }
};

struct Configuration {
    std::vector<std::string> files;  // as given with -f, in order
    Global global;
    std::vector<Proxy> proxies;  // frontends, backends and listens in the order written
    std::vector<int> processes;  // every process number used, ascending

    const Proxy* find_backend(const std::string& name) const;
    const Proxy* find_proxy(const std::string& name) const;

    // The backend whose servers receive a frontend's traffic: its default_backend, or itself
    // for a listen without one. Null for a frontend without backend (validate() rejects it).
    const Proxy* backend_of(const Proxy& frontend) const;
};

using ConfigurationPtr = std::shared_ptr<const Configuration>;

}  // namespace tierlb::config
