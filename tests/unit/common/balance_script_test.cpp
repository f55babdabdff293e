// Table-driven scripts of events and the choices each must give, per algorithm.
//
// Servers: one token per server, in configuration order: the weight, then flags:
//   c<N> maxconn N, b backup, x down at start, m maint at start (`disabled`).
//   "2c10b" = weight 2, maxconn 10, backup.
// Script tokens, run in order:
//   T<n>  take() gives server n          T-  take() is saturated    T!  take() is none
//   H<h>:<n>  take(hash h) gives n       H<h>:-  saturated          H<h>:!  none
//   S<n>  take_server(n) succeeds        S<n>-  take_server(n) is refused
//   R<n>  release(n)
//   D<n> / U<n>  server n down / up
//   N<n> / M<n> / A<n>  admin drain / maint / ready
//   W<n>=<w>  set weight                 L<n>=<k>  load(n) is k
//   C<a>/<b>  a active and b backup servers in service

#include <catch2/catch.hpp>
#include <cctype>
#include <sstream>
#include <string>
#include <vector>

#include "common/balance/balancer.hpp"

using tierlb::balance::AdminState;
using tierlb::balance::Algorithm;
using tierlb::balance::Balancer;
using tierlb::balance::Pick;
using tierlb::balance::PickStatus;
using tierlb::balance::ServerParams;

namespace {

struct Case {
    const char* name;
    const char* servers;
    const char* script;
};

unsigned read_number(const std::string& text, std::size_t& at) {
    std::size_t used = 0;
    const unsigned long value = std::stoul(text.substr(at), &used);
    at += used;
    return static_cast<unsigned>(value);
}

std::vector<ServerParams> parse_servers(const std::string& spec) {
    std::vector<ServerParams> servers;
    std::istringstream in(spec);
    std::string token;
    while (in >> token) {
        ServerParams p;
        std::size_t at = 0;
        p.weight = read_number(token, at);
        while (at < token.size()) {
            const char flag = token[at++];
            if (flag == 'c') {
                p.maxconn = read_number(token, at);
            } else if (flag == 'b') {
                p.backup = true;
            } else if (flag == 'x') {
                p.up = false;
            } else if (flag == 'm') {
                p.admin = AdminState::maint;
            } else {
                FAIL("bad server flag in '" << token << "'");
            }
        }
        servers.push_back(p);
    }
    return servers;
}

// "3" -> chosen 3, "-" -> saturated, "!" -> none.
void check_pick(const Pick& pick, const std::string& expected) {
    if (expected == "-") {
        CHECK(pick.status == PickStatus::saturated);
    } else if (expected == "!") {
        CHECK(pick.status == PickStatus::none);
    } else {
        REQUIRE(pick.status == PickStatus::chosen);
        CHECK(pick.server == std::stoul(expected));
    }
}

void run_step(Balancer& b, const std::string& step) {
    const char op = step[0];
    std::size_t at = 1;
    if (op == 'T') {
        check_pick(b.take(), step.substr(1));
        return;
    }
    if (op == 'H') {
        const std::uint32_t hash = read_number(step, at);
        REQUIRE(step.at(at) == ':');
        check_pick(b.take(hash), step.substr(at + 1));
        return;
    }
    const std::size_t server = read_number(step, at);
    const std::string rest = step.substr(at);
    switch (op) {
        case 'S':
            CHECK(b.take_server(server) == rest.empty());
            break;
        case 'R':
            b.release(server);
            break;
        case 'D':
        case 'U':
            b.set_up(server, op == 'U');
            break;
        case 'N':
            b.set_admin(server, AdminState::drain);
            break;
        case 'M':
            b.set_admin(server, AdminState::maint);
            break;
        case 'A':
            b.set_admin(server, AdminState::ready);
            break;
        case 'W':
            b.set_weight(server, static_cast<unsigned>(std::stoul(rest.substr(1))));
            break;
        case 'L':
            CHECK(b.load(server) == std::stoul(rest.substr(1)));
            break;
        case 'C':
            CHECK(b.active_usable_count() == server);
            CHECK(b.backup_usable_count() == std::stoul(rest.substr(1)));
            break;
        default:
            FAIL("bad script step '" << step << "'");
    }
}

void run(Algorithm algorithm, const Case& c) {
    CAPTURE(c.name, c.servers, c.script);
    auto balancer = Balancer::create(algorithm, parse_servers(c.servers));
    std::istringstream in(c.script);
    std::string step;
    int index = 0;
    while (in >> step) {
        CAPTURE(index, step);
        run_step(*balancer, step);
        ++index;
    }
}

}  // namespace

