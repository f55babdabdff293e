#pragma once
// A strict reader of the Prometheus text exposition format 0.0.4, for the tests of
// /metrics: it accepts only what the format allows and what tierlb promises on top of it, and
// throws std::runtime_error naming the line otherwise:
//   - every line ends with a line feed, none is empty, and the only comments are HELP and TYPE;
//   - metric and label names match the format's patterns; label values use only the escapes
//     \\ \" \n; a value is a float as Go's ParseFloat reads it (NaN, +Inf, -Inf included);
//   - each family has one HELP and one TYPE line before its first sample, its samples are
//     together, and no series (name and labels) appears twice;
//   - a counter's name ends in _total (what promtool's lint asks for).

#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace prometheus_text {

struct Sample {
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct Family {
    std::string type;
    std::string help;
    std::vector<Sample> samples;
};

using Families = std::map<std::string, Family>;

namespace detail {

inline void fail(std::size_t line, const std::string& why) {
    throw std::runtime_error("line " + std::to_string(line) + ": " + why);
}

inline bool valid_metric_name(const std::string& name) {
    static const std::regex pattern("[a-zA-Z_:][a-zA-Z0-9_:]*");
    return std::regex_match(name, pattern);
}

inline double parse_value(const std::string& text, std::size_t line) {
    if (text == "NaN") {
        return std::nan("");
    }
    if (text == "+Inf" || text == "-Inf") {
        return text[0] == '+' ? INFINITY : -INFINITY;
    }
    static const std::regex number("[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?");
    if (!std::regex_match(text, number)) {
        fail(line, "not a value: '" + text + "'");
    }
    return std::strtod(text.c_str(), nullptr);
}

// The labels between the braces, TEXT positioned after '{'; returns the index after '}'.
inline std::size_t parse_labels(const std::string& text, std::size_t i, Sample& sample,
                                std::size_t line) {
    static const std::regex label_name("[a-zA-Z_][a-zA-Z0-9_]*");
    while (i < text.size() && text[i] != '}') {
        const auto equals = text.find('=', i);
        if (equals == std::string::npos) {
            fail(line, "label without '='");
        }
        const std::string name = text.substr(i, equals - i);
        if (!std::regex_match(name, label_name) || name.rfind("__", 0) == 0) {
            fail(line, "bad label name '" + name + "'");
        }
        if (equals + 1 >= text.size() || text[equals + 1] != '"') {
            fail(line, "label value not quoted");
        }
        std::string value;
        i = equals + 2;
        for (; i < text.size() && text[i] != '"'; ++i) {
            if (text[i] == '\\') {
                const char next = i + 1 < text.size() ? text[i + 1] : '\0';
                if (next != '\\' && next != '"' && next != 'n') {
                    fail(line, "bad escape in a label value");
                }
                value.push_back(next == 'n' ? '\n' : next);
                ++i;
            } else {
                value.push_back(text[i]);
            }
        }
        if (i >= text.size()) {
            fail(line, "unterminated label value");
        }
        if (!sample.labels.emplace(name, value).second) {
            fail(line, "label '" + name + "' twice");
        }
        ++i;  // the closing quote
        if (i < text.size() && text[i] == ',') {
            ++i;
        } else if (i >= text.size() || text[i] != '}') {
            fail(line, "expected ',' or '}' after a label");
        }
    }
    if (i >= text.size()) {
        fail(line, "unterminated label set");
    }
    return i + 1;
}

// A sample's family: its name, or for counters read back the name itself (0.0.4 has no
// suffix rules for counters and gauges).
struct State {
    Families families;
    std::string current;             // family of the previous line
    std::set<std::string> finished;  // families whose samples are over
    std::set<std::string> series;    // name + labels seen
};

inline void comment(State& s, const std::string& text, std::size_t line) {
    static const std::regex help("# HELP ([^ ]+) (.+)");
    static const std::regex type("# TYPE ([^ ]+) (counter|gauge|histogram|summary|untyped)");
    std::smatch m;
    const bool is_help = std::regex_match(text, m, help);
    if (!is_help && !std::regex_match(text, m, type)) {
        fail(line, "not a HELP or TYPE line: " + text);
    }
    const std::string name = m[1];
    if (!valid_metric_name(name)) {
        fail(line, "bad metric name '" + name + "'");
    }
    Family& f = s.families[name];
    if (!f.samples.empty()) {
        fail(line, "HELP or TYPE after the samples of " + name);
    }
    std::string& field = is_help ? f.help : f.type;
    if (!field.empty()) {
        fail(line, "second HELP or TYPE for " + name);
    }
    field = m[2];
    if (s.current != name && !s.current.empty()) {
        s.finished.insert(s.current);
    }
    s.current = name;
}

inline void sample(State& s, const std::string& text, std::size_t line) {
    const auto name_end = text.find_first_of("{ ");
    if (name_end == std::string::npos) {
        fail(line, "sample without a value");
    }
    const std::string name = text.substr(0, name_end);
    if (!valid_metric_name(name)) {
        fail(line, "bad metric name '" + name + "'");
    }
    Sample sample;
    std::size_t i = name_end;
    if (text[i] == '{') {
        i = parse_labels(text, i + 1, sample, line);
    }
    if (i >= text.size() || text[i] != ' ') {
        fail(line, "expected a space before the value");
    }
    const std::string value = text.substr(i + 1);
    if (value.find(' ') != std::string::npos) {
        fail(line, "timestamps are not expected");
    }
    sample.value = parse_value(value, line);
    auto found = s.families.find(name);
    if (found == s.families.end() || found->second.help.empty() || found->second.type.empty()) {
        fail(line, name + " has no HELP or TYPE before its samples");
    }
    if (s.finished.count(name) != 0 || s.current != name) {
        fail(line, "the samples of " + name + " are not together");
    }
    if (found->second.type == "counter" &&
        (name.size() < 6 || name.compare(name.size() - 6, 6, "_total") != 0)) {
        fail(line, "counter " + name + " does not end in _total");
    }
    std::string key = name;
    for (const auto& [k, v] : sample.labels) {
        key += "\x1f" + k + "=" + v;
    }
    if (!s.series.insert(key).second) {
        fail(line, "series repeated: " + text);
    }
    found->second.samples.push_back(std::move(sample));
}

}  // namespace detail

inline Families parse(const std::string& text) {
    detail::State state;
    if (!text.empty() && text.back() != '\n') {
        detail::fail(0, "the text does not end with a line feed");
    }
    std::size_t line = 0;
    for (std::size_t start = 0; start < text.size();) {
        const auto end = text.find('\n', start);
        const std::string content = text.substr(start, end - start);
        start = end + 1;
        ++line;
        if (content.empty()) {
            detail::fail(line, "empty line");
        }
        if (content[0] == '#') {
            detail::comment(state, content, line);
        } else {
            detail::sample(state, content, line);
        }
    }
    return state.families;
}

// The value of the sample of NAME with exactly LABELS; throws when there is none.
inline double value(const Families& families, const std::string& name,
                    const std::map<std::string, std::string>& labels = {}) {
    const auto f = families.find(name);
    if (f != families.end()) {
        for (const Sample& s : f->second.samples) {
            if (s.labels == labels) {
                return s.value;
            }
        }
    }
    throw std::runtime_error("no sample " + name);
}

inline bool has_sample(const Families& families, const std::string& name,
                       const std::map<std::string, std::string>& labels) {
    try {
        value(families, name, labels);
        return true;
    } catch (const std::runtime_error&) {
        return false;
    }
}

}  // namespace prometheus_text
