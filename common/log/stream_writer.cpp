#include "common/log/stream_writer.hpp"

#include <limits.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>

namespace tierlb::log {

namespace {

std::atomic<std::uint64_t> dropped{0};
std::atomic<bool> threaded{false};

// Writes all of TEXT, retrying short writes; gives up on an error (a closed pipe).
void write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

}  // namespace

std::uint64_t dropped_lines() {
    return dropped.load(std::memory_order_relaxed);
}

void count_dropped_line() {
    dropped.fetch_add(1, std::memory_order_relaxed);
}

void use_writer_threads() {
    threaded = true;
}

void write_line(int fd, std::string line) {
    if (threaded.load(std::memory_order_relaxed)) {
        StreamWriter::of(fd).push(std::move(line));
    } else {
        write_all(fd, line);  // one write per line: lines of several processes stay whole
    }
}

StreamWriter& StreamWriter::of(int fd) {
    // Never destroyed before the other statics that may still log; flushed by flush_streams()
    // and by their own destructor at normal exit.
    static StreamWriter out(1);
    static StreamWriter err(2);
    return fd == 1 ? out : err;
}

void flush_streams() {
    StreamWriter::of(1).flush();
    StreamWriter::of(2).flush();
}

StreamWriter::~StreamWriter() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
}

bool StreamWriter::push(std::string line) {
    {
        std::lock_guard lock(mutex_);
        if (queued_bytes_ + line.size() > max_queued_bytes) {
            count_dropped_line();
            return false;
        }
        if (!thread_.joinable()) {
            thread_ = std::thread([this] { run(); });
        }
        queued_bytes_ += line.size();
        lines_.push_back(std::move(line));
    }
    wake_.notify_one();
    return true;
}

void StreamWriter::flush() {
    std::unique_lock lock(mutex_);
    drained_.wait_for(lock, std::chrono::seconds(1),
                      [this] { return lines_.empty() && !writing_; });
}

// Takes every queued line at once and writes them several per call when the log is busy,
// in writes of at most PIPE_BUF bytes: those are atomic on a pipe, so the lines of the other
// processes sharing it never cut into ours.
void StreamWriter::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        wake_.wait(lock, [this] { return stop_ || !lines_.empty(); });
        if (lines_.empty()) {
            return;  // stop_, and nothing left
        }
        std::deque<std::string> taken;
        taken.swap(lines_);
        queued_bytes_ = 0;
        writing_ = true;
        lock.unlock();
        std::string batch;
        for (const auto& line : taken) {
            if (!batch.empty() && batch.size() + line.size() > PIPE_BUF) {
                write_all(fd_, batch);
                batch.clear();
            }
            batch += line;
        }
        write_all(fd_, batch);
        lock.lock();
        writing_ = false;
        if (lines_.empty()) {
            drained_.notify_all();
        }
    }
}

}  // namespace tierlb::log
