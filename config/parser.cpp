// Reads configuration files line by line, tracks the current section and hands each line to
// its section's keyword table. Errors never stop the parse: every line of every file is read
// so that all problems are reported at once.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "config/load.hpp"
#include "config/parse_context.hpp"

namespace tierlb::config {

bool ParseContext::expect_args(const Words& words, std::size_t keyword_words, std::size_t count,
                               std::string_view usage) {
    if (words.size() == keyword_words + count) {
        return true;
    }
    std::string keyword;
    for (std::size_t i = 0; i < keyword_words && i < words.size(); ++i) {
        keyword += (i > 0 ? " " : "") + words[i];
    }
    error("'" + keyword + "' expects " + std::to_string(count) +
          (count == 1 ? " argument" : " arguments") + " (usage: " + std::string(usage) + ")");
    return false;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
    const std::string best = closest_name(word, candidates);
    return best.empty() ? "" : "; did you mean '" + best + "'?";
}

namespace {

// Sections HAProxy has and tierlb does not: their lines are skipped with one error.
constexpr std::string_view unsupported_sections[] = {
    "resolvers",   "peers", "userlist", "mailers",  "program",
    "http-errors", "ring",  "cache",    "fcgi-app", "dynamic-update"};

bool valid_proxy_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               c == ':';
    });
}

// A defaults section before any is written: HAProxy's defaults.
Proxy fresh_defaults() {
    Proxy p;
    p.kind = ProxyKind::defaults;
    return p;
}

class Parser {
public:
    Parser(Diagnostics& diagnostics, const EnvLookup& env) : diag_(diagnostics), env_(env) {}

    void parse_path(const std::string& path);
    void parse_stream(std::istream& in, const std::string& name);
    Configuration take() { return std::move(config_); }

private:
    enum class Section { none, global, defaults, proxy, unsupported };

    void parse_line(const std::string& line, const Location& where);
    bool start_section(const Words& words, const Location& where);
    void start_proxy(ProxyKind kind, const Words& words, const Location& where);
    void end_section();

    Diagnostics& diag_;
    const EnvLookup& env_;
    Configuration config_;
    Section section_ = Section::none;
    Proxy defaults_ = fresh_defaults();
    std::map<std::string, Proxy, std::less<>> named_defaults_;
};

void Parser::parse_path(const std::string& path) {
    config_.files.push_back(path);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        std::vector<std::string> files;
        for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
            if (entry.path().extension() == ".cfg" && !entry.is_directory()) {
                files.push_back(entry.path().string());
            }
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            std::ifstream in(file);
            parse_stream(in, file);
        }
        return;
    }
    std::ifstream in(path);
    if (!in) {
        diag_.error({path, 0}, std::string("cannot open the file: ") + std::strerror(errno));
        return;
    }
    parse_stream(in, path);
}

void Parser::parse_stream(std::istream& in, const std::string& name) {
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        parse_line(line, {name, ++number});
    }
    end_section();
}

void Parser::parse_line(const std::string& line, const Location& where) {
    auto words = split_line(line, env_);
    if (!words) {
        diag_.error(where, words.error());
        return;
    }
    if (words->empty() || start_section(*words, where)) {
        return;
    }
    ParseContext ctx(diag_, where);
    switch (section_) {
        case Section::none:
            ctx.error("'" + words->front() +
                      "' is outside of any section (expected global, defaults, frontend, "
                      "backend or listen before it)");
            break;
        case Section::unsupported:
            break;  // already reported at the section header
        case Section::global:
            parse_global_keyword(ctx, config_.global, *words);
            break;
        case Section::defaults:
            parse_proxy_keyword(ctx, defaults_, *words);
            break;
        case Section::proxy:
            parse_proxy_keyword(ctx, config_.proxies.back(), *words);
            break;
    }
}

