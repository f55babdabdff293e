#include "common/net/stats_metrics.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>

#include "common/net/stats_snapshot.hpp"
#include "prometheus_text.hpp"
#include "stats_fixture.hpp"

using namespace std::chrono_literals;
using prometheus_text::Families;
using stats_test::make_runtime;
using stats_test::reference_config;
using tierlb::balance::AdminState;
using tierlb::health::CheckOutcome;
using tierlb::health::CheckParams;
using tierlb::health::CheckState;
using tierlb::health::CheckStatus;
using tierlb::net::BackendRuntime;
using tierlb::net::CheckLookup;
using tierlb::net::Clock;
using tierlb::net::label_value;
using tierlb::net::metrics_text;
using tierlb::net::take_snapshot;

namespace {

Families metrics_of(stats_test::Fixture& f, const CheckLookup& checks = {}) {
    const std::string text = metrics_text(take_snapshot(f.runtime, {}, checks));
    INFO(text);
    try {
        return prometheus_text::parse(text);
    } catch (const std::runtime_error& e) {
        FAIL("not valid exposition text: " << e.what());
        throw;
    }
}

std::map<std::string, std::string> server(const std::string& name) {
    return {{"proxy", "disp"}, {"server", name}};
}

std::map<std::string, std::string> with_state(std::map<std::string, std::string> labels,
                                              const std::string& state) {
    labels["state"] = state;
    return labels;
}

// The state whose sample is 1 among tierlb_server_status's.
std::string server_state(const Families& m, const std::string& name) {
    std::string found;
    for (const auto* state : {"UP", "DOWN", "MAINT", "DRAIN"}) {
        if (prometheus_text::value(m, "tierlb_server_status", with_state(server(name), state)) ==
            1) {
            CHECK(found.empty());
            found = state;
        }
    }
    return found;
}

}  // namespace

TEST_CASE("metrics read back strictly, with HAProxy's names under tierlb_", "[stats][metrics]") {
    auto f = make_runtime(reference_config);
    auto& disp = f->backend("disp");
    REQUIRE(disp.take_server(0));  // one connection on w1 now, counted in its sessions
    disp.server(0).stats.traffic.bytes_in = 1234;
    disp.server(1).stats.traffic.bytes_out = 99;
    f->frontend("disp").stats.traffic.opened();
    const Families m = metrics_of(*f);

    CHECK(m.at("tierlb_server_current_sessions").type == "gauge");
    CHECK(m.at("tierlb_server_bytes_in_total").type == "counter");
    CHECK(!m.at("tierlb_server_bytes_in_total").help.empty());
    CHECK(prometheus_text::value(m, "tierlb_server_current_sessions", server("w1")) == 1);
    CHECK(prometheus_text::value(m, "tierlb_server_sessions_total", server("w1")) == 1);
    CHECK(prometheus_text::value(m, "tierlb_server_bytes_in_total", server("w1")) == 1234);
    CHECK(prometheus_text::value(m, "tierlb_server_bytes_out_total", server("w2")) == 99);
    CHECK(prometheus_text::value(m, "tierlb_frontend_current_sessions", {{"proxy", "disp"}}) == 1);
    CHECK(prometheus_text::value(m, "tierlb_frontend_status",
                                 {{"proxy", "disp"}, {"state", "UP"}}) == 1);
    CHECK(prometheus_text::value(m, "tierlb_backend_status",
                                 {{"proxy", "disp"}, {"state", "UP"}}) == 1);
    CHECK(prometheus_text::value(m, "tierlb_backend_active_servers", {{"proxy", "disp"}}) == 2);
    CHECK(prometheus_text::value(m, "tierlb_process_relative_process_id") == 1);
    CHECK(prometheus_text::value(m, "tierlb_process_pid") == ::getpid());
    CHECK(prometheus_text::has_sample(m, "tierlb_process_uptime_seconds", {}));
    CHECK(m.at("tierlb_process_build_info").samples.size() == 1);
    CHECK(m.at("tierlb_process_build_info").samples[0].labels.count("version") == 1);
    // Every family is tierlb's.
    for (const auto& [name, family] : m) {
        CHECK(name.rfind("tierlb_", 0) == 0);
    }
}

