#pragma once
// Helpers shared by the configuration tests: load text with a fixed environment and look at
// what came out.

#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <string>

#include "config/load.hpp"

namespace test_support {

struct Loaded {
    tierlb::config::ConfigurationPtr config;
    tierlb::config::Diagnostics diagnostics;

    std::string text() const {
        std::ostringstream out;
        diagnostics.print(out);
        return out.str();
    }
    bool has(int line, const std::string& fragment) const {
        for (const auto& d : diagnostics.all()) {
            if (d.where.line == line && d.message.find(fragment) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
    const tierlb::config::Proxy& proxy(const std::string& name) const {
        const auto* p = config->find_proxy(name);
        REQUIRE(p != nullptr);
        return *p;
    }
};

inline Loaded load(const std::string& text, std::map<std::string, std::string> env = {}) {
    Loaded loaded;
    loaded.config =
        tierlb::config::load_text(text, "test.cfg", loaded.diagnostics,
                                  [env](const std::string& name) -> std::optional<std::string> {
                                      auto found = env.find(name);
                                      if (found == env.end()) {
                                          return std::nullopt;
                                      }
                                      return found->second;
                                  });
    return loaded;
}

// A valid listen section around LINE (which lands on line 5), to test one proxy keyword.
inline std::string in_listen(const std::string& line) {
    return "listen l\n"
           "    bind 127.0.0.1:0\n"
           "    timeout client 1h\n"
           "    server s 127.0.0.1:9\n"
           "    " +
           line + "\n";
}

}  // namespace test_support
