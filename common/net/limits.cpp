#include "common/net/limits.hpp"

#include <algorithm>

namespace tierlb::net {

void PausedListeners::add(std::uintptr_t id, Wake wake) {
    std::lock_guard lock(mutex_);
    wakes_.emplace_back(id, std::move(wake));
    waiting_ = static_cast<int>(wakes_.size());
}

void PausedListeners::remove(std::uintptr_t id) {
    std::lock_guard lock(mutex_);
    std::erase_if(wakes_, [id](const auto& w) { return w.first == id; });
    waiting_ = static_cast<int>(wakes_.size());
}

void PausedListeners::wake_all() {
    std::vector<std::pair<std::uintptr_t, Wake>> wakes;
    {
        std::lock_guard lock(mutex_);
        wakes.swap(wakes_);
        waiting_ = 0;
    }
    for (auto& w : wakes) {
        w.second();
    }
}

}  // namespace tierlb::net
