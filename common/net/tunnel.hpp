#pragma once
// A client connection from accept to close. While it is being set up (PROXY header, TLS
// handshake, choice of a server, connect), a coroutine drives it through its ends; start()
// then hands it to the relay: bytes both ways until both sides have finished, one fails, or it
// stays idle too long.
//
// The relay is a small state machine driven by the poller, not a coroutine, on purpose: an
// idle connection is then this object and its two sockets, with no pending operation, no
// coroutine frame and no buffer (buffers are borrowed from the thread's pool for one read and
// its write), which is what memory per idle connection measures.
//
// Half-close is forwarded: when one side ends its stream, the other side's write direction is
// shut down, and the relay goes on the other way until that ends too.
//
// RECORD receives the byte counts as they flow (on_bytes) and the outcome once (finish); it
// owns whatever must be released at the end (the server's connection count, the log line).

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/net/asio.hpp"
#include "common/net/buffer_pool.hpp"
#include "common/net/idle_wheel.hpp"
#include "common/net/poller.hpp"
#include "common/net/stream_end.hpp"

namespace tierlb::net {

enum class Direction { to_server, to_client };

// Milliseconds, 0 for none: kept small, every idle connection holds a copy.
struct TunnelTimeouts {
    std::uint32_t idle_ms = 0;         // tunnel, else min(client, server)
    std::uint32_t half_closed_ms = 0;  // client-fin / server-fin once one side ended
    char idle_side = 'c';              // 'c' or 's': whose timeout "idle" is
};

struct TunnelResult {
    std::uint64_t to_server = 0;  // bytes the client sent through
    std::uint64_t to_client = 0;  // bytes the server sent through
    // HAProxy's termination state, first two characters: "--" normal end, "CD"/"SD" the
    // client/server aborted during data, "cD"/"sD" a timeout, "KD" killed.
    char termination[2] = {'-', '-'};
    std::string detail;  // the error, when there is one
};

template <typename ClientEnd, typename Record>
class Tunnel final : private IdleEntry {
public:
    Tunnel(Executor executor, Record record)
        : IdleEntry(&Tunnel::idle_tick), executor_(executor), record_(std::move(record)) {}
    Tunnel(const Tunnel&) = delete;
    Tunnel& operator=(const Tunnel&) = delete;

    Poller& poller() { return Poller::of(executor_); }
    ClientEnd& client() { return client_; }
    PlainEnd& server() { return server_; }
    Record& record() { return record_; }

    // Queues HEADER (a PROXY header) ahead of the client's bytes, and takes the client's first
    // bytes now if they are there: the server then gets both in one write, one wake-up.
    void prefix_to_server(std::string_view header) {
        up_.buffer = Buffer::borrow();
        std::memcpy(up_.buffer.data(), header.data(), header.size());
        up_.length = static_cast<std::uint32_t>(header.size());
        if (client_.can_read()) {
            const IoResult r = client_.read(up_.buffer.span().subspan(header.size()));
            if (r.status == IoStatus::ok) {
                up_.length += static_cast<std::uint32_t>(r.bytes);
            } else if (r.status == IoStatus::eof) {
                up_.source_ended = true;
            }
        }
    }

    // Starts the relay; from here on the tunnel deletes itself when it finishes.
    void start(const TunnelTimeouts& timeouts) {
        timeouts_ = timeouts;
        watch(client_.watch(), &Tunnel::client_ready);
        watch(server_.watch(), &Tunnel::server_ready);
        ++pending_;  // keeps this object alive until start() returns, even if it finishes
        touch();
        arm_timer();
        pump(Direction::to_server);
        if (!finished_) {
            pump(Direction::to_client);
        }
        --pending_;
        delete_when_idle();
    }

    // Deletes a tunnel that never started (set-up failed or was abandoned). Not to be called
    // from a poller callback.
    struct Abort {
        void operator()(Tunnel* t) const { delete t; }
    };

private:
    enum class Side : std::uint8_t { none, client, server };

