#include "common/net/stats_typed.hpp"

#include <spdlog/fmt/fmt.h>

#include <array>
#include <cstdint>
#include <optional>

namespace tierlb::net {

namespace {

// A field's tags and type as HAProxy prints them ("MCP", "u64"); empty where HAProxy has no
// such field for that kind of line.
struct FieldType {
    std::string_view tags;
    std::string_view type;
};

// Per show stat column, for FRONTEND, BACKEND, server and listener lines (in that order).
// clang-format off
constexpr std::array<std::array<FieldType, 4>, 128> stat_field_types{{
    {{{"KNS", "str"}, {"KNS", "str"}, {"KNS", "str"}, {"KNS", "str"}}},  // pxname
    {{{"KNS", "str"}, {"KNS", "str"}, {"KNS", "str"}, {"KNS", "str"}}},  // svname
    {{{}, {"MGP", "u32"}, {"MGP", "u32"}, {}}},  // qcur
    {{{}, {"MMP", "u32"}, {"MMP", "u32"}, {}}},  // qmax
    {{{"MGP", "u32"}, {"MGP", "u32"}, {"MGP", "u32"}, {"MGP", "u32"}}},  // scur
    {{{"MMP", "u32"}, {"MMP", "u32"}, {"MMP", "u32"}, {"MMP", "u32"}}},  // smax
    {{{"CLP", "u32"}, {"CLP", "u32"}, {}, {"CLP", "u32"}}},  // slim
    {{{"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}}},  // stot
    {{{"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}}},  // bin
    {{{"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}}},  // bout
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {"MCP", "u64"}}},  // dreq
    {{{"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}}},  // dresp
    {{{"MCP", "u64"}, {}, {}, {"MCP", "u64"}}},  // ereq
    {{{}, {"MCP", "u64"}, {"MCP", "u64"}, {}}},  // econ
    {{{}, {"MCP", "u64"}, {"MCP", "u64"}, {}}},  // eresp
    {{{}, {"MCP", "u64"}, {"MCP", "u64"}, {}}},  // wretr
    {{{}, {"MCP", "u64"}, {"MCP", "u64"}, {}}},  // wredis
    {{{"SGP", "str"}, {"SGP", "str"}, {"SGP", "str"}, {"SGP", "str"}}},  // status
    {{{}, {"MaP", "u32"}, {"MaP", "u32"}, {}}},  // weight
    {{{}, {"MGP", "u32"}, {"SGP", "u32"}, {}}},  // act
    {{{}, {"MGP", "u32"}, {"SGP", "u32"}, {}}},  // bck
    {{{}, {}, {"MCP", "u64"}, {}}},  // chkfail
    {{{}, {"MCP", "u64"}, {"MCP", "u64"}, {}}},  // chkdown
    {{{}, {"MAP", "u32"}, {"MAP", "u32"}, {}}},  // lastchg
    {{{}, {"MCP", "u32"}, {"MCP", "u32"}, {}}},  // downtime
    {{{}, {}, {"CLP", "u32"}, {}}},  // qlimit
    {{{"KGP", "u32"}, {"KGP", "u32"}, {"KGP", "u32"}, {"KGP", "u32"}}},  // pid
    {{{"KGS", "u32"}, {"KGS", "u32"}, {"KGS", "u32"}, {"KGS", "u32"}}},  // iid
    {{{"KGS", "u32"}, {"KGS", "u32"}, {"KGS", "u32"}, {"KGS", "u32"}}},  // sid
    {{{}, {}, {}, {}}},  // throttle
    {{{}, {"MCP", "u64"}, {"MCP", "u64"}, {}}},  // lbtot
    {{{}, {}, {}, {}}},  // tracked
    {{{"CGS", "u32"}, {"CGS", "u32"}, {"CGS", "u32"}, {"CGS", "u32"}}},  // type
    {{{"MRP", "u32"}, {"MGP", "u32"}, {"MRP", "u32"}, {}}},  // rate
    {{{"CLP", "u32"}, {}, {}, {}}},  // rate_lim
    {{{"MMP", "u32"}, {"MGP", "u32"}, {"MMP", "u32"}, {}}},  // rate_max
    {{{}, {}, {"MOP", "str"}, {}}},  // check_status
    {{{}, {}, {"MOP", "u32"}, {}}},  // check_code
    {{{}, {}, {"MDP", "u64"}, {}}},  // check_duration
    {{{}, {}, {}, {}}},  // hrsp_1xx
    {{{}, {}, {}, {}}},  // hrsp_2xx
    {{{}, {}, {}, {}}},  // hrsp_3xx
    {{{}, {}, {}, {}}},  // hrsp_4xx
    {{{}, {}, {}, {}}},  // hrsp_5xx
    {{{}, {}, {}, {}}},  // hrsp_other
    {{{}, {}, {}, {}}},  // hanafail
    {{{"MRP", "u32"}, {}, {}, {}}},  // req_rate
    {{{"MMP", "u32"}, {}, {}, {}}},  // req_rate_max
    {{{"MCP", "u64"}, {}, {}, {}}},  // req_tot
    {{{}, {"MCP", "u64"}, {"MCP", "u64"}, {}}},  // cli_abrt
    {{{}, {"MCP", "u64"}, {"MCP", "u64"}, {}}},  // srv_abrt
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // comp_in
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // comp_out
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // comp_byp
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // comp_rsp
    {{{}, {"MAP", "s32"}, {"MAP", "s32"}, {}}},  // lastsess
    {{{}, {}, {"MOP", "str"}, {}}},  // last_chk
    {{{}, {}, {}, {}}},  // last_agt
    {{{}, {"MaP", "u32"}, {"MaP", "u32"}, {}}},  // qtime
    {{{}, {"MaP", "u32"}, {"MaP", "u32"}, {}}},  // ctime
    {{{}, {"MaP", "u32"}, {"MaP", "u32"}, {}}},  // rtime
    {{{}, {"MaP", "u32"}, {"MaP", "u32"}, {}}},  // ttime
    {{{}, {}, {}, {}}},  // agent_status
    {{{}, {}, {}, {}}},  // agent_code
    {{{}, {}, {}, {}}},  // agent_duration
    {{{}, {}, {"MOP", "str"}, {}}},  // check_desc
    {{{}, {}, {}, {}}},  // agent_desc
    {{{}, {}, {"CGS", "u32"}, {}}},  // check_rise
    {{{}, {}, {"CGS", "u32"}, {}}},  // check_fall
    {{{}, {}, {"CGS", "u32"}, {}}},  // check_health
    {{{}, {}, {}, {}}},  // agent_rise
    {{{}, {}, {}, {}}},  // agent_fall
    {{{}, {}, {}, {}}},  // agent_health
    {{{}, {}, {"CGS", "str"}, {"CGS", "str"}}},  // addr
    {{{}, {}, {}, {}}},  // cookie
    {{{"CGS", "str"}, {"CGS", "str"}, {"CGS", "str"}, {"CGS", "str"}}},  // mode
    {{{}, {"CGS", "str"}, {}, {}}},  // algo
    {{{"MRP", "u32"}, {}, {}, {}}},  // conn_rate
    {{{"MMP", "u32"}, {}, {}, {}}},  // conn_rate_max
    {{{"MCP", "u64"}, {}, {}, {}}},  // conn_tot
    {{{}, {}, {}, {}}},  // intercepted
    {{{"MCP", "u64"}, {}, {}, {"MCP", "u64"}}},  // dcon
    {{{"MCP", "u64"}, {}, {}, {"MCP", "u64"}}},  // dses
    {{{"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}}},  // wrew
    {{{}, {"MCP", "u64"}, {"MCP", "u64"}, {}}},  // connect
    {{{}, {"MCP", "u64"}, {"MCP", "u64"}, {}}},  // reuse
    {{{}, {}, {}, {}}},  // cache_lookups
    {{{}, {}, {}, {}}},  // cache_hits
    {{{}, {}, {"MGP", "u32"}, {}}},  // srv_icur
    {{{}, {}, {}, {}}},  // src_ilim
    {{{}, {"MMP", "u32"}, {"MMP", "u32"}, {}}},  // qtime_max
    {{{}, {"MMP", "u32"}, {"MMP", "u32"}, {}}},  // ctime_max
    {{{}, {"MMP", "u32"}, {"MMP", "u32"}, {}}},  // rtime_max
    {{{}, {"MMP", "u32"}, {"MMP", "u32"}, {}}},  // ttime_max
    {{{"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}}},  // eint
    {{{}, {}, {"MGP", "u32"}, {}}},  // idle_conn_cur
    {{{}, {}, {"MGP", "u32"}, {}}},  // safe_conn_cur
    {{{}, {}, {"MGP", "u32"}, {}}},  // used_conn_cur
    {{{}, {}, {"MGP", "u32"}, {}}},  // need_conn_est
    {{{}, {"MaP", "u32"}, {"MaP", "u32"}, {}}},  // uweight
    {{{}, {"MGP", "u32"}, {}, {}}},  // agg_server_status
    {{{}, {"MGP", "u32"}, {}, {}}},  // agg_server_check_status
    {{{}, {"MGP", "u32"}, {}, {}}},  // agg_check_status
    {{{}, {}, {}, {}}},  // -
    {{{"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}}},  // ssl_sess
    {{{"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}}},  // ssl_reused_sess
    {{{"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}, {"MCP", "u64"}}},  // ssl_failed_handshake
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_headers_rcvd
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_data_rcvd
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_settings_rcvd
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_rst_stream_rcvd
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_goaway_rcvd
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_detected_conn_protocol_errors
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_detected_strm_protocol_errors
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_rst_stream_resp
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_goaway_resp
    {{{"MGP", "u64"}, {"MGP", "u64"}, {}, {}}},  // h2_open_connections
    {{{"MGP", "u64"}, {"MGP", "u64"}, {}, {}}},  // h2_backend_open_streams
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_total_connections
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h2_backend_total_streams
    {{{"MGP", "u64"}, {"MGP", "u64"}, {}, {}}},  // h1_open_connections
    {{{"MGP", "u64"}, {"MGP", "u64"}, {}, {}}},  // h1_open_streams
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h1_total_connections
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h1_total_streams
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h1_bytes_in
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h1_bytes_out
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h1_spliced_bytes_in
    {{{"MCP", "u64"}, {"MCP", "u64"}, {}, {}}},  // h1_spliced_bytes_out
}};
// clang-format on


struct InfoField {
    int position;
    std::string_view name;
    std::string_view tags;
    std::string_view type;
};

// show info's fields with HAProxy's positions, tags and types; tierlb's own come after
// HAProxy's last (Tainted, 71).
// clang-format off
constexpr std::array<InfoField, 75> info_fields{{
    {0, "Name", "POS", "str"},
    {1, "Version", "POS", "str"},
    {2, "Release_date", "POS", "str"},
    {3, "Nbthread", "CGS", "u32"},
    {4, "Nbproc", "CGS", "u32"},
    {5, "Process_num", "KGP", "u32"},
    {6, "Pid", "SGP", "u32"},
    {7, "Uptime", "MDP", "str"},
    {8, "Uptime_sec", "MDP", "u32"},
    {9, "Memmax_MB", "CLP", "u32"},
    {10, "PoolAlloc_MB", "MGP", "u32"},
    {11, "PoolUsed_MB", "MGP", "u32"},
    {12, "PoolFailed", "MCP", "u32"},
    {13, "Ulimit-n", "CLP", "u32"},
    {14, "Maxsock", "CLP", "u32"},
    {15, "Maxconn", "CLP", "u32"},
    {16, "Hard_maxconn", "CLP", "u32"},
    {17, "CurrConns", "MGP", "u32"},
    {18, "CumConns", "MCP", "u32"},
    {19, "CumReq", "MCP", "u32"},
    {20, "MaxSslConns", "MMP", "u32"},
    {21, "CurrSslConns", "MGP", "u32"},
    {22, "CumSslConns", "MCP", "u32"},
    {23, "Maxpipes", "CLP", "u32"},
    {24, "PipesUsed", "MGP", "u32"},
    {25, "PipesFree", "MGP", "u32"},
    {26, "ConnRate", "MRP", "u32"},
    {27, "ConnRateLimit", "CLP", "u32"},
    {28, "MaxConnRate", "MMP", "u32"},
    {29, "SessRate", "MRP", "u32"},
    {30, "SessRateLimit", "CLP", "u32"},
    {31, "MaxSessRate", "MRP", "u32"},
    {32, "SslRate", "MRP", "u32"},
    {33, "SslRateLimit", "CLP", "u32"},
    {34, "MaxSslRate", "MMP", "u32"},
    {35, "SslFrontendKeyRate", "MGP", "u32"},
    {36, "SslFrontendMaxKeyRate", "MMP", "u32"},
    {37, "SslFrontendSessionReuse_pct", "MGP", "u32"},
    {38, "SslBackendKeyRate", "MRP", "u32"},
    {39, "SslBackendMaxKeyRate", "MMP", "u32"},
    {40, "SslCacheLookups", "MCP", "u32"},
    {41, "SslCacheMisses", "MCP", "u32"},
    {42, "CompressBpsIn", "MRP", "u32"},
    {43, "CompressBpsOut", "MRP", "u32"},
    {44, "CompressBpsRateLim", "CLP", "u32"},
    {45, "ZlibMemUsage", "MGP", "u32"},
    {46, "MaxZlibMemUsage", "CLP", "u32"},
    {47, "Tasks", "MGP", "u32"},
    {48, "Run_queue", "MGP", "u32"},
    {49, "Idle_pct", "MaP", "u32"},
    {50, "node", "COS", "str"},
    {51, "description", "COS", "str"},
    {52, "Stopping", "MGP", "u32"},
    {53, "Jobs", "MGP", "u32"},
    {54, "Unstoppable Jobs", "MGP", "u32"},
    {55, "Listeners", "MGP", "u32"},
    {56, "ActivePeers", "MGP", "u32"},
    {57, "ConnectedPeers", "MGP", "u32"},
    {58, "DroppedLogs", "MGP", "u32"},
    {59, "BusyPolling", "MGP", "u32"},
    {60, "FailedResolutions", "MGP", "u32"},
    {61, "TotalBytesOut", "MGP", "u64"},
    {62, "TotalSplicdedBytesOut", "MGP", "u64"},
    {63, "BytesOutRate", "MRP", "u64"},
    {64, "DebugCommandsIssued", "MGP", "u32"},
    {65, "CumRecvLogs", "MCP", "u32"},
    {66, "Build info", "POS", "str"},
    {67, "Memmax_bytes", "CLP", "u32"},
    {68, "PoolAlloc_bytes", "MGP", "u64"},
    {69, "PoolUsed_bytes", "MGP", "u64"},
    {70, "Start_time_sec", "MDP", "u32"},
    {71, "Tainted", "SGP", "str"},
    {72, "AcceptBalance", "COS", "str"},
    {73, "SslIdleOffloaded", "MCP", "u64"},
    {74, "SslIdleKept", "MCP", "u64"},
}};
// clang-format on

const InfoField* info_field(std::string_view name) {
    for (const InfoField& f : info_fields) {
        if (f.name == name) {
            return &f;
        }
    }
    return nullptr;
}

// The words of HAProxy's JSON for each tag letter.
std::string_view origin_word(char c) {
    switch (c) {
        case 'M': return "Metric";
        case 'S': return "Status";
        case 'K': return "Key";
        case 'C': return "Config";
        case 'P': return "Product";
    }
    return "Unknown";
}

std::string_view nature_word(char c) {
    switch (c) {
        case 'A': return "Age";
        case 'a': return "Avg";
        case 'C': return "Counter";
        case 'D': return "Duration";
        case 'G': return "Gauge";
        case 'L': return "Limit";
        case 'M': return "Max";
        case 'N': return "Name";
        case 'O': return "Output";
        case 'R': return "Rate";
        case 'T': return "Time";
    }
    return "Unknown";
}

std::string_view scope_word(char c) {
    switch (c) {
        case 'P': return "Process";
        case 'S': return "Service";
        case 's': return "System";
        case 'C': return "Cluster";
    }
    return "Unknown";
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
    return out;
}

// "tags":{...},"value":{...} of a field.
std::string json_tags_and_value(std::string_view tags, std::string_view type,
                                std::string_view value) {
    const bool number = type != "str";
    return fmt::format(
        "\"tags\":{{\"origin\":\"{}\",\"nature\":\"{}\",\"scope\":\"{}\"}},"
        "\"value\":{{\"type\":\"{}\",\"value\":{}}}",
        origin_word(tags[0]), nature_word(tags[1]), scope_word(tags[2]), type,
        number ? std::string(value) : json_string(value));
}

// The kind of a stats line by its type column: 0 frontend, 1 backend, 2 server, 3 listener.
std::size_t kind_of(const StatLine& line) {
    const std::string_view type = line["type"];
    return type == "1" ? 1 : type == "2" ? 2 : type == "3" ? 3 : 0;
}

constexpr std::array<char, 4> kind_letters{'F', 'B', 'S', 'L'};
constexpr std::array<std::string_view, 4> kind_names{"Frontend", "Backend", "Server",
                                                     "Listener"};

// The fields of LINE that have a value: HAProxy's position, the column's name, its type.
struct Field {
    std::size_t position;
    std::string_view name;
    FieldType type;
    std::string_view value;
};

std::vector<Field> fields_of(const StatLine& line) {
    const std::size_t kind = kind_of(line);
    const bool checked_server = kind == 2 && !line["check_status"].empty();
    std::vector<Field> fields;
    std::size_t position = 0;  // HAProxy's: the CSV's "-" column is no field
    for (std::size_t column = 0; column < line.values.size(); ++column) {
        const std::string_view name = stat_column_name(column);
        if (name == "-") {
            continue;
        }
        const std::size_t field_position = position++;
        const std::string& value = line.values[column];
        // A field with no value is not shown, except a checked server's last_chk: HAProxy
        // shows it empty after a check that had nothing to say (CSV cannot tell the two).
        if (value.empty() && !(checked_server && name == "last_chk")) {
            continue;
        }
        FieldType type = stat_field_types[column][kind];
        for (std::size_t other = 0; type.tags.empty() && other < 4; ++other) {
            type = stat_field_types[column][other];  // a field HAProxy shows for another kind
        }
        if (type.tags.empty()) {
            continue;
        }
        fields.push_back({field_position, name, type, value});
    }
    return fields;
}

// show info's text as (name, value) pairs, in its order.
std::vector<std::pair<std::string_view, std::string_view>> info_pairs(std::string_view info) {
    std::vector<std::pair<std::string_view, std::string_view>> pairs;
    while (!info.empty()) {
        const std::size_t end = info.find('\n');
        const std::string_view line = info.substr(0, end);
        info.remove_prefix(end == std::string_view::npos ? info.size() : end + 1);
        const std::size_t colon = line.find(": ");
        if (colon != std::string_view::npos) {
            pairs.emplace_back(line.substr(0, colon), line.substr(colon + 2));
        }
    }
    return pairs;
}

}  // namespace

std::string stat_typed(const std::vector<StatLine>& lines) {
    std::string out;
    for (const StatLine& line : lines) {
        const char kind = kind_letters[kind_of(line)];
        const std::string prefix =
            fmt::format("{}.{}.{}.", kind, line["iid"], line["sid"]);
        for (const Field& f : fields_of(line)) {
            out += fmt::format("{}{}.{}.{}:{}:{}:{}\n", prefix, f.position, f.name, line["pid"],
                               f.type.tags, f.type.type, f.value);
        }
    }
    return out;
}

std::string stat_json(const std::vector<StatLine>& lines) {
    std::string out = "[";
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const StatLine& line = lines[i];
        out += i == 0 ? "[" : ",[";
        const auto fields = fields_of(line);
        for (std::size_t j = 0; j < fields.size(); ++j) {
            const Field& f = fields[j];
            out += fmt::format(
                "{}{{\"objType\":\"{}\",\"proxyId\":{},\"id\":{},\"field\":{{\"pos\":{},"
                "\"name\":{}}},\"processNum\":{},{}}}",
                j == 0 ? "" : ",", kind_names[kind_of(line)], line["iid"], line["sid"],
                f.position, json_string(f.name), line["pid"],
                json_tags_and_value(f.type.tags, f.type.type, f.value));
        }
        out += "]";
    }
    out += "]\n";
    return out;
}

std::string info_typed(std::string_view info, int process) {
    std::string out;
    for (const auto& [name, value] : info_pairs(info)) {
        if (const InfoField* f = info_field(name)) {
            out += fmt::format("{}.{}.{}:{}:{}:{}\n", f->position, name, process, f->tags,
                               f->type, value);
        }
    }
    return out;
}

std::string info_json(std::string_view info, int process) {
    std::string out = "[";
    bool first = true;
    for (const auto& [name, value] : info_pairs(info)) {
        const InfoField* f = info_field(name);
        if (f == nullptr) {
            continue;
        }
        out += fmt::format("{}{{\"field\":{{\"pos\":{},\"name\":{}}},\"processNum\":{},{}}}",
                           first ? "" : ",", f->position, json_string(name), process,
                           json_tags_and_value(f->tags, f->type, value));
        first = false;
    }
    out += "]\n";
    return out;
}

}  // namespace tierlb::net