TEST_CASE("a server's state is the one show stat shows", "[stats][metrics]") {
    auto f = make_runtime(reference_config);
    auto& disp = f->backend("disp");
    CHECK(server_state(metrics_of(*f), "w1") == "UP");
    CHECK(server_state(metrics_of(*f), "w2") == "UP");  // "no check" is UP, as in HAProxy

    disp.set_up(0, false);
    CHECK(server_state(metrics_of(*f), "w1") == "DOWN");
    disp.set_admin(1, AdminState::maint);
    CHECK(server_state(metrics_of(*f), "w2") == "MAINT");
    disp.set_admin(1, AdminState::drain);
    CHECK(server_state(metrics_of(*f), "w2") == "DRAIN");
    disp.set_up(1, false);
    disp.set_admin(1, AdminState::ready);
    const Families m = metrics_of(*f);
    CHECK(prometheus_text::value(m, "tierlb_backend_status",
                                 {{"proxy", "disp"}, {"state", "DOWN"}}) == 1);
}

TEST_CASE("checked servers have their last check's status, code and duration", "[stats][metrics]") {
    auto f = make_runtime(reference_config);
    const auto t0 = Clock::now();
    CheckState state(CheckParams{}, t0);
    state.record(CheckOutcome{CheckStatus::l4con, 7ms, "Connection refused", 0}, t0);
    const CheckLookup checks = [&](const BackendRuntime&, std::size_t) {
        return std::optional<CheckState>(state);
    };
    const Families m = metrics_of(*f, checks);
    CHECK(prometheus_text::value(m, "tierlb_server_check_status",
                                 with_state(server("w1"), "L4CON")) == 1);
    CHECK(prometheus_text::value(m, "tierlb_server_check_status",
                                 with_state(server("w1"), "L4OK")) == 0);
    CHECK(prometheus_text::value(m, "tierlb_server_check_duration_seconds", server("w1")) ==
          Approx(0.007));
    CHECK(prometheus_text::value(m, "tierlb_server_check_failures_total", server("w1")) == 1);
    // w2 has no `check`: no check samples rather than invented ones.
    CHECK(!prometheus_text::has_sample(m, "tierlb_server_check_status",
                                       with_state(server("w2"), "L4OK")));
    CHECK(!prometheus_text::has_sample(m, "tierlb_server_check_duration_seconds", server("w2")));
    CHECK(server_state(m, "w1") == "DOWN");
}

TEST_CASE("hostile names are escaped in label values", "[stats][metrics]") {
    SECTION("the format's three escapes") {
        CHECK(label_value("plain-name_1.2:3") == "plain-name_1.2:3");
        CHECK(label_value("a\\b") == "a\\\\b");
        CHECK(label_value("a\"b") == "a\\\"b");
        CHECK(label_value("a\nb") == "a\\nb");
        CHECK(label_value("\\\"\n") == "\\\\\\\"\\n");
    }
    SECTION("UTF-8 passes, invalid bytes become U+FFFD") {
        CHECK(label_value("caf\xc3\xa9") == "caf\xc3\xa9");
        CHECK(label_value("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");
        CHECK(label_value("a\xff") == "a\xef\xbf\xbd");
        CHECK(label_value("\xc0\xaf") == "\xef\xbf\xbd\xef\xbf\xbd");  // overlong '/'
        CHECK(label_value("\xed\xa0\x80") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
        CHECK(label_value("\xe2\x82") == "\xef\xbf\xbd\xef\xbf\xbd");                  // cut short
    }
    SECTION("a server named with quotes and backslashes reads back as it is") {
        auto f = make_runtime(
            "listen disp\n"
            "    bind 127.0.0.1:1\n"
            "    timeout client 1s\n"
            "    server \"s\\\"<b>\\\\\" 127.0.0.1:2\n");
        const std::string name = f->backend("disp").server(0).config->name;
        REQUIRE(name == "s\"<b>\\");
        const Families m = metrics_of(*f);
        CHECK(prometheus_text::value(m, "tierlb_server_current_sessions", server(name)) == 0);
    }
    SECTION("help texts escape backslash and line feed") {
        CHECK(tierlb::net::help_text("a\\b\nc") == "a\\\\b\\nc");
    }
}
