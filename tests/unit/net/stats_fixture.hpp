#pragma once
// A ProcessRuntime built by hand from configuration text, as the process assembly builds it:
// a BackendRuntime per backend or listen, a FrontendRuntime per frontend or listen pointing at
// its backend. No sockets.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/net/runtime.hpp"
#include "config/load.hpp"

namespace stats_test {

struct Fixture {
    tierlb::config::ConfigurationPtr config;
    tierlb::net::ProcessRuntime runtime;

    tierlb::net::BackendRuntime& backend(const std::string& name) {
        for (auto& b : runtime.backends) {
            if (b->name() == name) {
                return *b;
            }
        }
        FAIL("no backend " << name);
        throw;
    }
    tierlb::net::FrontendRuntime& frontend(const std::string& name) {
        for (auto& f : runtime.frontends) {
            if (f->config->name == name) {
                return *f;
            }
        }
        FAIL("no frontend " << name);
        throw;
    }
};

inline std::unique_ptr<Fixture> make_runtime(const std::string& text) {
    auto f = std::make_unique<Fixture>();
    tierlb::config::Diagnostics diagnostics;
    f->config = tierlb::config::load_text(
        text, "test.cfg", diagnostics,
        [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
    std::ostringstream messages;
    diagnostics.print(messages);
    INFO(messages.str());
    REQUIRE(f->config != nullptr);
    f->runtime.state.config = f->config;
    for (const auto& proxy : f->config->proxies) {
        if (proxy.has_backend()) {
            f->runtime.backends.push_back(std::make_unique<tierlb::net::BackendRuntime>(proxy));
        }
    }
    for (const auto& proxy : f->config->proxies) {
        if (!proxy.has_frontend()) {
            continue;
        }
        auto frontend = std::make_unique<tierlb::net::FrontendRuntime>();
        frontend->config = &proxy;
        if (const auto* target = f->config->backend_of(proxy)) {
            frontend->backend = &f->backend(target->name);
        }
        f->runtime.frontends.push_back(std::move(frontend));
    }
    return f;
}

// HAProxy 2.6's reference configuration (/work/reference/haproxy-2.6-stats.cfg).
inline const std::string reference_config =
    "global\n"
    "    stats socket /tmp/hapref/s.sock level admin\n"
    "defaults\n"
    "    mode tcp\n"
    "    timeout connect 1s\n"
    "    timeout client 10s\n"
    "    timeout server 10s\n"
    "listen disp\n"
    "    bind 127.0.0.1:23456\n"
    "    balance leastconn\n"
    "    server w1 127.0.0.1:23457 check\n"
    "    server w2 abns@xyz send-proxy\n";

inline std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, separator)) {
        parts.push_back(part);
    }
    return parts;
}

// What the event log writes on stderr while it lives.
class StderrCapture {
public:
    StderrCapture() {
        std::fflush(stderr);
        saved_ = ::dup(2);
        file_ = std::tmpfile();
        ::dup2(::fileno(file_), 2);
    }
    ~StderrCapture() {
        restore();
        std::fclose(file_);
    }
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;
    std::string text() {
        restore();
        std::rewind(file_);
        std::string out;
        char buffer[4096];
        std::size_t n = 0;
        while ((n = std::fread(buffer, 1, sizeof(buffer), file_)) > 0) {
            out.append(buffer, n);
        }
        return out;
    }

private:
    void restore() {
        if (saved_ >= 0) {
            std::fflush(stderr);
            ::dup2(saved_, 2);
            ::close(saved_);
            saved_ = -1;
        }
    }
    int saved_ = -1;
    std::FILE* file_ = nullptr;
};

}  // namespace stats_test
