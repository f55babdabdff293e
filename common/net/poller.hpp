#pragma once
// Readiness of the sockets of client connections, HAProxy's way: each socket is registered
// once, edge-triggered for reading and writing, and its owner keeps what the kernel said
// (readable, writable) until an operation says otherwise. Waiting for readiness then costs no
// system call, where an Asio wait costs an epoll_ctl each time, and a socket needs no Asio
// state (about 170 bytes) beside its 24-byte watch. Closing a socket takes it out of the set.
//
// One poller per io_context (an Asio service): its epoll descriptor is itself watched by
// Asio, so the relay runs inside the same event loop as everything else.
//
// Rules for owners: a watch must not move while registered (keep it in a heap object or a
// coroutine frame), and an owner must not destroy itself inside its callback (defer with
// asio::post): the batch being dispatched may still hold pointers to it.

#include <sys/epoll.h>

#include <boost/asio/execution_context.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <cstdint>
#include <system_error>

#include "common/net/asio.hpp"

namespace tierlb::net {

inline constexpr std::uint32_t readable = EPOLLIN;
inline constexpr std::uint32_t writable = EPOLLOUT;
// The peer ended its stream (or the socket failed). Sticky: data and end can arrive in one
// event, and a short read must not make the end look consumed.
inline constexpr std::uint32_t hung_up = EPOLLRDHUP;

struct PollWatch {
    using OnReady = void (*)(PollWatch* watch, void* owner);

    int fd = -1;
    // The events asked of the kernel: always reading; writing only while a write waits for
    // room (otherwise every ACK that frees send-buffer space would wake the process up).
    // 0 while the fd is not registered.
    std::uint32_t subscribed = 0;
    // Readiness reported by the kernel and not yet used up. Owners clear a bit when an
    // operation would block (or came back short: with edge triggering, more data means a new
    // event). Errors and hang-ups set both bits, so the next operation reports them.
    std::uint32_t ready = 0;
    // The epoll set holding FD when its open file may outlive it in this process: a socket
    // received from another process (hand-off), which may not have closed its own copy yet.
    // The kernel drops an epoll registration only with the last reference to the file, so
    // closing FD alone would leave it registered, its events pointing at this watch after
    // the watch is gone: close_watched() takes it out first. -1 for every other socket.
    int shared_file_epoll = -1;
    OnReady on_ready = nullptr;  // called after READY gained bits
    void* owner = nullptr;
};

// Whether a socket's open file is this process's alone, or may be held by another process
// too (one received over SCM_RIGHTS while its sender still holds it).
enum class FileOwners : std::uint8_t { this_process, shared };

// Closes WATCH.fd, first taking it out of its epoll set if its file is shared (see
// PollWatch::shared_file_epoll); leaves WATCH unregistered and without a descriptor.
void close_watched(PollWatch& watch);

class Poller : public asio::execution_context::service {
public:
    using key_type = Poller;
    static inline asio::execution_context::id id;

    static Poller& of(Executor executor) { return asio::use_service<Poller>(executor.context()); }

    explicit Poller(asio::execution_context& context);
    ~Poller() override;

    // Registers WATCH.fd (non-blocking) for reading. READY starts as INITIAL: what the caller
    // knows (a new connection can be written to); the kernel reports the rest on its own.
    // OWNERS says whether another process may hold the socket's file too.
    std::error_code add(PollWatch& watch, std::uint32_t initial,
                        FileOwners owners = FileOwners::this_process);

    // Asks for writability events while a write waits for room, and stops asking.
    void want_writable(PollWatch& watch) { subscribe(watch, true); }
    void drop_writable(PollWatch& watch) { subscribe(watch, false); }

    // Takes WATCH.fd out of the set without closing it. Needed before a socket leaves the
    // process another way than close() (passed to another process, which keeps the file open:
    // the registration would outlive the watch).
    void remove(PollWatch& watch);

private:
    void subscribe(PollWatch& watch, bool writing);
    void shutdown() override;
    void arm();
    void dispatch();

    int epoll_fd_ = -1;
    asio::posix::basic_stream_descriptor<Executor> descriptor_;
    bool armed_ = false;
};

// Waits until WATCH is ready for WHAT (readable or writable), or TIMEOUT passes. True when
// ready (or in error: the next operation says which); false on timeout. Only one wait per
// watch at a time.
Task<bool> wait_ready(PollWatch& watch, std::uint32_t what, Clock::duration timeout);

}  // namespace tierlb::net
