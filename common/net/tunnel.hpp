#pragma once
// The relay of an established connection: bytes both ways between a client end and a server
// end until both sides have finished, one fails, or the connection stays idle too long.
//
// Written as a small callback state machine rather than a coroutine on purpose: an idle
// tunnel is then just this object, two sockets, two pending readiness waits and a timer (no
// coroutine frames, no buffer), which is what memory per idle connection measures. Buffers
// are borrowed from the thread's pool for the time of one read and its write.
//
// Half-close is forwarded: when one side ends its stream, the other side's write direction is
// shut down, and the tunnel keeps relaying the other way until that ends too.
//
// RECORD receives the byte counts as they flow (on_bytes) and the outcome once (finish); it
// owns whatever must be released at the end (the server's connection count, the log line).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "common/net/asio.hpp"
#include "common/net/buffer_pool.hpp"
#include "common/net/idle_wheel.hpp"
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
    // Takes ownership of everything; the tunnel deletes itself once finished.
    static void start(ClientEnd client, Socket server, const TunnelTimeouts& timeouts,
                      Record record) {
        auto* tunnel =
            new Tunnel(std::move(client), PlainEnd(std::move(server)), timeouts, std::move(record));
        tunnel->begin();
    }

private:
    struct Flow {
        Buffer buffer;  // held only while a read waits for its write to complete
        std::uint32_t offset = 0;
        std::uint32_t length = 0;
        std::uint64_t bytes = 0;
        bool source_ended = false;
        bool done = false;  // end forwarded to the destination
    };

    static constexpr int rounds_per_turn = 8;  // then let other connections run

    Tunnel(ClientEnd client, PlainEnd server, const TunnelTimeouts& timeouts, Record record)
        : IdleEntry(&Tunnel::idle_tick),
          client_(std::move(client)),
          server_(std::move(server)),
          timeouts_(timeouts),
          record_(std::move(record)) {}

    void begin() {
        ++pending_;  // keeps this object alive until begin() returns, even if it finishes
        touch();
        arm_timer();
        pump(Direction::to_server);
        if (!finished_) {
            pump(Direction::to_client);
        }
        --pending_;
        delete_if_idle();
    }

    void touch() { last_activity_ = Clock::now(); }

    void pump(Direction d) {
        if (d == Direction::to_server) {
            pump(up_, client_, server_, d);
        } else {
            pump(down_, server_, client_, d);
        }
    }

    // Moves bytes from SRC to DST until one would block, then waits for readiness.
    template <typename Src, typename Dst>
    void pump(Flow& f, Src& src, Dst& dst, Direction d) {
        for (int round = 0; round < rounds_per_turn && !finished_; ++round) {
            if (f.offset < f.length) {
                const IoResult w = dst.write({f.buffer.data() + f.offset, f.length - f.offset});
                if (w.status != IoStatus::ok) {
                    handle_blocked(w, dst, d, false);
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
                f.buffer.release();
                dst.shutdown_write();
                f.done = true;
                on_flow_done();
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
                handle_blocked(r, src, d, true);
                return;
            }
        }
        if (!finished_) {
            ++pending_;
            asio::post(server_.socket().get_executor(), [this, d] {
                --pending_;
                continue_after_wait(d, {});
            });
        }
    }

    // A read or write could not proceed: wait for the socket, or end on an error.
    template <typename End>
    void handle_blocked(const IoResult& r, End& end, Direction d, bool reading) {
        if (r.status == IoStatus::want_read || r.status == IoStatus::want_write) {
            ++pending_;
            end.socket().async_wait(
                r.status == IoStatus::want_read ? Socket::wait_read : Socket::wait_write,
                [this, d](error_code ec) {
                    --pending_;
                    continue_after_wait(d, ec);
                });
            return;
        }
        // An error or an unexpected end (a write to a closed peer): the side that failed is
        // the source when reading, the destination when writing.
        const bool client_failed = (d == Direction::to_server) == reading;
        finish(client_failed ? 'C' : 'S', 'D', end.describe(r));
    }

    void continue_after_wait(Direction d, error_code ec) {
        if (finished_) {
            delete_if_idle();
            return;
        }
        (void)ec;  // the next read or write reports the socket's real error, if any
        pump(d);
    }

    void on_flow_done() {
        if (up_.done && down_.done) {
            finish('-', '-', {});
            return;
        }
        if (timeouts_.half_closed_ms != 0) {
            timeouts_.idle_ms = timeouts_.half_closed_ms;
            arm_timer();
        }
    }

    Clock::duration idle() const { return std::chrono::milliseconds(timeouts_.idle_ms); }

    void arm_timer() { arm_timer(IdleWheel::of(server_.socket().get_executor())); }
    void arm_timer(IdleWheel& wheel) {
        if (timeouts_.idle_ms != 0 && !finished_) {
            wheel.schedule(*this, last_activity_ + idle());
        }
    }

    // The wheel reached our deadline as set when it was armed: expire, unless there was
    // activity since, which moves the deadline.
    static void idle_tick(IdleEntry* entry, IdleWheel& wheel, Clock::time_point now) {
        static_cast<Tunnel*>(entry)->on_tick(wheel, now);
    }

    void on_tick(IdleWheel& wheel, Clock::time_point now) {
        if (finished_) {
            return;
        }
        if (now >= last_activity_ + idle()) {
            ++pending_;  // finish() must not delete us inside the wheel's loop
            finish(timeouts_.idle_side, 'D', "idle timeout");
            --pending_;
            delete_if_idle();
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
        IdleWheel::of(server_.socket().get_executor()).cancel(*this);
        client_.close();
        server_.close();
        TunnelResult result;
        result.to_server = up_.bytes;
        result.to_client = down_.bytes;
        result.termination[0] = who;
        result.termination[1] = phase;
        result.detail = std::move(detail);
        record_.finish(result);
        delete_if_idle();
    }

    // Completion handlers still queued refer to this object: the last one deletes it.
    void delete_if_idle() {
        if (finished_ && pending_ == 0) {
            delete this;
        }
    }

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

}  // namespace tierlb::net
