#include "common/http/request_head.hpp"

#include <algorithm>

namespace tierlb::http {

namespace {

// RFC 9110 section 5.6.2: the characters of a token (methods, field names).
bool is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_visible(unsigned char c) {
    return c >= 0x21 && c <= 0x7e;
}

bool is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// A field value's characters: visible, obs-text, space and tab (RFC 9110 section 5.5).
bool is_value_char(unsigned char c) {
    return is_visible(c) || c >= 0x80 || c == ' ' || c == '\t';
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               const auto lower = [](char c) {
                   return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
               };
               return lower(x) == lower(y);
           });
}

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// A line without its LF, and without the CR before it (a partial line's final CR is held
// back the same way: its LF may be on its way).
std::string_view strip_cr(std::string_view line) {
    return !line.empty() && line.back() == '\r' ? line.substr(0, line.size() - 1) : line;
}

// Scans a request line (or the part of it received so far) left to right and returns its
// first error, so that the reason never depends on how the bytes were split. COMPLETE: the
// line has ended, so what is missing is an error too.
Error scan_request_line(std::string_view line, bool complete) {
    enum { method, target, version } state = method;
    std::size_t start = 0;  // of the current part
    constexpr std::string_view version_shape = "HTTP/";
    for (std::size_t i = 0; i < line.size(); ++i) {
        const auto c = static_cast<unsigned char>(line[i]);
        if (c == '\r') {
            return Error::bad_line_end;
        }
        const std::size_t at = i - start;
        if (state == method) {
            if (c == ' ' && at > 0) {
                state = target;
                start = i + 1;
            } else if (!is_tchar(c)) {
                return Error::bad_request_line;
            }
        } else if (state == target) {
            if (c == ' ' && at > 0) {
                state = version;
                start = i + 1;
            } else if (!is_visible(c) || (at == 0 && c != '/' && c != '*' && !is_alpha(c))) {
                return Error::bad_request_line;
            }
        } else {
            const bool fits = at < version_shape.size() ? c == version_shape[at]
                              : at == 5 || at == 7      ? (c >= '0' && c <= '9')
                              : at == 6                 ? c == '.'
                                                        : false;
            if (!fits) {
                return Error::bad_request_line;
            }
        }
    }
    if (!complete) {
        return Error::none;
    }
    if (state != version || line.size() - start != 8) {
        return Error::bad_request_line;
    }
    const std::string_view number = line.substr(start + 5);
    return number == "1.0" || number == "1.1" ? Error::none : Error::bad_version;
}

// The same for a header field line: "name:value" with a token name, no whitespace before the
// colon, and no line starting with whitespace (obsolete folding).
Error scan_field_line(std::string_view line, bool complete) {
    bool in_value = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const auto c = static_cast<unsigned char>(line[i]);
        if (c == '\r') {
            return Error::bad_line_end;
        }
        if (in_value) {
            if (!is_value_char(c)) {
                return Error::bad_field;
            }
        } else if (c == ':' && i > 0) {
            in_value = true;
        } else if (!is_tchar(c)) {
            return Error::bad_field;
        }
    }
    return complete && !in_value ? Error::bad_field : Error::none;
}

// The path and query of a request target: origin form "/p?q", absolute form
// "http://host/p?q", or "*".
void split_target(RequestHead& head) {
    std::string_view rest = head.target;
    if (!rest.empty() && rest[0] != '/' && rest != "*") {
        const auto scheme_end = rest.find("://");
        rest =
            scheme_end == std::string_view::npos ? std::string_view() : rest.substr(scheme_end + 3);
        const auto path_start = rest.find_first_of("/?");
        rest = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
    }
    const auto question = rest.find('?');
    const std::string_view path = rest.substr(0, question);
    head.path = path.empty() ? std::string(1, '/') : std::string(path);
    if (question != std::string_view::npos) {
        head.query = std::string(rest.substr(question + 1));
    }
}

// Fills HEAD from a valid request line.
void read_request_line(std::string_view line, RequestHead& head) {
    const auto first_space = line.find(' ');
    const auto second_space = line.find(' ', first_space + 1);
    head.method = std::string(line.substr(0, first_space));
    head.target = std::string(line.substr(first_space + 1, second_space - first_space - 1));
    head.minor_version = line.back() - '0';
    split_target(head);
}