    struct Flow {
        Buffer buffer;  // held only while a read waits for its write to complete
        std::uint32_t offset = 0;
        std::uint32_t length = 0;
        std::uint64_t bytes = 0;
        Side waits_on = Side::none;  // the end whose readiness the flow waits for
        std::uint32_t wants = 0;     // readable or writable
        bool source_ended = false;
        bool done = false;  // end forwarded to the destination
    };

    static constexpr int rounds_per_turn = 8;  // then let other connections run

    void watch(PollWatch& w, PollWatch::OnReady callback) {
        w.on_ready = callback;
        w.owner = this;
    }

    static void client_ready(PollWatch*, void* owner) {
        static_cast<Tunnel*>(owner)->on_ready(Side::client);
    }
    static void server_ready(PollWatch*, void* owner) {
        static_cast<Tunnel*>(owner)->on_ready(Side::server);
    }

    // An end gained readiness: resume the flows that wait for it. Writability is only asked
    // for while a write waits: once none does, stop asking.
    void on_ready(Side side) {
        ++pending_;  // a flow may finish the tunnel; it is deleted on a later turn anyway
        for (Direction d : {Direction::to_server, Direction::to_client}) {
            Flow& f = flow(d);
            if (!finished_ && f.waits_on == side && (ready_of(side) & f.wants) != 0) {
                f.waits_on = Side::none;
                pump(d);
            }
        }
        if (!finished_ && !waits_for_room(side)) {
            PollWatch& w = side == Side::client ? client_.watch() : server_.watch();
            if ((w.subscribed & writable) != 0) {
                poller().drop_writable(w);
            }
        }
        --pending_;
        delete_when_idle();
    }

    bool waits_for_room(Side side) const {
        return (up_.waits_on == side && up_.wants == writable) ||
               (down_.waits_on == side && down_.wants == writable);
    }

    Flow& flow(Direction d) { return d == Direction::to_server ? up_ : down_; }
    std::uint32_t ready_of(Side side) {
        return side == Side::client ? client_.watch().ready : server_.watch().ready;
    }

    void touch() { last_activity_ = Clock::now(); }

    void pump(Direction d) {
        if (d == Direction::to_server) {
            pump(up_, client_, Side::client, server_, Side::server, d);
        } else {
            pump(down_, server_, Side::server, client_, Side::client, d);
        }
    }

    // Moves bytes from SRC to DST until one would block, then waits for its readiness.
    template <typename Src, typename Dst>
    void pump(Flow& f, Src& src, Side src_side, Dst& dst, Side dst_side, Direction d) {
        for (int round = 0; round < rounds_per_turn && !finished_; ++round) {
            if (f.offset < f.length) {
                if (!dst.can_write()) {
                    blocked(f, {IoStatus::want_write, 0, 0}, dst, dst_side, d, false);
                    return;
                }
                const IoResult w = dst.write({f.buffer.data() + f.offset, f.length - f.offset});
                if (w.status != IoStatus::ok) {
                    blocked(f, w, dst, dst_side, d, false);
                    return;
                }
                f.offset += static_cast<std::uint32_t>(w.bytes);
                f.bytes += w.bytes;
                record_.on_bytes(d, w.bytes);
                touch();
                if (f.offset < f.length) {
                    continue;
                }
                f.offset = f.length = 0;
            }
            if (f.source_ended) {
                end_flow(f, dst);
                return;
            }
            if (!src.can_read()) {
                // Nothing to read: wait for the kernel to say so, at no system call's cost.
                f.buffer.release();
                blocked(f, {IoStatus::want_read, 0, 0}, src, src_side, d, true);
                return;
            }
            if (!f.buffer) {
                f.buffer = Buffer::borrow();
            }
            const IoResult r = src.read(f.buffer.span());
            if (r.status == IoStatus::ok) {
                f.length = static_cast<std::uint32_t>(r.bytes);
                touch();
            } else if (r.status == IoStatus::eof) {
                f.source_ended = true;
            } else {
                f.buffer.release();  // nothing read: do not hold a buffer while waiting
                blocked(f, r, src, src_side, d, true);
                return;
            }
        }
        if (!finished_) {
            // Fairness: give other connections a turn, then carry on.
            ++pending_;
            asio::post(executor_, [this, d] {
                --pending_;
                if (!finished_) {
                    pump(d);
                }
                delete_when_idle();
            });
        }
    }

