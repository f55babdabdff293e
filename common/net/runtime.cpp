#include "common/net/runtime.hpp"

namespace tierlb::net {

BackendRuntime* ProcessRuntime::find_backend(std::string_view name) const {
    for (const auto& b : backends) {
        if (b->name() == name) {
            return b.get();
        }
    }
    return nullptr;
}

}  // namespace tierlb::net
