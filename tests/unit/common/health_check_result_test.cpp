#include "common/health/check_result.hpp"

#include <catch2/catch.hpp>
#include <string>

using tierlb::health::CheckResult;
using tierlb::health::CheckStatus;

TEST_CASE("check statuses carry HAProxy's codes, descriptions and results", "[health]") {
    struct Case {
        CheckStatus status;
        const char* code;
        const char* description;
        CheckResult result;
        bool has_code;
    };
    auto c = GENERATE(values<Case>({
        {CheckStatus::ini, "INI", "Initializing", CheckResult::unknown, false},
        {CheckStatus::sockerr, "SOCKERR", "Socket error", CheckResult::failed, false},
        {CheckStatus::l4ok, "L4OK", "Layer4 check passed", CheckResult::passed, false},
        {CheckStatus::l4tout, "L4TOUT", "Layer4 timeout", CheckResult::failed, false},
        {CheckStatus::l4con, "L4CON", "Layer4 connection problem", CheckResult::failed, false},
        {CheckStatus::l6ok, "L6OK", "Layer6 check passed", CheckResult::passed, false},
        {CheckStatus::l6tout, "L6TOUT", "Layer6 timeout", CheckResult::failed, false},
        {CheckStatus::l6rsp, "L6RSP", "Layer6 invalid response", CheckResult::failed, false},
        {CheckStatus::l7ok, "L7OK", "Layer7 check passed", CheckResult::passed, true},
        {CheckStatus::l7sts, "L7STS", "Layer7 wrong status", CheckResult::failed, true},
        {CheckStatus::l7tout, "L7TOUT", "Layer7 timeout", CheckResult::failed, true},
        {CheckStatus::l7rsp, "L7RSP", "Layer7 invalid response", CheckResult::failed, true},
    }));
    CAPTURE(c.code);
    CHECK(std::string(tierlb::health::short_code(c.status)) == c.code);
    CHECK(std::string(tierlb::health::description(c.status)) == c.description);
    CHECK(tierlb::health::result_of(c.status) == c.result);
    CHECK(tierlb::health::is_success(c.status) == (c.result == CheckResult::passed));
    CHECK(tierlb::health::has_code(c.status) == c.has_code);
}
