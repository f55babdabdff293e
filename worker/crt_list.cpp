#include "worker/crt_list.hpp"

#include <sstream>

#include "config/values.hpp"

namespace tierlb::worker {

namespace {

// Splits a crt-list line into words; "[...]" (possibly several words) is one option block.
std::vector<std::string> words_of(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> words;
    std::string w;
    while (in >> w) {
        if (!words.empty() && words.back().front() == '[' && words.back().back() != ']') {
            words.back() += " " + w;
        } else {
            words.push_back(w);
        }
    }
    return words;
}

// "[alpn h2,http/1.1 ciphers X ...]" into OPTIONS; the error names what is not supported.
std::optional<std::string> parse_options(const std::string& block, CertificateOptions& options) {
    std::istringstream in(block.substr(1, block.size() - 2));
    std::string key, value;
    while (in >> key) {
        if (!(in >> value)) {
            return "'" + key + "' expects a value";
        }
        if (key == "alpn") {
            std::istringstream list(value);
            std::string name;
            while (std::getline(list, name, ',')) {
                options.alpn.push_back(name);
            }
        } else if (key == "ciphers") {
            options.ciphers = value;
        } else if (key == "ciphersuites") {
            options.ciphersuites = value;
        } else if (key == "ssl-min-ver" || key == "ssl-max-ver") {
            auto version = config::parse_tls_version(value);
            if (!version) {
                return version.error();
            }
            (key == "ssl-min-ver" ? options.min_version : options.max_version) = *version;
        } else {
            return "'" + key +
                   "' is not supported in a crt-list (alpn, ciphers, ciphersuites, "
                   "ssl-min-ver and ssl-max-ver are)";
        }
    }
    return std::nullopt;
}

}  // namespace

Expected<std::vector<CrtListEntry>> parse_crt_list(std::string_view text, const std::string& name) {
    std::vector<CrtListEntry> entries;
    std::istringstream in{std::string(text)};
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        auto words = words_of(line);
        if (words.empty() || words.front().front() == '#') {
            continue;
        }
        const std::string where = "crt-list '" + name + "' line " + std::to_string(number) + ": ";
        CrtListEntry entry;
        entry.line = number;
        entry.file = words.front();
        std::size_t next = 1;
        if (next < words.size() && words[next].front() == '[') {
            if (words[next].back() != ']') {
                return unexpected(where + "missing ']'");
            }
            if (auto error = parse_options(words[next], entry.options)) {
                return unexpected(where + *error);
            }
            entry.overrides = true;
            ++next;
        }
        entry.filters.assign(words.begin() + static_cast<long>(next), words.end());
        entries.push_back(std::move(entry));
    }
    return entries;
}

}  // namespace tierlb::worker
