#include "common/health/check_result.hpp"

#include <cstddef>
#include <iterator>

namespace tierlb::health {

namespace {

struct StatusText {
    CheckResult result;
    const char* code;
    const char* description;
};

// Indexed by CheckStatus; the texts are HAProxy's, byte for byte, because operators grep for
// them and tools parse them.
constexpr StatusText status_texts[] = {
    {CheckResult::unknown, "INI", "Initializing"},
    {CheckResult::failed, "SOCKERR", "Socket error"},
    {CheckResult::passed, "L4OK", "Layer4 check passed"},
    {CheckResult::failed, "L4TOUT", "Layer4 timeout"},
    {CheckResult::failed, "L4CON", "Layer4 connection problem"},
    {CheckResult::passed, "L6OK", "Layer6 check passed"},
    {CheckResult::failed, "L6TOUT", "Layer6 timeout"},
    {CheckResult::failed, "L6RSP", "Layer6 invalid response"},
    {CheckResult::passed, "L7OK", "Layer7 check passed"},
    {CheckResult::failed, "L7STS", "Layer7 wrong status"},
    {CheckResult::failed, "L7TOUT", "Layer7 timeout"},
    {CheckResult::failed, "L7RSP", "Layer7 invalid response"},
};

static_assert(std::size(status_texts) == static_cast<std::size_t>(CheckStatus::l7rsp) + 1,
              "one entry per CheckStatus");

const StatusText& text_of(CheckStatus status) {
    return status_texts[static_cast<std::size_t>(status)];
}

}  // namespace

CheckResult result_of(CheckStatus status) {
    return text_of(status).result;
}

bool is_success(CheckStatus status) {
    return result_of(status) == CheckResult::passed;
}

const char* short_code(CheckStatus status) {
    return text_of(status).code;
}

const char* description(CheckStatus status) {
    return text_of(status).description;
}

bool has_code(CheckStatus status) {
    // HAProxy: status >= HCHK_STATUS_L57DATA, i.e. the layer 7 ones.
    return status >= CheckStatus::l7ok;
}

}  // namespace tierlb::health
