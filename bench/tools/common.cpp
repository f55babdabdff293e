#include "bench/tools/common.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>

namespace bench {

std::uint64_t raise_fd_limit(std::uint64_t wanted) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return 0;
    }
    // Above the hard limit only with CAP_SYS_RESOURCE; when that fails, settle for the hard one.
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) {
        rlimit bigger{wanted, wanted};
        if (setrlimit(RLIMIT_NOFILE, &bigger) == 0) {
            return wanted;
        }
    }
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
    return limit.rlim_cur;
}

std::optional<tcp::endpoint> parse_loopback_endpoint(std::string_view text, std::string& error) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        error = "expected HOST:PORT, got '" + std::string(text) + "'";
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    std::string_view port_text = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
        error = "bad port in '" + std::string(text) + "'";
        return std::nullopt;
    }
    boost::system::error_code parse_error;
    auto address = boost::asio::ip::make_address(std::string(host), parse_error);
    if (parse_error) {
        error = "bad address in '" + std::string(text) + "' (numeric addresses only)";
        return std::nullopt;
    }
    if (!address.is_loopback()) {
        error = "refusing non-loopback address '" + std::string(host) +
                "': benchmark traffic stays on 127.0.0.0/8 or ::1";
        return std::nullopt;
    }
    return tcp::endpoint(address, static_cast<unsigned short>(port));
}

Options::Options(const std::vector<std::string>& args, const std::set<std::string>& flags) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.size() < 3 || arg.rfind("--", 0) != 0) {
            error_ = "unexpected argument '" + arg + "'";
            return;
        }
        std::string name = arg.substr(2);
        if (flags.contains(name)) {
            values_[name] = "1";
            continue;
        }
        if (i + 1 >= args.size()) {
            error_ = "option --" + name + " needs a value";
            return;
        }
        values_[name] = args[++i];
    }
}

bool Options::has(const std::string& name) const {
    used_.insert(name);
    return values_.contains(name);
}

std::string Options::get(const std::string& name, const std::string& fallback) const {
    used_.insert(name);
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

long long Options::get_int(const std::string& name, long long fallback, long long min,
                           long long max) {
    used_.insert(name);
    auto it = values_.find(name);
    if (it == values_.end()) {
        return fallback;
    }
    long long value = 0;
    const std::string& text = it->second;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
        error_ = "--" + name + " wants an integer in [" + std::to_string(min) + ", " +
                 std::to_string(max) + "], got '" + text + "'";
        return fallback;
    }
    return value;
}

double Options::get_double(const std::string& name, double fallback, double min, double max) {
    used_.insert(name);
    auto it = values_.find(name);
    if (it == values_.end()) {
        return fallback;
    }
    char* end = nullptr;
    double value = std::strtod(it->second.c_str(), &end);
    if (end == it->second.c_str() || *end != '\0' || !(value >= min && value <= max)) {
        error_ = "--" + name + " wants a number in [" + std::to_string(min) + ", " +
                 std::to_string(max) + "], got '" + it->second + "'";
        return fallback;
    }
    return value;
}

bool Options::check_unused() {
    for (const auto& [name, value] : values_) {
        if (!used_.contains(name) && error_.empty()) {
            error_ = "unknown option --" + name;
        }
    }
    return ok();
}

std::size_t Histogram::index_of(std::uint64_t ns) {
    // Values below 2^(sub_bits+1) get a bucket each; above, the top sub_bits+1 bits select the
    // bucket within the value's power of two.
    int width = std::bit_width(ns);
    int shift = std::max(0, width - (sub_bits + 1));
    return (static_cast<std::size_t>(shift) << sub_bits) + static_cast<std::size_t>(ns >> shift);
}

std::uint64_t Histogram::midpoint_of(std::size_t index) {
    if (index < (std::size_t{2} << sub_bits)) {
        return index;
    }
    std::size_t shift = (index >> sub_bits) - 1;
    std::uint64_t mantissa = index - (shift << sub_bits);
    return (mantissa << shift) + ((std::uint64_t{1} << shift) >> 1);
}

void Histogram::record(std::chrono::nanoseconds value) {
    auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(0, value.count()));
    ++buckets_[std::min(index_of(ns), bucket_count - 1)];
    ++count_;
    max_ns_ = std::max(max_ns_, ns);
    sum_ns_ += static_cast<long double>(ns);
}

void Histogram::merge(const Histogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i) {
        buckets_[i] += other.buckets_[i];
    }
    count_ += other.count_;
    max_ns_ = std::max(max_ns_, other.max_ns_);
    sum_ns_ += other.sum_ns_;
}

double Histogram::quantile_ms(double q) const {
    if (count_ == 0) {
        return 0.0;
    }
    // The rank of the sample at quantile q, counted from 1 (nearest-rank method).
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        seen += buckets_[i];
        if (seen >= rank) {
            return static_cast<double>(std::min(midpoint_of(i), max_ns_)) / 1e6;
        }
    }
    return max_ms();
}

double Histogram::mean_ms() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_ns_ / count_) / 1e6;
}

void Json_line::key(std::string_view k) {
    if (!body_.empty()) {
        body_ += ",";
    }
    body_ += "\"";
    body_ += k;
    body_ += "\":";
}

Json_line& Json_line::add(std::string_view k, std::string_view value) {
    key(k);
    body_ += "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') {
            body_ += '\\';
            body_ += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
            body_ += escaped;
        } else {
            body_ += c;
        }
    }
    body_ += "\"";
    return *this;
}

Json_line& Json_line::add(std::string_view k, double value) {
    key(k);
    if (!std::isfinite(value)) {
        body_ += "null";
        return *this;
    }
    char text[64];
    std::snprintf(text, sizeof text, "%.4f", value);
    body_ += text;
    return *this;
}

Json_line& Json_line::add(std::string_view k, std::uint64_t value) {
    key(k);
    body_ += std::to_string(value);
    return *this;
}

Json_line& Json_line::add(std::string_view k, long long value) {
    key(k);
    body_ += std::to_string(value);
    return *this;
}

Json_line& Json_line::add_raw(std::string_view k, std::string_view json) {
    key(k);
    body_ += json;
    return *this;
}

void add_latency(Json_line& json, const Histogram& histogram) {
    json.add("samples", histogram.count())
        .add("p50_ms", histogram.quantile_ms(0.50))
        .add("p90_ms", histogram.quantile_ms(0.90))
        .add("p99_ms", histogram.quantile_ms(0.99))
        .add("max_ms", histogram.max_ms())
        .add("mean_ms", histogram.mean_ms());
}

void print_result(const std::string& human, const Json_line& json) {
    std::cout << human << "\nRESULT " << json.str() << std::endl;
}

}  // namespace bench