    // A read or write could not proceed: wait for the end's readiness, or end on an error.
    template <typename End>
    void blocked(Flow& f, const IoResult& r, End& end, Side side, Direction d, bool reading) {
        if (r.status == IoStatus::want_read || r.status == IoStatus::want_write) {
            f.waits_on = side;
            f.wants = r.status == IoStatus::want_read ? readable : writable;
            if (f.wants == writable) {
                poller().want_writable(end.watch());
            }
            if ((ready_of(side) & f.wants) != 0) {
                // Still marked ready (interrupted call): try again on the next turn.
                f.waits_on = Side::none;
                ++pending_;
                asio::post(executor_, [this, d] {
                    --pending_;
                    if (!finished_) {
                        pump(d);
                    }
                    delete_when_idle();
                });
            }
            return;
        }
        // An error or an unexpected end (a write to a closed peer): the side that failed is
        // the source when reading, the destination when writing.
        const bool client_failed = (d == Direction::to_server) == reading;
        finish(client_failed ? 'C' : 'S', 'D', end.describe(r));
    }

    template <typename Dst>
    void end_flow(Flow& f, Dst& dst) {
        f.buffer.release();
        f.done = true;
        const Flow& other = &f == &up_ ? down_ : up_;
        if (other.done) {
            finish('-', '-', {});  // close() ends both ways at once: no shutdown needed
            return;
        }
        dst.shutdown_write();
        if (timeouts_.half_closed_ms != 0) {
            timeouts_.idle_ms = timeouts_.half_closed_ms;
            arm_timer();
        }
    }

    Clock::duration idle() const { return std::chrono::milliseconds(timeouts_.idle_ms); }

    void arm_timer() { arm_timer(IdleWheel::of(executor_)); }
    void arm_timer(IdleWheel& wheel) {
        if (timeouts_.idle_ms != 0 && !finished_) {
            wheel.schedule(*this, last_activity_ + idle());
        }
    }

    static void idle_tick(IdleEntry* entry, IdleWheel& wheel, Clock::time_point now) {
        static_cast<Tunnel*>(entry)->on_tick(wheel, now);
    }

    // The wheel reached the deadline set when the timer was armed: expire, unless there was
    // activity since, which moves the deadline.
    void on_tick(IdleWheel& wheel, Clock::time_point now) {
        if (finished_) {
            return;
        }
        if (now >= last_activity_ + idle()) {
            finish(timeouts_.idle_side, 'D', "idle timeout");
        } else {
            arm_timer(wheel);
        }
    }

    void finish(char who, char phase, std::string detail) {
        if (finished_) {
            return;
        }
        finished_ = true;
        up_.buffer.release();
        down_.buffer.release();
        IdleWheel::of(executor_).cancel(*this);
        client_.close();
        server_.close();
        TunnelResult result;
        result.to_server = up_.bytes;
        result.to_client = down_.bytes;
        result.termination[0] = who;
        result.termination[1] = phase;
        result.detail = std::move(detail);
        record_.finish(result);
        // Deleted on a later turn: the poller's batch (or the wheel's slot) being dispatched
        // may still point at this object.
        ++pending_;
        asio::post(executor_, [this] {
            --pending_;
            delete_when_idle();
        });
    }

    void delete_when_idle() {
        if (finished_ && pending_ == 0) {
            delete this;
        }
    }

    Executor executor_;
    ClientEnd client_;
    PlainEnd server_;
    TunnelTimeouts timeouts_;
    Record record_;
    Flow up_;    // client to server
    Flow down_;  // server to client
    Clock::time_point last_activity_{};
    int pending_ = 0;
    bool finished_ = false;
};

// A tunnel being set up: deleted if the set-up ends without start().
template <typename T>
using TunnelSetup = std::unique_ptr<T, typename T::Abort>;

}  // namespace tierlb::net