bool absolute_target_valid(const RequestHead& head) {
    const std::string_view target = head.target;
    if (target.empty() || target[0] == '/' || target == "*") {
        return true;
    }
    const auto scheme_end = target.find("://");
    return scheme_end != std::string_view::npos && (iequals(target.substr(0, scheme_end), "http") ||
                                                    iequals(target.substr(0, scheme_end), "https"));
}

ParseResult invalid(Error error) {
    ParseResult r;
    r.status = ParseStatus::invalid;
    r.error = error;
    return r;
}

// The request line: the first error in its first max_request_line characters, else whether
// it is longer than that.
Error check_request_line(std::string_view line, bool complete, const RequestLimits& limits) {
    const std::string_view window = line.substr(0, limits.max_request_line);
    const Error error = scan_request_line(window, complete && window.size() == line.size());
    if (error != Error::none) {
        return error;
    }
    return line.size() > limits.max_request_line ? Error::request_line_long : Error::none;
}

Error check_host(const RequestHead& head) {
    const auto hosts = std::count_if(head.fields.begin(), head.fields.end(),
                                     [](const auto& f) { return iequals(f.first, "host"); });
    const bool required = head.minor_version == 1;
    return hosts > 1 || (required && hosts == 0) ? Error::missing_host : Error::none;
}

}  // namespace

int status_code(Error error) {
    switch (error) {
        case Error::none:
            return 200;
        case Error::bad_version:
            return 505;
        case Error::request_line_long:
            return 414;
        case Error::head_too_large:
            return 431;
        case Error::bad_request_line:
        case Error::bad_field:
        case Error::bad_line_end:
        case Error::missing_host:
            break;
    }
    return 400;
}

const char* describe(Error error) {
    switch (error) {
        case Error::none:
            return "no error";
        case Error::bad_request_line:
            return "malformed request line";
        case Error::bad_version:
            return "HTTP version not supported";
        case Error::request_line_long:
            return "request line too long";
        case Error::head_too_large:
            return "request header fields too large";
        case Error::bad_field:
            return "malformed header field";
        case Error::bad_line_end:
            return "CR not followed by LF";
        case Error::missing_host:
            return "missing or repeated Host field";
    }
    return "unknown error";
}

std::string_view RequestHead::field(std::string_view name) const {
    for (const auto& [n, value] : fields) {
        if (iequals(n, name)) {
            return value;
        }
    }
    return {};
}

ParseResult parse_request_head(std::string_view bytes, const RequestLimits& limits) {
    // Only what fits the limit is looked at: a head that does not end within it is refused.
    const std::string_view window = bytes.substr(0, limits.max_head);
    const bool window_full = bytes.size() >= limits.max_head;
    ParseResult result;
    std::size_t position = 0;
    bool first_line = true;
    while (true) {
        const auto end = window.find('\n', position);
        const bool complete = end != std::string_view::npos;
        const std::string_view line =
            strip_cr(window.substr(position, complete ? end - position : std::string_view::npos));
        if (first_line) {
            if (const Error e = check_request_line(line, complete, limits); e != Error::none) {
                return invalid(e);
            }
        } else if (line.empty()) {
            // The empty line that ends the head, or its beginning ("\r" or nothing yet).
            if (complete) {
                if (const Error e = check_host(result.head); e != Error::none) {
                    return invalid(e);
                }
                result.status = ParseStatus::complete;
                result.consumed = end + 1;
                return result;
            }
        } else if (result.head.fields.size() >= limits.max_fields) {
            return invalid(Error::head_too_large);
        } else if (const Error e = scan_field_line(line, complete); e != Error::none) {
            return invalid(e);
        }
        if (!complete) {
            return window_full ? invalid(Error::head_too_large) : ParseResult{};
        }
        if (first_line) {
            read_request_line(line, result.head);
            if (!absolute_target_valid(result.head)) {
                return invalid(Error::bad_request_line);
            }
            first_line = false;
        } else {
            const auto colon = line.find(':');
            result.head.fields.emplace_back(std::string(line.substr(0, colon)),
                                            std::string(trim(line.substr(colon + 1))));
        }
        position = end + 1;
    }
}

}  // namespace tierlb::http
