#pragma once
// What one health check found, with HAProxy's names for it (include/haproxy/check-t.h and the
// check_statuses table of src/check.c, HAProxy 2.6):
//
//   status   short code (show stat check_status)   description (logs, "reason: ...")
//   ini      INI       Initializing                 before the first check has finished
//   sockerr  SOCKERR   Socket error                 no socket, or an I/O error after connect
//   l4ok     L4OK      Layer4 check passed          the connect (and PROXY header) succeeded
//   l4tout   L4TOUT    Layer4 timeout               the connect did not finish in time
//   l4con    L4CON     Layer4 connection problem    the connect failed (refused, unreachable)
//   l6ok     L6OK      Layer6 check passed          check-ssl: the TLS handshake succeeded
//   l6tout   L6TOUT    Layer6 timeout               check-ssl: the handshake did not finish
//   l6rsp    L6RSP     Layer6 invalid response      check-ssl: the handshake failed
//   l7ok     L7OK      Layer7 check passed          (unused by TCP checks; carries a code)
//   l7sts    L7STS     Layer7 wrong status          (unused by TCP checks; carries a code)
//
// The info text is what HAProxy prints as `info: "..."`: for a TCP check, strerror(errno) of
// a failed connect ("Connection refused"); empty for a timeout and for a success.

#include <chrono>
#include <cstddef>
#include <string>

namespace tierlb::health {

// l7tout and l7rsp answer a hand-off worker's check over its control connection.
enum class CheckStatus {
    ini,
    sockerr,
    l4ok,
    l4tout,
    l4con,
    l6ok,
    l6tout,
    l6rsp,
    l7ok,
    l7sts,
    l7tout,
    l7rsp
};

// HAProxy's CHK_RES_*: what a status does to the health counter.
enum class CheckResult { unknown, passed, failed };

CheckResult result_of(CheckStatus status);
bool is_success(CheckStatus status);

// "L4CON", as shown in show stat's check_status column.
const char* short_code(CheckStatus status);

// "Layer4 connection problem", as logged after "reason: ".
const char* description(CheckStatus status);

// Layer 7 statuses carry a response code that the logs print as ", code: N".
bool has_code(CheckStatus status);

// HAProxy keeps the info in a 128-byte buffer (HCHK_DESC_LEN): longer texts are cut to 127.
inline constexpr std::size_t max_info_length = 127;

// One finished check, as the runtime reports it.
struct CheckOutcome {
    CheckStatus status = CheckStatus::ini;
    std::chrono::milliseconds duration{0};
    std::string info;  // e.g. "Connection refused"; may be empty
    int code = 0;      // only for has_code(status)
    // The check could not even start here: this process is out of descriptors (or memory).
    // It says nothing about the server, whose state stays as it is (see CheckState::record).
    bool local_error = false;
};

}  // namespace tierlb::health
