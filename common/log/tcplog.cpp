#include "common/log/tcplog.hpp"

#include <spdlog/fmt/fmt.h>

#include <ctime>

namespace tierlb::log {

std::string format_accept_date(std::chrono::system_clock::time_point t) {
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto seconds = std::chrono::system_clock::to_time_t(t);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm tm{};
    localtime_r(&seconds, &tm);
    return fmt::format("{:02d}/{}/{:04d}:{:02d}:{:02d}:{:02d}.{:03d}", tm.tm_mday,
                       months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

std::string format_tcplog(const TcpLogFields& f) {
    return fmt::format("{}:{} [{}] {}{} {}/{} {}/{}/{} {} {}{} {}/{}/{}/{}/{}{} {}/{}",
                       f.client_host, f.client_port, format_accept_date(f.accepted), f.frontend,
                       f.frontend_ssl ? "~" : "", f.backend, f.server, f.wait_ms, f.connect_ms,
                       f.total_ms, f.bytes_to_client, f.termination[0], f.termination[1], f.actconn,
                       f.feconn, f.beconn, f.srv_conn, f.redispatched ? "+" : "", f.retries,
                       f.srv_queue, f.backend_queue);
}

std::string format_connect_line(std::string_view client, std::string_view local,
                                std::string_view frontend) {
    return fmt::format("Connect from {} to {} ({}/TCP)", client, local, frontend);
}

}  // namespace tierlb::log
