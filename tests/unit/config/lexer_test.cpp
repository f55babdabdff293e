#include "config/lexer.hpp"

#include <catch2/catch.hpp>

using tierlb::config::split_line;

namespace {
std::optional<std::string> env(const std::string& name) {
    if (name == "PORT") {
        return "8443";
    }
    if (name == "EMPTY") {
        return "";
    }
    return std::nullopt;
}
}  // namespace

TEST_CASE("lines split into words with HAProxy's quoting rules", "[config][lexer]") {
    struct Case {
        const char* line;
        std::vector<std::string> words;
    };
    auto c = GENERATE(values<Case>({
        {"", {}},
        {"   \t ", {}},
        {"# only a comment", {}},
        {"bind :80", {"bind", ":80"}},
        {"  bind\t:80   ssl  ", {"bind", ":80", "ssl"}},
        {"bind :80 # comment ssl", {"bind", ":80"}},
        {"bind :80#comment", {"bind", ":80"}},
        {"log \"a b\" c", {"log", "a b", "c"}},
        {"x 'a b # c' d", {"x", "a b # c", "d"}},
        {"x foo\"bar baz\"qux",
         {"x",
          "foobar baz"
          "qux"}},
        {"x \"\"", {"x", ""}},
        {"x a\\ b", {"x", "a b"}},
        {"x a\\#b", {"x", "a#b"}},
        {"x \\\"q\\\"", {"x", "\"q\""}},
        {"x \"in 'single' double\"", {"x", "in 'single' double"}},
        {"x 'in \"double\" single'", {"x", "in \"double\" single"}},
        {"x \\x41\\x62", {"x", "Ab"}},
        {"x a\\tb", {"x", "a\tb"}},
        {"bind :${PORT}", {"bind", ":8443"}},
        {"bind :$PORT ssl", {"bind", ":8443", "ssl"}},
        {"bind \":$PORT\"", {"bind", ":8443"}},
        {"bind ':$PORT'", {"bind", ":$PORT"}},
        {"x ${MISSING}y", {"x", "y"}},
        {"x ${MISSING-fallback}", {"x", "fallback"}},
        {"x ${PORT-fallback}", {"x", "8443"}},
        {"x ${EMPTY}", {"x", ""}},
        {"x 5$ $", {"x", "5$", "$"}},
        {"line with\r", {"line", "with"}},
    }));
    CAPTURE(c.line);
    auto words = split_line(c.line, env);
    REQUIRE(words.has_value());
    CHECK(*words == c.words);
}

TEST_CASE("malformed lines are rejected with a reason", "[config][lexer]") {
    struct Case {
        const char* line;
        const char* reason;
    };
    auto c = GENERATE(values<Case>({
        {"x \"open", "unmatched double quote"},
        {"x 'open", "unmatched single quote"},
        {"x trailing\\", "backslash at the end of the line"},
        {"x \\xZZ", "invalid '\\x' escape"},
        {"x \\x4", "invalid '\\x' escape"},
        {"x ${PORT", "missing '}'"},
        {"x ${PORT-default", "missing '}'"},
    }));
    CAPTURE(c.line);
    auto words = split_line(c.line, env);
    REQUIRE_FALSE(words.has_value());
    CHECK_THAT(words.error(), Catch::Contains(c.reason));
}
