// Fuzzes the crt-list parser (worker/crt_list.cpp, HAProxy's "crtfile [[options]]
// [[!]snifilter ...]" lines), the text a worker reads before loading any certificate.
// Arbitrary text must be refused with a reason or give entries, and:
//   - an error names a line of the text, and the lines before it parse without error;
//   - entries come in line order, each with a file that is not a comment, options only when
//     an options block was given;
//   - the entries written back as crt-list lines (at the same line numbers) parse to the same
//     entries: nothing is lost or misread between the words and the entries.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_assert.hpp"
#include "worker/crt_list.hpp"

using tierlb::worker::CertificateOptions;
using tierlb::worker::CrtListEntry;
using tierlb::worker::parse_crt_list;

namespace {

const char* version_name(tierlb::config::TlsVersion v) {
    return v == tierlb::config::TlsVersion::tlsv12 ? "TLSv1.2" : "TLSv1.3";
}

// OPTIONS as an options block that reads back the same.
std::string block_of(const CertificateOptions& options) {
    std::string out = "[";
    auto add = [&](std::string_view key, const std::string& value) {
        out += (out.size() > 1 ? " " : "") + std::string(key) + " " + value;
    };
    if (!options.alpn.empty()) {
        std::string list;
        for (std::size_t i = 0; i < options.alpn.size(); ++i) {
            list += (i > 0 ? "," : "") + options.alpn[i];
        }
        if (options.alpn.back().empty()) {
            list += ",";  // getline drops a last empty name unless a comma follows it
        }
        add("alpn", list);
    }
    if (!options.ciphers.empty()) {
        add("ciphers", options.ciphers);
    }
    if (!options.ciphersuites.empty()) {
        add("ciphersuites", options.ciphersuites);
    }
    if (options.min_version) {
        add("ssl-min-ver", version_name(*options.min_version));
    }
    if (options.max_version) {
        add("ssl-max-ver", version_name(*options.max_version));
    }
    return out + "]";
}

std::string render(const std::vector<CrtListEntry>& entries) {
    std::string text;
    int line = 1;
    for (const auto& e : entries) {
        for (; line < e.line; ++line) {
            text += "\n";
        }
        text += e.file;
        if (e.overrides) {
            text += " " + block_of(e.options);
        }
        for (const auto& f : e.filters) {
            text += " " + f;
        }
        text += "\n";
        ++line;
    }
    return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto entries = parse_crt_list(text, "fuzz");
    const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) +
                      (text.empty() || text.back() == '\n' ? 0 : 1);
    if (!entries) {
        const std::string prefix = "crt-list 'fuzz' line ";
        const std::string& error = entries.error();
        FUZZ_ASSERT(error.rfind(prefix, 0) == 0);
        const int line = std::stoi(error.substr(prefix.size()));
        FUZZ_ASSERT(line >= 1 && line <= lines);
        // The lines before it are fine: the parser stops at the first wrong line.
        std::size_t end = 0;
        for (int i = 1; i < line; ++i) {
            end = text.find('\n', end) + 1;
        }
        FUZZ_ASSERT(parse_crt_list(text.substr(0, end), "fuzz").has_value());
        return 0;
    }
    int previous = 0;
    for (const auto& e : *entries) {
        FUZZ_ASSERT(e.line > previous && e.line <= lines);
        previous = e.line;
        FUZZ_ASSERT(!e.file.empty() && e.file.front() != '#');
        FUZZ_ASSERT(e.overrides || e.options == CertificateOptions{});
        for (const auto& f : e.filters) {
            FUZZ_ASSERT(!f.empty());
        }
    }
    const auto again = parse_crt_list(render(*entries), "fuzz");
    FUZZ_ASSERT(again.has_value() && *again == *entries);
    return 0;
}
