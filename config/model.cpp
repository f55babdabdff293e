#include "config/model.hpp"

namespace tierlb::config {

const char* to_string(TlsVersion v) {
    return v == TlsVersion::tlsv12 ? "TLSv1.2" : "TLSv1.3";
}

const char* to_string(StatsLevel level) {
    switch (level) {
        case StatsLevel::user:
            return "user";
        case StatsLevel::operator_level:
            return "operator";
        case StatsLevel::admin:
            return "admin";
    }
    return "?";
}

const char* to_string(Balance b) {
    switch (b) {
        case Balance::roundrobin:
            return "roundrobin";
        case Balance::leastconn:
            return "leastconn";
        case Balance::source:
            return "source";
        case Balance::first:
            return "first";
    }
    return "?";
}

const char* to_string(ProxyKind k) {
    switch (k) {
        case ProxyKind::defaults:
            return "defaults";
        case ProxyKind::frontend:
            return "frontend";
        case ProxyKind::backend:
            return "backend";
        case ProxyKind::listen:
            return "listen";
    }
    return "?";
}

const Proxy* Configuration::find_backend(const std::string& name) const {
    for (const auto& p : proxies) {
        if (p.name == name && p.has_backend()) {
            return &p;
        }
    }
    return nullptr;
}

const Proxy* Configuration::find_proxy(const std::string& name) const {
    for (const auto& p : proxies) {
        if (p.name == name) {
            return &p;
        }
    }
    return nullptr;
}

const Proxy* Configuration::backend_of(const Proxy& frontend) const {
    if (!frontend.default_backend.empty()) {
        return find_backend(frontend.default_backend);
    }
    return frontend.kind == ProxyKind::listen ? &frontend : nullptr;
}

}  // namespace tierlb::config
