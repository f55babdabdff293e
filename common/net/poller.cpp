#include "common/net/poller.hpp"

#include <unistd.h>

#include <array>
#include <cerrno>

namespace tierlb::net {

Poller::Poller(asio::execution_context& context)
    : asio::execution_context::service(context),
      epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      descriptor_(static_cast<asio::io_context&>(context).get_executor()) {
    if (epoll_fd_ < 0) {
        throw std::system_error(errno, std::generic_category(), "epoll_create1");
    }
    // Asio owns the descriptor object but not the file: released before close below.
    descriptor_.assign(epoll_fd_);
}

Poller::~Poller() {
    error_code ignored;
    descriptor_.release();
    ::close(epoll_fd_);
}

void Poller::shutdown() {
    error_code ignored;
    descriptor_.cancel(ignored);
}

std::error_code Poller::add(PollWatch& watch, std::uint32_t initial, FileOwners owners) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    event.data.ptr = &watch;
    watch.ready = initial;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, watch.fd, &event) != 0) {
        return {errno, std::generic_category()};
    }
    watch.subscribed = event.events;
    watch.shared_file_epoll = owners == FileOwners::shared ? epoll_fd_ : -1;
    arm();
    return {};
}

namespace {

// Takes WATCH.fd out of EPOLL (when it was ever added) and forgets its registration.
void unregister(int epoll, PollWatch& watch) {
    if (epoll >= 0 && watch.fd >= 0 && watch.subscribed != 0) {
        epoll_event unused{};
        ::epoll_ctl(epoll, EPOLL_CTL_DEL, watch.fd, &unused);
    }
    watch.subscribed = 0;
    watch.ready = 0;
    watch.shared_file_epoll = -1;
}

}  // namespace

void Poller::remove(PollWatch& watch) { unregister(epoll_fd_, watch); }

void close_watched(PollWatch& watch) {
    if (watch.fd < 0) {
        return;
    }
    // A file of this process alone leaves the set with its last descriptor: no call needed.
    unregister(watch.shared_file_epoll, watch);
    ::close(watch.fd);
    watch.fd = -1;
}

void Poller::subscribe(PollWatch& watch, bool writing) {
    const std::uint32_t events =
        writing ? watch.subscribed | EPOLLOUT : watch.subscribed & ~std::uint32_t{EPOLLOUT};
    if (events == watch.subscribed || watch.fd < 0) {
        return;
    }
    epoll_event event{};
    event.events = events;
    event.data.ptr = &watch;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, watch.fd, &event) == 0) {
        watch.subscribed = events;
    }
}

void Poller::arm() {
    if (armed_) {
        return;
    }
    armed_ = true;
    descriptor_.async_wait(asio::posix::descriptor_base::wait_read, [this](error_code ec) {
        armed_ = false;
        if (!ec) {
            dispatch();
        }
    });
}

// Hands every event to its watch. A full batch means more may be waiting: read again.
void Poller::dispatch() {
    std::array<epoll_event, 256> events;
    int n = 0;
    do {
        n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 0);
        for (int i = 0; i < n; ++i) {
            auto* watch = static_cast<PollWatch*>(events[static_cast<std::size_t>(i)].data.ptr);
            const std::uint32_t e = events[static_cast<std::size_t>(i)].events;
            std::uint32_t bits = e & (EPOLLIN | EPOLLOUT);
            if ((e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0) {
                bits |= readable | hung_up | ((e & (EPOLLERR | EPOLLHUP)) != 0 ? writable : 0u);
            }
            watch->ready |= bits;
            if (watch->on_ready != nullptr) {
                watch->on_ready(watch, watch->owner);
            }
        }
    } while (n == static_cast<int>(events.size()));
    arm();
}

namespace {

// A coroutine waiting on a watch: it sleeps on a timer set to its deadline, and readiness
// cancels the timer. Everything runs on the watch's own thread, so there is no race.
struct ReadyWaiter {
    Timer* timer;
    std::uint32_t what;
    bool woken = false;
};

void wake_waiter(PollWatch* watch, void* owner) {
    auto* waiter = static_cast<ReadyWaiter*>(owner);
    if (!waiter->woken && (watch->ready & waiter->what) != 0) {
        waiter->woken = true;
        waiter->timer->cancel();
    }
}

}  // namespace

Task<bool> wait_ready(PollWatch& watch, std::uint32_t what, Clock::duration timeout) {
    if ((watch.ready & what) != 0) {
        co_return true;
    }
    const auto executor = co_await asio::this_coro::executor;
    if ((what & writable) != 0) {
        Poller::of(executor).want_writable(watch);
    }
    Timer timer(executor, timeout);
    ReadyWaiter waiter{&timer, what};
    watch.owner = &waiter;
    watch.on_ready = &wake_waiter;
    co_await timer.async_wait(use_task);
    watch.on_ready = nullptr;
    watch.owner = nullptr;
    co_return (watch.ready & what) != 0;
}

}  // namespace tierlb::net