// Starts a new section when WORDS is a section header; false otherwise.
bool Parser::start_section(const Words& words, const Location& where) {
    const std::string& keyword = words[0];
    if (keyword == "global") {
        end_section();
        section_ = Section::global;
        if (words.size() > 1) {
            diag_.error(where, "'global' takes no argument");
        }
        return true;
    }
    if (keyword == "defaults" || keyword == "frontend" || keyword == "backend" ||
        keyword == "listen") {
        end_section();
        const ProxyKind kind = keyword == "defaults"   ? ProxyKind::defaults
                               : keyword == "frontend" ? ProxyKind::frontend
                               : keyword == "backend"  ? ProxyKind::backend
                                                       : ProxyKind::listen;
        start_proxy(kind, words, where);
        return true;
    }
    if (std::find(std::begin(unsupported_sections), std::end(unsupported_sections), keyword) !=
        std::end(unsupported_sections)) {
        end_section();
        section_ = Section::unsupported;
        diag_.error(where, "'" + keyword + "' sections are not supported by tierlb");
        return true;
    }
    return false;
}

// "KIND [NAME] [from DEFAULTS]": the new section starts from the named defaults section, or
// from the last defaults section.
void Parser::start_proxy(ProxyKind kind, const Words& words, const Location& where) {
    std::string name;
    std::size_t i = 1;
    if (i < words.size() && words[i] != "from") {
        name = words[i++];
    }
    const Proxy* base = &defaults_;
    if (i < words.size()) {
        if (words[i] != "from" || i + 2 != words.size()) {
            diag_.error(where, "'" + words[0] + "' expects a name and optionally 'from DEFAULTS'");
        } else if (auto found = named_defaults_.find(words[i + 1]);
                   found != named_defaults_.end()) {
            base = &found->second;
        } else {
            diag_.error(where, "'" + words[0] + " " + name + "': no defaults section named '" +
                                   words[i + 1] + "' before this line");
        }
    }
    if (kind != ProxyKind::defaults && name.empty()) {
        diag_.error(where, "'" + words[0] + "' expects a name");
    } else if (!name.empty() && !valid_proxy_name(name)) {
        diag_.error(where, "invalid name '" + name + "' for '" + words[0] +
                               "' (letters, digits, '-', '_', '.' and ':' only)");
    }
    Proxy proxy = kind == ProxyKind::defaults && base == &defaults_ ? fresh_defaults() : *base;
    proxy.kind = kind;
    proxy.name = name;
    proxy.where = where;
    if (kind == ProxyKind::defaults) {
        defaults_ = std::move(proxy);
        section_ = Section::defaults;
    } else {
        config_.proxies.push_back(std::move(proxy));
        section_ = Section::proxy;
    }
}

void Parser::end_section() {
    if (section_ == Section::defaults && !defaults_.name.empty()) {
        named_defaults_.insert_or_assign(defaults_.name, defaults_);
    }
    section_ = Section::none;
}

ConfigurationPtr complete(Configuration config, Diagnostics& diagnostics) {
    // Validated even after parse errors, so that one run reports every problem.
    finalize(config);
    validate(config, diagnostics);
    if (diagnostics.has_errors()) {
        return nullptr;
    }
    return std::make_shared<const Configuration>(std::move(config));
}

}  // namespace

ConfigurationPtr load_files(const std::vector<std::string>& paths, Diagnostics& diagnostics,
                            const EnvLookup& env) {
    Parser parser(diagnostics, env);
    for (const auto& path : paths) {
        parser.parse_path(path);
    }
    return complete(parser.take(), diagnostics);
}

ConfigurationPtr load_text(std::string_view text, const std::string& name, Diagnostics& diagnostics,
                           const EnvLookup& env) {
    Parser parser(diagnostics, env);
    std::istringstream in{std::string(text)};
    parser.parse_stream(in, name);
    Configuration config = parser.take();
    config.files.push_back(name);
    return complete(std::move(config), diagnostics);
}

}  // namespace tierlb::config
