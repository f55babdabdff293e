#pragma once
// HAProxy's crt-list file, parsed apart from loading what it names (worker/tls_context.cpp
// loads the certificates): one certificate per line, "crtfile [[options]] [[!]snifilter ...]",
// words separated by blanks, '#' at the start of a line's first word a comment, empty lines
// skipped. The options block is "[alpn h2,http/1.1 ciphers X ciphersuites Y ssl-min-ver V
// ssl-max-ver V]", possibly over several words; any other option is refused, naming it.
// Pure: no file, no OpenSSL.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "config/model.hpp"

namespace tierlb::worker {

// What crt-list may set per certificate, over the bind line.
struct CertificateOptions {
    std::vector<std::string> alpn;
    std::string ciphers, ciphersuites;
    std::optional<config::TlsVersion> min_version, max_version;

    bool operator==(const CertificateOptions&) const = default;
};

struct CrtListEntry {
    int line = 0;      // 1-based, in the file
    std::string file;  // as written (the caller applies crt-base)
    CertificateOptions options;
    bool overrides = false;  // an options block was given: it applies when SNI selects this
    std::vector<std::string> filters;  // SNI names, "!name" to exclude; none: the certificate's

    bool operator==(const CrtListEntry&) const = default;
};

// The entries of TEXT, in order. An error is "crt-list 'NAME' line N: why".
Expected<std::vector<CrtListEntry>> parse_crt_list(std::string_view text, const std::string& name);

}  // namespace tierlb::worker
