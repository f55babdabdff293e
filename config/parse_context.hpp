#pragma once
// Internal to config/: what a keyword handler gets. Each section has a table of keywords; a
// handler reads the words of its line and fills the current section, reporting problems
// through the context (which knows FILE:LINE), and never stops the parse.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/model.hpp"
#include "config/values.hpp"

namespace tierlb::config {

using Words = std::vector<std::string>;

class ParseContext {
public:
    ParseContext(Diagnostics& diagnostics, Location where)
        : diagnostics_(diagnostics), where_(std::move(where)) {}

    const Location& where() const { return where_; }
    void error(std::string message) { diagnostics_.error(where_, std::move(message)); }
    void warning(std::string message) { diagnostics_.warning(where_, std::move(message)); }

    // Parses VALUE with PARSE; on failure reports "'KEYWORD': <reason>" and returns false.
    template <typename T, typename Parse>
    bool parse(std::string_view keyword, std::string_view value, Parse parser, T& out) {
        auto result = parser(value);
        if (!result) {
            error("'" + std::string(keyword) + "': " + result.error());
            return false;
        }
        out = *result;
        return true;
    }

    // The words after the keyword must number exactly COUNT; reports otherwise.
    bool expect_args(const Words& words, std::size_t keyword_words, std::size_t count,
                     std::string_view usage);

private:
    Diagnostics& diagnostics_;
    Location where_;
};

// Section handlers, one file each. WORDS[0] is the keyword.
void parse_global_keyword(ParseContext& ctx, Global& global, const Words& words);
void parse_proxy_keyword(ParseContext& ctx, Proxy& proxy, const Words& words);

// "bind ADDR [options]" and "server NAME ADDR [options]" / "default-server [options]".
void parse_bind_line(ParseContext& ctx, Proxy& proxy, const Words& words);
void parse_server_line(ParseContext& ctx, Proxy& proxy, const Words& words);
void parse_default_server_line(ParseContext& ctx, Proxy& proxy, const Words& words);

// "log TARGET [len N] [format F] [FACILITY [MAX [MIN]]]", from the word after "log".
bool parse_log_target(ParseContext& ctx, std::span<const std::string> args, LogTarget& target);

// The names a section accepts, for "did you mean" hints.
std::vector<std::string_view> global_keyword_names();
std::vector<std::string_view> proxy_keyword_names();

// "'WORD' ...; did you mean 'X'?" when one of CANDIDATES is close to WORD.
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace tierlb::config
