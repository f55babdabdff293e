#pragma once
// Relay buffers, borrowed only between a read and the end of its write: an idle connection
// holds none. One pool per thread (connections never change threads), so no locking.

#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace tierlb::net {

class BufferPool {
public:
    static constexpr std::size_t buffer_size = 64 * 1024;

    BufferPool() = default;
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;
    ~BufferPool();

    // The calling thread's pool.
    static BufferPool& local();

    std::byte* take();
    void give_back(std::byte* buffer);

    std::size_t in_use() const { return in_use_; }
    std::size_t cached() const { return free_.size(); }

private:
    // A few spare buffers are kept for the next reads; more are freed at once so that a
    // burst does not pin memory for ever.
    static constexpr std::size_t max_cached = 16;

    std::vector<std::byte*> free_;
    std::size_t in_use_ = 0;
};

// A borrowed buffer, given back when it goes out of scope or is released.
class Buffer {
public:
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& other) noexcept : data_(std::exchange(other.data_, nullptr)) {}
    Buffer& operator=(Buffer&& other) noexcept {
        release();
        data_ = std::exchange(other.data_, nullptr);
        return *this;
    }
    ~Buffer() { release(); }

    static Buffer borrow() {
        Buffer b;
        b.data_ = BufferPool::local().take();
        return b;
    }
    void release() {
        if (data_ != nullptr) {
            BufferPool::local().give_back(std::exchange(data_, nullptr));
        }
    }
    explicit operator bool() const { return data_ != nullptr; }
    std::byte* data() const { return data_; }
    std::span<std::byte> span() const { return {data_, BufferPool::buffer_size}; }

private:
    std::byte* data_ = nullptr;
};

}  // namespace tierlb::net