TEST_CASE("leastconn scripts", "[balance]") {
    const Case c = GENERATE(values<Case>({
        {"idle equal servers rotate", "1 1 1", "T0 T1 T2 T0 T1 T2 L0=2 L1=2 L2=2"},
        {"a release puts the server first, then last among equals", "1 1 1",
         "T0 T1 T2 R1 T1 T0 T2 T1"},
        {"the last repositioned goes last among equals", "1 1 1",
         "T0 T1 T2 T0 T1 T2 R0 R2 R1 T0 T2 T1"},
        {"a down server keeps its count and comes back placed by it", "1 1 1",
         "T0 T1 T2 D1 C2/0 L1=1 T0 T2 T0 T2 U1 C3/0 T1 T1 T0 T2 T1"},
        {"a release on a down server is counted", "1 1", "T0 T1 D1 R1 L1=0 T0 U1 T1 T1 T0 T1"},
        {"drain keeps connections and takes none", "1 1 1",
         "T0 T1 T2 N1 C2/0 L1=1 T0 T2 T0 T2 A1 T1 T1 T0 T2 T1"},
        {"weight 0 is drain", "1 1", "T0 T1 W1=0 C1/0 T0 T0 L1=1 W1=1 T1 T1 T0 T1"},
        {"maint", "1 1", "T0 M0 T1 T1 R0 L0=0 A0 T0 T0 T1 T0"},
        {"disabled at start is maint", "1m 1", "C1/0 T1 T1 A0 T0 T0 T1"},
        {"weights 2 and 1: (load+1)/weight, ties to the older", "2 1", "T0 T1 T0 T0 T1 T0 T0 T1"},
        {"an idle server is 0 whatever its weight; then 64 vs 512 per connection", "1 4",
         "T0 T1 T1 T1 T1 T1 T1 T1 T0"},
        {"a weight change repositions", "1 1", "T0 T1 T0 T1 W1=2 T1 T1 T1 T0"},
        {"a full server is skipped; all full is saturated", "1c1 1c2",
         "T0 T1 T1 T- R0 T0 T- R1 T1 T-"},
        {"take_server repositions like a take", "1 1 1", "S0 T1 T2 T0"},
        {"take_server refuses a full, down or drained server", "1 1c1",
         "S1 S1- L1=1 T0 T0 R1 S1 D0 S0- U0 N0 S0- A0 S0"},
        {"nothing in service is none", "1 1", "D0 D1 C0/0 T! U0 T0"},
    }));
    run(Algorithm::leastconn, c);
}

TEST_CASE("roundrobin scripts", "[balance]") {
    const Case c = GENERATE(values<Case>({
        {"equal weights rotate", "1 1 1", "T0 T1 T2 T0 T1 T2"},
        {"weights 3 and 1 interleave: a b a a, b every fourth", "3 1", "T0 T1 T0 T0 T0 T1 T0 T0"},
        {"weights 2 and 1 interleave: a b a", "2 1", "T0 T1 T0 T0 T1 T0"},
        {"a down server is skipped, and rejoins the current round", "1 1 1",
         "T0 D1 T2 T0 T2 U1 T0 T1 T2 T0 T1 T2"},
        {"full servers are skipped; all full is saturated", "1c1 1c1",
         "T0 T1 T- R1 T1 T- R0 T0 T-"},
        {"weight 0 leaves the rotation, weight 1 rejoins it from now", "1 1",
         "T0 W0=0 T1 T1 W0=1 T1 T0 T1 T0"},
        {"drain and maint are skipped; equal deadlines go by index", "1 1 1",
         "N0 M1 T2 T2 A0 T0 T2 A1 T0 T1 T2"},
        {"loads are counted", "1 1", "T0 T1 T0 L0=2 L1=1 R0 L0=1"},
    }));
    run(Algorithm::roundrobin, c);
}

