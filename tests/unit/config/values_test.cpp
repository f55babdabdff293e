#include "config/values.hpp"

#include <catch2/catch.hpp>

#include "config/model.hpp"

using namespace tierlb::config;
using std::chrono::milliseconds;

TEST_CASE("times take us ms s m h d, default ms", "[config][values]") {
    struct Case {
        const char* text;
        long long ms;
    };
    auto c = GENERATE(values<Case>({
        {"0", 0},
        {"10", 10},
        {"10ms", 10},
        {"2s", 2000},
        {"1m", 60000},
        {"1h", 3600000},
        {"1d", 86400000},
        {"1us", 1},
        {"1500us", 2},
        {"1000us", 1},
        {"24d", 24LL * 86400000},
        {"2147483647", 2147483647},
    }));
    CAPTURE(c.text);
    auto t = parse_time(c.text);
    REQUIRE(t.has_value());
    CHECK(t->count() == c.ms);
}

TEST_CASE("bad times are rejected", "[config][values]") {
    auto text = GENERATE(as<std::string>{}, "", "s", "10x", "10 s", "-1", "1.5s", "10sec", "25d",
                         "2147483648", "99999999999");
    CAPTURE(text);
    auto t = parse_time(text);
    REQUIRE_FALSE(t.has_value());
    CHECK((t.error().find("invalid time") != std::string::npos ||
           t.error().find("too large") != std::string::npos));
}

TEST_CASE("integers are checked against their range", "[config][values]") {
    CHECK(*parse_uint("0", 0, 10) == 0);
    CHECK(*parse_uint("10", 0, 10) == 10);
    auto bad = GENERATE(as<std::string>{}, "11", "-1", "+1", "1x", "", " 1", "0x10");
    CAPTURE(bad);
    auto v = parse_uint(bad, 0, 10);
    REQUIRE_FALSE(v.has_value());
    CHECK_THAT(v.error(), Catch::Contains("expected an integer from 0 to 10"));
}

TEST_CASE("modes are octal", "[config][values]") {
    CHECK(*parse_octal_mode("0660") == 0660);
    CHECK(*parse_octal_mode("600") == 0600);
    CHECK_FALSE(parse_octal_mode("0680").has_value());
    CHECK_FALSE(parse_octal_mode("17777").has_value());
    CHECK_FALSE(parse_octal_mode("rw").has_value());
}

TEST_CASE("process sets", "[config][values]") {
    CHECK(parse_process_set("1")->numbers() == std::vector<int>{1});
    CHECK(parse_process_set("2-4")->numbers() == std::vector<int>{2, 3, 4});
    CHECK(parse_process_set("1,3,5-6")->numbers() == std::vector<int>{1, 3, 5, 6});
    CHECK(parse_process_set("64")->numbers() == std::vector<int>{64});
    CHECK(parse_process_set("all")->is_all());
    CHECK(parse_process_set("odd")->count() == 32);
    CHECK(parse_process_set("even")->contains(64));
    auto bad = GENERATE(as<std::string>{}, "0", "65", "3-2", "a", "", "1,", "1-", "-3");
    CAPTURE(bad);
    auto s = parse_process_set(bad);
    REQUIRE_FALSE(s.has_value());
    CHECK_THAT(s.error(), Catch::Contains("invalid process set"));
}

TEST_CASE("CPU lists", "[config][values]") {
    CHECK(*parse_cpu_list("0") == std::vector<int>{0});
    CHECK(*parse_cpu_list("0-2,1,5") == std::vector<int>{0, 1, 2, 5});
    CHECK_FALSE(parse_cpu_list("1024").has_value());
    CHECK_FALSE(parse_cpu_list("x").has_value());
}

TEST_CASE("TLS versions", "[config][values]") {
    CHECK(*parse_tls_version("TLSv1.2") == TlsVersion::tlsv12);
    CHECK(*parse_tls_version("TLSv1.3") == TlsVersion::tlsv13);
    CHECK_THAT(parse_tls_version("TLSv1.1").error(), Catch::Contains("insecure"));
    CHECK_THAT(parse_tls_version("tls13").error(), Catch::Contains("expected TLSv1.2 or TLSv1.3"));
}

TEST_CASE("typos get a suggestion, unrelated words do not", "[config][values]") {
    const std::vector<std::string_view> names{"balance", "bind", "server", "timeout"};
    CHECK(closest_name("blance", names) == "balance");
    CHECK(closest_name("sever", names) == "server");
    CHECK(closest_name("timout", names) == "timeout");
    CHECK(closest_name("frobnicate", names).empty());
}
