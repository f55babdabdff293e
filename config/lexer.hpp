#pragma once
// Splits one configuration line into words, with HAProxy's rules:
//   - words are separated by blanks (spaces, tabs); '#' starts a comment;
//   - "double quotes" keep blanks and '#', and still expand escapes and variables;
//   - 'single quotes' keep everything as written;
//   - a backslash escapes the next character (\  \# \\ \" \'), and \t \n \r \xHH are
//     control characters; quotes may start in the middle of a word (foo"bar baz" = foobar baz);
//   - $NAME, ${NAME} and ${NAME-default} expand environment variables outside single quotes.
// An unterminated quote, a trailing backslash or a bad \x escape is an error.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace tierlb::config {

// Looks up an environment variable; injected so tests control the environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

EnvLookup process_environment();

Expected<std::vector<std::string>> split_line(std::string_view line, const EnvLookup& env);

}  // namespace tierlb::config
