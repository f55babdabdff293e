#include "common/net/stats_html.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "common/net/stats_snapshot.hpp"
#include "stats_fixture.hpp"

using stats_test::make_runtime;
using stats_test::reference_config;
using tierlb::balance::AdminState;
using tierlb::net::html_escape;
using tierlb::net::human_duration;
using tierlb::net::server_state_class;
using tierlb::net::stats_page;
using tierlb::net::StatsPageOptions;
using tierlb::net::take_snapshot;

namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::size_t count(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("html_escape leaves no markup and no control character", "[stats][html]") {
    auto [text, escaped] = GENERATE(table<std::string, std::string>({
        {"w1", "w1"},
        {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
        {"a&b", "a&amp;b"},
        {"\"onmouseover='x'", "&quot;onmouseover=&#39;x&#39;"},
        {"tab\tok", "tab\tok"},
        {std::string("nul\0x", 5), "nul&#xFFFD;x"},
        {"bell\x07", "bell&#xFFFD;"},
        {"del\x7f", "del&#xFFFD;"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
    }));
    CHECK(html_escape(text) == escaped);
}

TEST_CASE("the page shows every section and server with its state", "[stats][html]") {
    auto f = make_runtime(reference_config);
    f->backend("disp").set_up(1, false);
    const std::string page = stats_page(take_snapshot(f->runtime, {}, {}));
    CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(contains(page, "<meta http-equiv=\"refresh\" content=\"5\">"));
    CHECK(contains(page, "<caption>disp</caption>"));
    CHECK(contains(page, "<tr class=\"server up\" data-server=\"w1\">"));
    CHECK(contains(page, "<tr class=\"server down\" data-server=\"w2\">"));
    CHECK(contains(page, "<tr class=\"frontend\">"));
    CHECK(contains(page, "<tr class=\"backend\">"));
    CHECK(contains(page, "id=\"pid\">" + std::to_string(::getpid()) + "<"));
    CHECK(contains(page, "id=\"process\">1<"));
    // Self-contained: no script, no resource from elsewhere.
    CHECK(!contains(page, "<script"));
    CHECK(!contains(page, "http://"));
    CHECK(!contains(page, "https://"));
    CHECK(!contains(page, "src="));
    CHECK(page.substr(page.size() - 8) == "</html>\n");
}

TEST_CASE("the refresh period is the caller's", "[stats][html]") {
    auto f = make_runtime(reference_config);
    StatsPageOptions options;
    options.refresh_seconds = 0;
    CHECK(!contains(stats_page(take_snapshot(f->runtime, {}, {}), options), "http-equiv"));
    options.refresh_seconds = 30;
    CHECK(contains(stats_page(take_snapshot(f->runtime, {}, {}), options),
                   "<meta http-equiv=\"refresh\" content=\"30\">"));
}

TEST_CASE("names from the configuration are data, never markup", "[stats][html]") {
    auto f = make_runtime(
        "listen disp\n"
        "    bind 127.0.0.1:1\n"
        "    timeout client 1s\n"
        "    server \"<img src=x onerror=alert(1)>\" 127.0.0.1:2\n"
        "    server \"a\\\"b'&c\" 127.0.0.1:3\n");
    const std::string page = stats_page(take_snapshot(f->runtime, {}, {}));
    CHECK(!contains(page, "<img"));
    CHECK(contains(page, "&lt;img src=x onerror=alert(1)&gt;"));
    CHECK(contains(page, "data-server=\"a&quot;b&#39;&amp;c\""));
    CHECK(count(page, "<tr class=\"server") == 2);
}

TEST_CASE("state classes and durations", "[stats][html]") {
    auto [status, css] = GENERATE(table<std::string, std::string>({
        {"UP", "up"},
        {"UP 2/3", "going-down"},
        {"DOWN", "down"},
        {"DOWN 1/2", "going-up"},
        {"MAINT", "maint"},
        {"DRAIN", "drain"},
        {"DRAIN 1/3", "draining-down"},
        {"no check", "no-check"},
    }));
    CHECK(server_state_class(status) == css);
    CHECK(human_duration("0") == "0s");
    CHECK(human_duration("59") == "59s");
    CHECK(human_duration("187") == "3m07s");
    CHECK(human_duration("7500") == "2h05m");
    CHECK(human_duration("370800") == "4d07h");
}

TEST_CASE("a server in maintenance is coloured as such", "[stats][html]") {
    auto f = make_runtime(reference_config);
    f->backend("disp").set_admin(0, AdminState::maint);
    f->backend("disp").set_admin(1, AdminState::drain);
    const std::string page = stats_page(take_snapshot(f->runtime, {}, {}));
    CHECK(contains(page, "<tr class=\"server maint\" data-server=\"w1\">"));
    CHECK(contains(page, "<tr class=\"server drain\" data-server=\"w2\">"));
}
