#include "common/net/stats_typed.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "stats_fixture.hpp"

using stats_test::make_runtime;
using stats_test::reference_config;
using tierlb::net::info_json;
using tierlb::net::info_typed;
using tierlb::net::stat_json;
using tierlb::net::stat_lines;
using tierlb::net::stat_typed;

TEST_CASE("show stat typed: HAProxy's positions, tags and types, fields with a value only",
          "[stats][typed]") {
    auto f = make_runtime(reference_config);
    const std::string typed = stat_typed(stat_lines(f->runtime));
    CHECK(typed.starts_with("F.1.0.0.pxname.1:KNS:str:disp\nF.1.0.1.svname.1:KNS:str:FRONTEND\n"
                            "F.1.0.4.scur.1:MGP:u32:0\n"));  // qcur, qmax: no value
    // The CSV's "-" is no field: ssl_sess, its column 104, is position 103.
    CHECK(typed.find("F.1.0.103.ssl_sess.1:MCP:u64:0\n") != std::string::npos);
    CHECK(typed.find(".-.") == std::string::npos);
    CHECK(typed.find("S.1.1.17.status.1:SGP:str:") != std::string::npos);
    CHECK(typed.find("S.1.2.55.lastsess.1:MAP:s32:-1\n") != std::string::npos);
    CHECK(typed.find("B.1.0.76.algo.1:CGS:str:leastconn\n") != std::string::npos);
}

TEST_CASE("show stat json: one array of fields per line, in one array", "[stats][json]") {
    auto f = make_runtime(reference_config);
    const std::string json = stat_json(stat_lines(f->runtime));
    CHECK(json.starts_with(
        "[[{\"objType\":\"Frontend\",\"proxyId\":1,\"id\":0,\"field\":{\"pos\":0,\"name\":"
        "\"pxname\"},\"processNum\":1,\"tags\":{\"origin\":\"Key\",\"nature\":\"Name\","
        "\"scope\":\"Service\"},\"value\":{\"type\":\"str\",\"value\":\"disp\"}},"));
    CHECK(json.find("\"name\":\"scur\"},\"processNum\":1,\"tags\":{\"origin\":\"Metric\","
                    "\"nature\":\"Gauge\",\"scope\":\"Process\"},\"value\":{\"type\":\"u32\","
                    "\"value\":0}}") != std::string::npos);
    CHECK(json.find("],[{\"objType\":\"Server\"") != std::string::npos);
    CHECK(json.ends_with("}]]\n"));
}

TEST_CASE("show info typed and json: known fields at HAProxy's positions", "[stats][typed]") {
    const std::string info = "Name: tierlb\nNot_a_field: 7\nUptime_sec: 5\nnode: a\"b\\c\n";
    CHECK(info_typed(info, 2) ==
          "0.Name.2:POS:str:tierlb\n8.Uptime_sec.2:MDP:u32:5\n50.node.2:COS:str:a\"b\\c\n");
    CHECK(info_json(info, 2) ==
          "[{\"field\":{\"pos\":0,\"name\":\"Name\"},\"processNum\":2,\"tags\":{\"origin\":"
          "\"Product\",\"nature\":\"Output\",\"scope\":\"Service\"},\"value\":{\"type\":\"str\","
          "\"value\":\"tierlb\"}},{\"field\":{\"pos\":8,\"name\":\"Uptime_sec\"},\"processNum\":"
          "2,\"tags\":{\"origin\":\"Metric\",\"nature\":\"Duration\",\"scope\":\"Process\"},"
          "\"value\":{\"type\":\"u32\",\"value\":5}},{\"field\":{\"pos\":50,\"name\":\"node\"},"
          "\"processNum\":2,\"tags\":{\"origin\":\"Config\",\"nature\":\"Output\",\"scope\":"
          "\"Service\"},\"value\":{\"type\":\"str\",\"value\":\"a\\\"b\\\\c\"}}]\n");
}
