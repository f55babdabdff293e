#include "common/net/buffer_pool.hpp"

namespace tierlb::net {

BufferPool& BufferPool::local() {
    thread_local BufferPool pool;
    return pool;
}

std::byte* BufferPool::take() {
    ++in_use_;
    if (!free_.empty()) {
        std::byte* b = free_.back();
        free_.pop_back();
        return b;
    }
    return new std::byte[buffer_size];
}

void BufferPool::give_back(std::byte* buffer) {
    --in_use_;
    if (free_.size() < max_cached) {
        free_.push_back(buffer);
    } else {
        delete[] buffer;
    }
}

BufferPool::~BufferPool() {
    for (auto* b : free_) {
        delete[] b;
    }
}

}  // namespace tierlb::net
