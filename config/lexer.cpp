#include "config/lexer.hpp"

#include <cstdlib>

namespace tierlb::config {

EnvLookup process_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) {
            return std::nullopt;
        }
        return std::string(value);
    };
}

namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

class LineSplitter {
public:
    LineSplitter(std::string_view line, const EnvLookup& env) : line_(line), env_(env) {}

    Expected<std::vector<std::string>> run() {
        while (skip_blanks()) {
            if (line_[pos_] == '#') {
                break;
            }
            if (auto error = read_word(); !error.empty()) {
                return unexpected(error);
            }
        }
        return std::move(words_);
    }

private:
    // Returns false at the end of the line.
    bool skip_blanks() {
        while (pos_ < line_.size() && is_blank(line_[pos_])) {
            ++pos_;
        }
        return pos_ < line_.size();
    }

    // Reads one word into words_; returns an error text or "".
    std::string read_word() {
        std::string word;
        char quote = 0;
        while (pos_ < line_.size()) {
            const char c = line_[pos_];
            if (quote == '\'') {
                ++pos_;
                if (c == '\'') {
                    quote = 0;
                } else {
                    word += c;
                }
                continue;
            }
            if (quote == 0 && (is_blank(c) || c == '#')) {
                break;
            }
            if (c == '"' || (c == '\'' && quote == 0)) {
                quote = quote == c ? 0 : c;
                ++pos_;
            } else if (c == '\\') {
                if (auto error = read_escape(word); !error.empty()) {
                    return error;
                }
            } else if (c == '$') {
                if (auto error = read_variable(word); !error.empty()) {
                    return error;
                }
            } else {
                word += c;
                ++pos_;
            }
        }
        if (quote != 0) {
            return std::string("unmatched ") + (quote == '"' ? "double" : "single") + " quote";
        }
        words_.push_back(std::move(word));
        return {};
    }

    std::string read_escape(std::string& word) {
        if (pos_ + 1 >= line_.size()) {
            return "backslash at the end of the line (lines cannot be continued)";
        }
        const char next = line_[pos_ + 1];
        pos_ += 2;
        switch (next) {
            case 't':
                word += '\t';
                return {};
            case 'n':
                word += '\n';
                return {};
            case 'r':
                word += '\r';
                return {};
            case 'x': {
                const int hi = pos_ < line_.size() ? hex_value(line_[pos_]) : -1;
                const int lo = pos_ + 1 < line_.size() ? hex_value(line_[pos_ + 1]) : -1;
                if (hi < 0 || lo < 0) {
                    return "invalid '\\x' escape (expected two hexadecimal digits)";
                }
                word += static_cast<char>(hi * 16 + lo);
                pos_ += 2;
                return {};
            }
            default:
                word += next;  // \\ \" \' \# \  and any other character stand for themselves
                return {};
        }
    }

    // $NAME, ${NAME} or ${NAME-default}; a lone '$' stays a '$'.
    std::string read_variable(std::string& word) {
        std::size_t p = pos_ + 1;
        const bool braced = p < line_.size() && line_[p] == '{';
        if (braced) {
            ++p;
        }
        const std::size_t name_start = p;
        while (p < line_.size() && is_name_char(line_[p])) {
            ++p;
        }
        std::string name(line_.substr(name_start, p - name_start));
        std::optional<std::string> fallback;
        if (braced) {
            if (p < line_.size() && line_[p] == '-') {
                const auto close = line_.find('}', p);
                if (close == std::string_view::npos) {
                    return "missing '}' after '${" + name + "-'";
                }
                fallback = std::string(line_.substr(p + 1, close - p - 1));
                p = close;
            }
            if (p >= line_.size() || line_[p] != '}') {
                return "missing '}' after '${" + name + "'";
            }
            ++p;
        }
        if (name.empty()) {
            word += '$';
            ++pos_;
            return {};
        }
        pos_ = p;
        if (auto value = env_(name)) {
            word += *value;
        } else if (fallback) {
            word += *fallback;
        }
        return {};
    }

    std::string_view line_;
    const EnvLookup& env_;
    std::size_t pos_ = 0;
    std::vector<std::string> words_;
};

}  // namespace

Expected<std::vector<std::string>> split_line(std::string_view line, const EnvLookup& env) {
    return LineSplitter(line, env).run();
}

}  // namespace tierlb::config
