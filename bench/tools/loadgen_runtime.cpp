#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <csignal>

#include <algorithm>
#include <exception>
#include <iostream>
#include <iterator>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>

#include "bench/tools/loadgen.hpp"

namespace bench::loadgen {

std::atomic<bool> stop_requested{false};

void start_signal_thread() {
    std::signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // Detached: it sleeps in sigwait until a signal comes, and exit() ends it otherwise.
    std::thread([set] {
        int signal_number = 0;
        while (sigwait(&set, &signal_number) == 0) {
            stop_requested.store(true, std::memory_order_relaxed);
        }
    }).detach();
}

std::uint64_t Error_counts::total() const {
    std::uint64_t sum = 0;
    for (auto count : by_kind) {
        sum += count;
    }
    return sum;
}

void Error_counts::merge(const Error_counts& other) {
    for (std::size_t i = 0; i < by_kind.size(); ++i) {
        by_kind[i] += other.by_kind[i];
    }
}

std::string Error_counts::json() const {
    static constexpr const char* names[] = {"connect",    "timeout",   "reset", "eof",
                                            "short_read", "handshake", "tls",   "other"};
    static_assert(std::size(names) == static_cast<std::size_t>(Error_kind::count));
    Json_line json;
    for (std::size_t i = 0; i < by_kind.size(); ++i) {
        if (by_kind[i] != 0) {
            json.add(names[i], by_kind[i]);
        }
    }
    return json.str();
}

Task<> back_off(asio::io_context& ctx) {
    Timer timer(ctx, std::chrono::milliseconds(10));
    co_await timer.async_wait(nothrow);
}

Error_kind classify(const boost::system::error_code& error, bool connecting, bool handshaking) {
    namespace err = asio::error;
    // Only the watchdog cancels operations; cancels at the end of a run are not counted.
    if (error == err::operation_aborted || error == err::timed_out) {
        return Error_kind::timeout;
    }
    if (connecting) {
        return Error_kind::connect;
    }
    if (handshaking) {
        return Error_kind::handshake;
    }
    if (error.category() == tls_category()) {
        return Error_kind::tls;
    }
    if (error == err::eof) {
        return Error_kind::eof;
    }
    if (error == err::connection_reset || error == err::broken_pipe) {
        return Error_kind::reset;
    }
    return Error_kind::other;
}

Watch::Watch(Watchdog& dog, Socket& socket) : dog_(dog) {
    if (dog_.free_slots_.empty()) {
        slot_ = dog_.entries_.size();
        dog_.entries_.push_back({&socket, clock::time_point::max()});
    } else {
        slot_ = dog_.free_slots_.back();
        dog_.free_slots_.pop_back();
        dog_.entries_[slot_] = {&socket, clock::time_point::max()};
    }
}

Watch::~Watch() {
    dog_.entries_[slot_] = {};
    dog_.free_slots_.push_back(slot_);
}

void Watch::arm(clock::duration timeout) {
    dog_.entries_[slot_].deadline = clock::now() + timeout;
}

void Watch::disarm() {
    dog_.entries_[slot_].deadline = clock::time_point::max();
}

void Watchdog::reset(clock::time_point end) {
    end_ = end;
    ended_ = stop_requested.load(std::memory_order_relaxed);
}

void Watchdog::spawn(Task<> worker) {
    ++active_;
    asio::co_spawn(ctx_, std::move(worker), [this](std::exception_ptr failure) {
        --active_;
        if (failure) {
            // Unexpected (allocation failure and the like): say so, the counts stay honest.
            try {
                std::rethrow_exception(failure);
            } catch (const std::exception& e) {
                std::cerr << "bench_loadgen: worker failed: " << e.what() << "\n";
            }
        }
    });
}

void Watchdog::tick(clock::time_point now) {
    if (!ended_ && (now >= end_ || stop_requested.load(std::memory_order_relaxed))) {
        ended_ = true;
    }
    for (auto& entry : entries_) {
        if (entry.socket != nullptr && entry.deadline != clock::time_point::max() &&
            (ended_ || now >= entry.deadline)) {
            boost::system::error_code ignored;
            entry.socket->cancel(ignored);
            entry.deadline = clock::time_point::max();
        }
    }
}

Task<> Watchdog::run() {
    // 10 ms: fine enough for the end of a run, coarse enough to cost nothing.
    Timer timer(ctx_);
    while (active_ > 0) {
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(nothrow);
        tick(clock::now());
    }
}

Runtime::Runtime(const Settings& settings) : settings_(settings) {
    for (std::size_t i = 0; i < settings_.threads; ++i) {
        threads_.push_back(std::make_unique<Thread_state>(i));
    }
}

void Runtime::run_phase(const std::function<Task<>(Thread_state&)>& body) {
    for (auto& thread : threads_) {
        thread->ctx.restart();
        asio::co_spawn(thread->ctx, body(*thread), [](std::exception_ptr failure) {
            if (failure) {
                try {
                    std::rethrow_exception(failure);
                } catch (const std::exception& e) {
                    std::cerr << "bench_loadgen: phase failed: " << e.what() << "\n";
                }
            }
        });
    }
    std::vector<std::thread> runners;
    for (std::size_t i = 1; i < threads_.size(); ++i) {
        runners.emplace_back([&ctx = threads_[i]->ctx] { ctx.run(); });
    }
    threads_.front()->ctx.run();
    for (auto& runner : runners) {
        runner.join();
    }
}

Task<> connect_one(Thread_state& thread, std::size_t index, const Settings& settings) {
    Socket& socket = thread.sockets[index];
    Watch watch(thread.watchdog, socket);
    watch.arm(settings.timeout);
    auto [error] = co_await socket.async_connect(settings.target, nothrow);
    bool connecting = bool(error);
    boost::system::error_code ignored;
    if (!error) {
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        if (settings.tls) {
            socket.non_blocking(true, error);
            thread.ssl[index] = settings.tls->new_ssl(socket.native_handle(), nullptr);
            if (!thread.ssl[index]) {
                error = asio::error::no_memory;
            }
            if (!error) {
                error = co_await tls_handshake(socket, thread.ssl[index].get());
            }
            if (!error && thread.tls_info.empty()) {
                thread.tls_info = tls_describe(thread.ssl[index].get());
            }
        }
    }
    watch.disarm();
    if (error) {
        if (!thread.watchdog.ended()) {
            thread.errors.add(classify(error, connecting, !connecting));
        }
        if (!thread.ssl.empty()) {
            thread.ssl[index].reset();
        }
        socket.close(ignored);
    }
}

void Runtime::connect_all(std::size_t total) {
    run_phase([this, total](Thread_state& thread) -> Task<> {
        std::size_t count = share(total, thread.index);
        thread.sockets.clear();
        thread.ssl.clear();
        // Reserved up front: the workers hold references into this vector.
        thread.sockets.reserve(count);
        if (settings_.tls) {
            thread.ssl.resize(count);
        }
        thread.watchdog.reset(clock::time_point::max());
        for (std::size_t i = 0; i < count; ++i) {
            thread.sockets.emplace_back(thread.ctx);
            thread.watchdog.spawn(connect_one(thread, i, settings_));
        }
        co_await thread.watchdog.run();
    });
}

Window Runtime::window(clock::duration duration) const {
    Window window;
    window.start = clock::now();
    window.end = window.start + duration;
    auto warmup = settings_.warmup;
    if (warmup * 2 > duration) {
        warmup = duration / 4;
    }
    window.measure_from = window.start + warmup;
    return window;
}

std::size_t Runtime::share(std::size_t total, std::size_t i) const {
    std::size_t n = threads_.size();
    return total / n + (i < total % n ? 1 : 0);
}

Histogram Runtime::merged(Histogram Thread_state::*field) const {
    Histogram merged;
    for (const auto& thread : threads_) {
        merged.merge((*thread).*field);
    }
    return merged;
}

Error_counts Runtime::merged_errors() const {
    Error_counts merged;
    for (const auto& thread : threads_) {
        merged.merge(thread->errors);
    }
    return merged;
}

std::uint64_t Runtime::sum(std::uint64_t Thread_state::*field) const {
    std::uint64_t total = 0;
    for (const auto& thread : threads_) {
        total += (*thread).*field;
    }
    return total;
}

std::size_t Runtime::open_sockets() const {
    std::size_t open = 0;
    for (const auto& thread : threads_) {
        open +=
            static_cast<std::size_t>(std::count_if(thread->sockets.begin(), thread->sockets.end(),
                                                   [](const Socket& s) { return s.is_open(); }));
    }
    return open;
}

void Runtime::close_all() {
    for (auto& thread : threads_) {
        for (auto& socket : thread->sockets) {
            boost::system::error_code ignored;
            socket.close(ignored);
        }
    }
}

std::string first_tls_info(const Runtime& runtime) {
    for (const auto& thread : runtime.threads()) {
        if (!thread->tls_info.empty()) {
            return thread->tls_info;
        }
    }
    return "{}";
}

double self_cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

int usage_error(const std::string& mode, const std::string& error) {
    std::cerr << "bench_loadgen " << mode << ": " << error << "\n"
              << "run 'bench_loadgen --help' for the options\n";
    return 1;
}

}  // namespace bench::loadgen
