#pragma once
// Parses the head of an HTTP/1.x request (RFC 9112: request line and header fields, up to the
// empty line) from the bytes received so far, for the stats page (`stats http`). Pure: the
// caller reads, calls parse_request_head() again with everything it has when it gets
// need_more, and gives up on its own deadline.
//
// Everything on the network is hostile, so the parser is strict and bounded:
//   - the head may not exceed RequestLimits::max_head bytes, nor the request line
//     max_request_line, nor the count of fields max_fields;
//   - it decides as early as the bytes allow: a request line that can no longer become valid
//     is invalid before its line feed arrives, so no client holds a connection by trickling
//     bytes that were wrong from the start;
//   - lines end in CRLF or a bare LF (RFC 9112 section 2.2 lets a recipient accept LF); a CR
//     not followed by LF, a control character, obsolete line folding, whitespace before a
//     field's colon, and an HTTP/1.1 request without exactly one Host field are errors (RFC
//     9112 sections 3.2, 5.1, 5.2).
// A body is never read: the stats server answers GET and HEAD only and closes afterwards.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tierlb::http {

enum class ParseStatus { complete, need_more, invalid };

// One value per way a head can be wrong; status_code() is what the server answers.
enum class Error {
    none,
    bad_request_line,   // 400: not "METHOD SP target SP HTTP/x.y", a bad method or target
    bad_version,        // 505: a version other than HTTP/1.0 and HTTP/1.1
    request_line_long,  // 414: the request line exceeds max_request_line
    head_too_large,     // 431: the head exceeds max_head bytes or max_fields fields
    bad_field,          // 400: a field without a colon, a bad name, a control character, folding
    bad_line_end,       // 400: a CR not followed by LF
    missing_host,       // 400: HTTP/1.1 without a Host field, or with more than one
};

// The HTTP status that answers ERROR (400, 414, 431, 505).
int status_code(Error error);
// A short reason for logs and error bodies: "request line too long".
const char* describe(Error error);

struct RequestLimits {
    std::size_t max_head = 8192;  // request line and fields, the final empty line included
    std::size_t max_request_line = 4096;
    std::size_t max_fields = 100;
};

struct RequestHead {
    std::string method;  // case-sensitive, as sent: "GET"
    std::string target;  // as sent: "/stats;csv?x=1", or "http://host/path" (absolute form)
    std::string path;    // the target's path, "/" for an absolute form without one
    std::string query;   // after the first '?', without it; empty when there is none
    int minor_version = 1;
    std::vector<std::pair<std::string, std::string>> fields;  // names as sent, values trimmed

    // The value of the first field named NAME (case-insensitive); empty when there is none.
    std::string_view field(std::string_view name) const;
};

struct ParseResult {
    ParseStatus status = ParseStatus::need_more;
    Error error = Error::none;  // set when invalid
    std::size_t consumed = 0;   // when complete: the head's length, the empty line included
    RequestHead head;           // meaningful when complete
};

ParseResult parse_request_head(std::string_view bytes, const RequestLimits& limits = {});

}  // namespace tierlb::http