TEST_CASE("first scripts", "[balance]") {
    const Case c = GENERATE(values<Case>({
        {"servers fill in order", "1c2 1c2 1", "T0 T0 T1 T1 T2 T2 T2 R0 T0 R1 R0 T0 T1"},
        {"without maxconn the first takes everything", "1 1", "T0 T0 T0 D0 T1 T1 U0 T0"},
        {"all full is saturated", "1c1 1c1", "T0 T1 T- R1 T1 T-"},
        {"drain and weight 0 are skipped", "1 1", "N0 T1 A0 T0 W0=0 T1 W0=5 T0"},
    }));
    run(Algorithm::first, c);
}

TEST_CASE("source scripts", "[balance]") {
    const Case c = GENERATE(values<Case>({
        {"equal servers: slot = hash % 3", "1 1 1", "H0:0 H1:1 H2:2 H3:0 H5:2"},
        {"weights 3 and 1: HAProxy's map is [0 0 0 1]", "3 1", "H0:0 H1:0 H2:0 H3:1 H7:1"},
        {"weights reduced by their GCD: 2 and 4 map as [0 1 1]", "2 4", "H3:0 H4:1 H5:1 H6:0"},
        {"a down server remaps over the others: [0 2]", "1 1 1",
         "H1:1 D1 H1:2 H2:0 H3:2 U1 H1:1 H2:2"},
        {"a weight change remaps: [0 1 1 1]", "1 1", "H1:1 H2:0 W1=3 H1:1 H2:1 H4:0 H5:1"},
        {"a full server makes its clients wait", "1c1 1", "H0:0 H0:- H1:1 R0 H0:0"},
        {"without a hash: round robin over the map, skipping full", "1c1 1 1", "T0 T1 T2 T1 T2 T1"},
        {"nothing in service is none", "1x 1m", "H7:! T!"},
    }));
    run(Algorithm::source, c);
}

// The backup rule lives in the base class: every algorithm must follow it.
TEST_CASE("backup servers: only when no active is in service, and only the first", "[balance]") {
    const Algorithm algorithm =
        GENERATE(Algorithm::roundrobin, Algorithm::leastconn, Algorithm::source, Algorithm::first);
    CAPTURE(static_cast<int>(algorithm));
    const Case c = GENERATE(values<Case>({
        {"backups wait while an active is in service", "1 1b 1b",
         "C1/2 T0 T0 D0 C0/2 T1 T1 T1 D1 T2 U1 T1 U0 T0"},
        {"a backup coming back before the current first takes over", "1x 1b 1b",
         "T1 D1 T2 U1 T1 C0/2"},
        {"a full first backup means waiting, not the next backup", "1x 1bc1 1b", "T1 T- R1 T1"},
        {"actives at maxconn do not open the backups", "1c1 1b", "T0 T- R0 T0"},
        {"drain, maint and weight 0 on the active open the backups", "1 1b",
         "N0 T1 A0 T0 M0 T1 A0 T0 W0=0 T1 W0=1 T0"},
        {"a connection on a backup stays counted", "1 1b", "D0 T1 U0 T0 L1=1 R1 L1=0"},
        {"take_server may pick a backup explicitly", "1 1b", "S1 L1=1 T0"},
        {"everything down is none", "1x 1bx", "C0/0 T! H5:! U1 T1 H5:1"},
        {"disabled at start is maint", "1m 1b", "T1 A0 T0"},
    }));
    run(algorithm, c);
}
