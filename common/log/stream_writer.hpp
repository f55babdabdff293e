#pragma once
// Log lines for stdout or stderr, written by a thread of their own, so that a slow reader of
// the pipe (a journal that falls behind, a terminal paused with Ctrl-S) never stalls a
// connection. The queue is bounded: a line that does not fit is dropped and counted
// (`show info` DroppedLogs), as HAProxy drops lines rather than block.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace tierlb::log {

class StreamWriter {
public:
    static constexpr std::size_t max_queued_bytes = 4 * 1024 * 1024;

    // The writer of FD (1 or 2), started at its first line.
    static StreamWriter& of(int fd);

    explicit StreamWriter(int fd) : fd_(fd) {}
    ~StreamWriter();  // writes what is queued, then stops
    StreamWriter(const StreamWriter&) = delete;
    StreamWriter& operator=(const StreamWriter&) = delete;

    // LINE, newline included. False when the queue is full: the line is dropped.
    bool push(std::string line);

    // Waits until what is queued now has been written (at exit), at most about a second.
    void flush();

private:
    void run();

    int fd_;
    std::mutex mutex_;
    std::condition_variable wake_;     // lines to write, or stop
    std::condition_variable drained_;  // the queue became empty
    std::deque<std::string> lines_;
    std::size_t queued_bytes_ = 0;
    bool writing_ = false;  // the thread holds lines taken from the queue
    bool stop_ = false;
    std::thread thread_;
};

// Lines dropped by every log target of this process (full queue, full socket buffer).
std::uint64_t dropped_lines();
void count_dropped_line();

// Writes LINE (newline included) to FD, 1 or 2: through the writer thread once
// use_writer_threads() was called (a process that serves connections), else at once (the
// master, `tierlb -c`: they serve nothing, and the master forks).
void write_line(int fd, std::string line);
void use_writer_threads();

// Writes out what the stream writers hold (before _exit).
void flush_streams();

}  // namespace tierlb::log
