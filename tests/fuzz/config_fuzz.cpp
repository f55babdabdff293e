// Fuzzes the configuration language end to end (lexer, keyword tables, finalize, validate)
// through load_text, the in-memory twin of `tierlb -c`: arbitrary text must never crash it,
// every diagnostic must point into the text, and a configuration comes back exactly when
// there is no error.

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/load.hpp"
#include "fuzz_assert.hpp"

namespace config = tierlb::config;

// Host names in addresses resolve through getaddrinfo. A fuzz run must not send thousands of
// DNS queries a second to whatever resolver the machine has (nor depend on its answers), so
// this executable replaces it with a resolver that knows "localhost" alone. Its result is one
// block from malloc, which the freeaddrinfo below releases.
extern "C" int getaddrinfo(const char* node, const char* /*service*/, const addrinfo* hints,
                           addrinfo** result) {
    if (node == nullptr || std::strcmp(node, "localhost") != 0) {
        return EAI_NONAME;
    }
    struct Answer {
        addrinfo info;
        sockaddr_in6 address;  // large enough for either family
    };
    auto* answer = static_cast<Answer*>(std::calloc(1, sizeof(Answer)));
    if (answer == nullptr) {
        return EAI_MEMORY;
    }
    answer->info.ai_socktype = SOCK_STREAM;
    answer->info.ai_addr = reinterpret_cast<sockaddr*>(&answer->address);
    if (hints != nullptr && hints->ai_family == AF_INET6) {
        answer->address.sin6_family = AF_INET6;
        answer->address.sin6_addr = in6addr_loopback;
        answer->info.ai_family = AF_INET6;
        answer->info.ai_addrlen = sizeof(sockaddr_in6);
    } else {
        auto* in = reinterpret_cast<sockaddr_in*>(&answer->address);
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        answer->info.ai_family = AF_INET;
        answer->info.ai_addrlen = sizeof(sockaddr_in);
    }
    *result = &answer->info;
    return 0;
}

extern "C" void freeaddrinfo(addrinfo* result) noexcept {
    std::free(result);
}

namespace {

// A fixed environment, so that a run does not depend on the fuzzing machine's and ${NAME}
// expansions (with and without defaults) reach both of their branches.
std::optional<std::string> fuzz_environment(const std::string& name) {
    static const std::map<std::string, std::string> variables{
        {"TIERLB_PORT", "1234"},
        {"TIERLB_CRT", "/etc/tierlb/site.pem"},
        {"TIERLB_BACKEND", "127.0.0.1:8080"},
        {"EMPTY", ""},
        {"SPACES", "a b  c"},
    };
    const auto found = variables.find(name);
    if (found == variables.end()) {
        return std::nullopt;
    }
    return found->second;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::string name = "fuzz.cfg";
    const auto lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;

    config::Diagnostics diagnostics;
    const config::ConfigurationPtr loaded =
        config::load_text(text, name, diagnostics, fuzz_environment);

    FUZZ_ASSERT((loaded == nullptr) == diagnostics.has_errors());
    for (const config::Diagnostic& d : diagnostics.all()) {
        FUZZ_ASSERT(d.where.file == name);
        FUZZ_ASSERT(d.where.line >= 0 && d.where.line <= lines);
        FUZZ_ASSERT(!d.message.empty());
    }
    if (loaded == nullptr) {
        return 0;
    }
    // What the runtime relies on in a valid configuration: "all" is resolved, and every
    // process a section or a listener runs in is one the master starts (the sorted, distinct
    // list in processes).
    const std::vector<int>& started = loaded->processes;
    FUZZ_ASSERT(std::is_sorted(started.begin(), started.end()));
    FUZZ_ASSERT(std::adjacent_find(started.begin(), started.end()) == started.end());
    const auto all_started = [&started](const config::ProcessSet& set) {
        const std::vector<int> numbers = set.numbers();
        return !set.is_all() &&
               std::includes(started.begin(), started.end(), numbers.begin(), numbers.end());
    };
    for (const config::Proxy& proxy : loaded->proxies) {
        FUZZ_ASSERT(!proxy.name.empty());
        FUZZ_ASSERT(all_started(proxy.processes));
        for (const config::Bind& bind : proxy.binds) {
            FUZZ_ASSERT(!bind.processes.empty() && all_started(bind.processes));
        }
    }
    return 0;
}
