#pragma once
// The accept loop of one listening socket, driven by the poller. It never ends on an error: a
// full gate (maxconn) pauses it until a connection closes; running out of file descriptors
// (EMFILE, ENFILE) or memory pauses it too, logged once per episode, and it resumes on its
// own; transient errors (a client that reset before accept) are skipped. At most
// `tune.maxaccept` connections are accepted per turn, so one busy listener does not starve
// the others.
//
// Out of descriptors, accept() may still get the last one while the connection to the server
// then finds none: the session reports it (resources_short). From the first shortage on, until
// connections have closed, the listener accepts one client at a time and only when two
// descriptors are free (the client's and its server's), leaving the others in the backlog
// rather than accepting clients it could only drop.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/address.hpp"
#include "common/net/asio.hpp"
#include "common/net/counters.hpp"
#include "common/net/limits.hpp"
#include "common/net/poller.hpp"

namespace tierlb::net {

class NohopMember;
void nohop_connection_started(NohopMember& member);
void nohop_connection_ended(NohopMember& member);

// The gates a new connection enters, left together when it closes.
struct AcceptGates {
    Gate* global = nullptr;
    Gate* frontend = nullptr;
    Gate* bind = nullptr;
    PausedListeners* paused = nullptr;
    // accept-balance: the group's slot of this process, which the eBPF program counted the
    // connection in when it chose this process (nohop_member.hpp).
    NohopMember* nohop = nullptr;

    bool full() const { return global->full() || frontend->full() || bind->full(); }
    void enter() const {
        global->enter();
        frontend->enter();
        bind->enter();
        if (nohop != nullptr) {
            nohop_connection_started(*nohop);
        }
    }
    // Leaves the three gates; wakes paused listeners if that opened a slot.
    void leave() const {
        bool opened = global->leave();
        opened = frontend->leave() || opened;
        opened = bind->leave() || opened;
        if (nohop != nullptr) {
            nohop_connection_ended(*nohop);
        }
        if (opened || paused->any()) {
            paused->wake_all();
        }
    }
};

// One accepted connection's place in the gates; leaving them may resume paused listeners.
class ConnectionSlot {
public:
    ConnectionSlot() = default;
    explicit ConnectionSlot(const AcceptGates& gates) : gates_(gates), held_(true) {
        gates_.enter();
    }
    ConnectionSlot(ConnectionSlot&& other) noexcept
        : gates_(other.gates_), held_(std::exchange(other.held_, false)) {}
    ConnectionSlot& operator=(ConnectionSlot&& other) noexcept {
        if (this != &other) {
            release();
            gates_ = other.gates_;
            held_ = std::exchange(other.held_, false);
        }
        return *this;
    }
    ~ConnectionSlot() { release(); }

    void release() {
        if (std::exchange(held_, false)) {
            gates_.leave();
        }
    }
    // Hands the duty to leave the gates to the caller (who knows them another way).
    void disown() { held_ = false; }

private:
    AcceptGates gates_;
    bool held_ = false;
};

struct ListenerStats {
    Counter accepted{0};
    Counter accept_errors{0};
    Counter paused_full{0};  // times the listener paused on maxconn
};

class Listener {
public:
    // Called on the listener's thread for each accepted socket (non-blocking, close-on-exec),
    // with its peer's address and the connection's slot already taken.
    using Handler = std::function<void(int fd, const SocketAddress& peer, ConnectionSlot slot)>;

    Listener(Executor executor, int fd, std::string name, AcceptGates gates,
             std::uint32_t max_accept, Handler handler);
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    void start();
    // Stops accepting and closes the socket (the master may still hold a copy of it).
    void stop();
    // Stops accepting for a while, leaving connections in the backlog for another process
    // sharing the socket; then accepts again. On the listener's thread.
    void set_held(bool held);
    // A connection accepted here could not get what it needed (a descriptor for its server):
    // pause as if accept() had failed with WHAT. From any thread.
    void resources_short(std::string what);

    const std::string& name() const { return name_; }
    Executor executor() { return executor_; }
    // The listening socket, -1 once stopped. On the listener's thread.
    int fd() const { return watch_.fd; }
    const ListenerStats& stats() const { return stats_; }

private:
    enum class Batch { drained, more, pause };

    static void on_ready(PollWatch*, void* owner);
    void accept_some();
    Batch accept_batch();
    void pause(Clock::duration at_most);
    void resume();
    void short_of(const std::string& what);
    bool room_for_a_connection();

    Executor executor_;
    PollWatch watch_;  // the listening socket, on the poller like client connections
    Timer wake_;
    std::string name_;
    AcceptGates gates_;
    std::uint32_t max_accept_;
    Handler handler_;
    ListenerStats stats_;
    bool started_ = false;
    bool stopping_ = false;
    bool paused_ = false;
    bool held_ = false;
    bool continuation_posted_ = false;
    bool short_of_resources_ = false;  // paused for want of descriptors, and logged
    // After a shortage: check for room before each accept while the process holds more
    // connections than this.
    std::optional<std::uint32_t> careful_until_;
};

}  // namespace tierlb::net
