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
//
// A server lost before it answered anything (a worker that died with the connection in its
// backlog) can be replaced without the client noticing: with a replay enabled, the tunnel
// keeps what that server was sent, and when it fails, RECONNECT::server_lost(tunnel) is called
// instead of ending; it connects another server and calls resume(), or gives up with
// abandon(). The copy is bounded and dropped at the server's first byte.

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
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
    std::uint32_t idle_ms = 0;  // tunnel, else min(client, server)
    // Once one side has ended its stream, HAProxy's: the client ended, so the server is
    // expected to finish within server-fin; the server ended, the client within client-fin.
    std::uint32_t client_fin_ms = 0;
    std::uint32_t server_fin_ms = 0;
    char idle_side = 'c';  // 'c' or 's': whose timeout "idle" is
};

struct TunnelResult {
    std::uint64_t to_server = 0;  // bytes the client sent through
    std::uint64_t to_client = 0;  // bytes the server sent through
    // HAProxy's termination state, first two characters: "--" normal end, "CD"/"SD" the
    // client/server aborted during data, "cD"/"sD" a timeout, "KD" killed.
    char termination[2] = {'-', '-'};
    std::string detail;  // the error, when there is one
};

// What was sent to a server that has not answered yet, to send again to another one.
struct Replay {
    static constexpr std::size_t limit = 16 * 1024;  // a ClientHello fits many times
    std::string sent;                                // the PROXY header, then the client's bytes
    std::string unsent;                        // the client's bytes a lost server did not take
    std::string first_loss;                    // why the first server was lost, for the log
    bool loss_was_end = false;                 // the server ended its stream (else an error)
    std::optional<std::uint32_t> source_hash;  // for the balancer choosing the next server
    std::uint32_t header_length = 0;           // the PROXY header's part of SENT
    bool client_bytes_replayable = false;      // else only while the client has sent nothing
    std::uint8_t losses = 0;                   // servers lost so far by this connection
};

// The default: a lost server ends the connection.
struct NoReconnect {
    static constexpr bool enabled = false;
    template <typename T>
    static void server_lost(T&) {}
};

template <typename ClientEnd, typename Record, typename Reconnect = NoReconnect>
class Tunnel final : private IdleEntry {
public:
    Tunnel(Executor executor, Record record)
        : IdleEntry(&Tunnel::idle_tick), executor_(executor), record_(std::move(record)) {}
    Tunnel(const Tunnel&) = delete;
    Tunnel& operator=(const Tunnel&) = delete;

    Poller& poller() { return Poller::of(executor_); }
    Executor executor() const { return executor_; }
    ClientEnd& client() { return client_; }
    PlainEnd& server() { return server_; }
    Record& record() { return record_; }
    Replay* replay() { return replay_.get(); }

    // Keeps what the server is sent until it answers (call before prefix_to_server). With
    // CLIENT_BYTES_REPLAYABLE the client's bytes are kept too: only for a server that answers
    // before passing anything on, as a TLS worker does.
    void enable_replay(bool client_bytes_replayable) {
        static_assert(Reconnect::enabled, "a tunnel without a reconnect policy cannot replay");
        replay_ = std::make_unique<Replay>();
        replay_->client_bytes_replayable = client_bytes_replayable;
    }

    // Queues HEADER (a PROXY header) ahead of the client's bytes, and takes the client's first
    // bytes now if they are there: the server then gets both in one write, one wake-up.
    void prefix_to_server(std::string_view header) {
        if (replay_) {
            replay_->sent.assign(header);
            replay_->header_length = static_cast<std::uint32_t>(header.size());
        }
        uncounted_ = static_cast<std::uint16_t>(header.size());
        queue_to_server(header);
    }

    // Starts the relay; from here on the tunnel deletes itself when it finishes.
    void start(const TunnelTimeouts& timeouts) {
        timeouts_ = timeouts;
        ++pending_;  // keeps this object alive until start() returns, even if it finishes
        relay();
        --pending_;
        delete_when_idle();
    }

    // RECONNECT: the lost server is gone for good (its process died); forget it, keeping
    // what the client sent that it did not take, before connecting another.
    void forget_server() {
        ++replay_->losses;
        if (up_.offset < up_.length) {
            replay_->unsent.assign(reinterpret_cast<const char*>(up_.buffer.data()) + up_.offset,
                                   up_.length - up_.offset);
        }
        const bool client_ended = up_.source_ended;
        const std::uint64_t client_bytes = up_.bytes;  // counted: they are not sent twice
        up_ = Flow{};
        down_ = Flow{};
        up_.source_ended = client_ended;
        up_.bytes = client_bytes;
        server_.close();
    }

    // RECONNECT: the server is alive and ended the connection on purpose (a client's failed
    // handshake): the end or the error goes to the client as it would have.
    void accept_loss() {
        reconnecting_ = false;
        const bool ended = replay_->loss_was_end;
        std::string why = std::move(replay_->first_loss);
        replay_.reset();
        if (ended) {
            down_.source_ended = true;
            arm_timer();
            pump(Direction::to_client);
            // Readiness that came during the pause was not acted on: act on it now.
            on_ready(Side::client);
            on_ready(Side::server);
        } else {
            finish('S', 'D', std::move(why));
        }
        --pending_;  // taken by lose_server()
        delete_when_idle();
    }

    // After RECONNECT connected another server: sends it what the lost one was sent, then
    // what the client sent since, and relays again.
    void resume() {
        reconnecting_ = false;
        std::string again = replay_->sent + replay_->unsent;
        replay_->unsent.clear();
        uncounted_ = static_cast<std::uint16_t>(replay_->sent.size());  // counted once already
        queue_to_server(again);
        relay();
        --pending_;  // taken by lose_server()
        delete_when_idle();
    }

    // RECONNECT could not replace the server; it has settled the record already.
    void abandon() {
        reconnecting_ = false;
        finished_ = true;
        client_.close();
        server_.close();
        --pending_;  // taken by lose_server()
        delete_when_idle();
    }

    // Deletes a tunnel that never started (set-up failed or was abandoned). Not to be called
    // from a poller callback.
    struct Abort {
        void operator()(Tunnel* t) const { delete t; }
    };

private:
    enum class Side : std::uint8_t { none, client, server };

    void relay() {
        watch(client_.watch(), &Tunnel::client_ready);
        watch(server_.watch(), &Tunnel::server_ready);
        touch();
        arm_timer();
        pump(Direction::to_server);
        if (!finished_ && !reconnecting_) {
            pump(Direction::to_client);
        }
    }

    // TEXT, then whatever the client has sent already, for the server's next write.
    void queue_to_server(std::string_view text) {
        up_.buffer = Buffer::borrow();
        std::memcpy(up_.buffer.data(), text.data(), text.size());
        up_.offset = 0;
        up_.length = static_cast<std::uint32_t>(text.size());
        if (!up_.source_ended && client_.can_read()) {
            const IoResult r = client_.read(up_.buffer.span().subspan(text.size()));
            if (r.status == IoStatus::ok) {
                up_.length += static_cast<std::uint32_t>(r.bytes);
            } else if (r.status == IoStatus::eof) {
                up_.source_ended = true;
            }
        }
    }

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
        if (reconnecting_) {
            return;  // the client's readiness is kept in its watch for resume()
        }
        ++pending_;  // a flow may finish the tunnel; it is deleted on a later turn anyway
        for (Direction d : {Direction::to_server, Direction::to_client}) {
            Flow& f = flow(d);
            if (!finished_ && f.waits_on == side && (ready_of(side) & f.wants) != 0) {
                f.waits_on = Side::none;
                pump(d);
            }
        }
        if (!finished_ && !reconnecting_ && !waits_for_room(side)) {
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
        if (reconnecting_) {
            return;  // resume() pumps again
        }
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
                if (d == Direction::to_server) {
                    note_sent(f.buffer.data() + f.offset, w.bytes);
                }
                f.offset += static_cast<std::uint32_t>(w.bytes);
                const std::size_t counted = count_of(d, w.bytes);
                f.bytes += counted;
                if (counted != 0) {
                    record_.on_bytes(d, counted);
                }
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
                // TLS gives one record (16 KB) per read: take the records already decrypted
                // or buffered too, so that the destination gets one large write, not several.
                while (f.length < f.buffer.span().size() && src.has_buffered()) {
                    const IoResult more = src.read(f.buffer.span().subspan(f.length));
                    if (more.status != IoStatus::ok) {
                        break;  // the next turn sees it again
                    }
                    f.length += static_cast<std::uint32_t>(more.bytes);
                }
                touch();
                if (d == Direction::to_client) {
                    replay_.reset();  // the server answered: it is the one from now on
                }
            } else if (r.status == IoStatus::eof) {
                if (d == Direction::to_client && can_replace_server()) {
                    lose_server("connection closed by the server before it answered", true);
                    return;
                }
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
        if (!client_failed && can_replace_server()) {
            lose_server(end.describe(r), false);
            return;
        }
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
        // The side still sending is the one waited for now.
        const bool client_ended = &f == &up_;
        const std::uint32_t fin_ms =
            client_ended ? timeouts_.server_fin_ms : timeouts_.client_fin_ms;
        if (fin_ms != 0) {
            timeouts_.idle_ms = fin_ms;
            timeouts_.idle_side = client_ended ? 's' : 'c';
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

    // Bytes that count as traffic: not the PROXY header, not what a replay sends again.
    std::size_t count_of(Direction d, std::size_t n) {
        if (d == Direction::to_client || uncounted_ == 0) {
            return n;
        }
        const std::size_t skipped = std::min<std::size_t>(n, uncounted_);
        uncounted_ -= static_cast<std::uint16_t>(skipped);
        return n - skipped;
    }

    // The server took N bytes at DATA: keep the client's part while the server may yet be
    // replaced, or give up replacing it when that would send the client's bytes twice.
    void note_sent(const std::byte* data, std::size_t n) {
        if (!replay_) {
            return;
        }
        const std::size_t kept = std::min<std::size_t>(n, uncounted_);  // in SENT already
        const std::size_t from_client = n - kept;
        if (from_client == 0) {
            return;
        }
        if (!replay_->client_bytes_replayable ||
            replay_->sent.size() + from_client > Replay::limit) {
            replay_.reset();
            return;
        }
        replay_->sent.append(reinterpret_cast<const char*>(data) + kept, from_client);
    }

    bool can_replace_server() const {
        return Reconnect::enabled && replay_ != nullptr && !finished_ && down_.bytes == 0;
    }

    // The server failed before answering: stop relaying, keep what the client has sent that
    // the server did not take, and let RECONNECT find another one.
    void lose_server(std::string_view why, bool ended) {
        if (replay_->losses == 0) {
            replay_->first_loss = std::string(why);
        }
        replay_->loss_was_end = ended;
        reconnecting_ = true;
        ++pending_;  // until resume(), abandon() or accept_loss()
        IdleWheel::of(executor_).cancel(*this);
        Reconnect::server_lost(*this);
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
    std::unique_ptr<Replay> replay_;  // only while a server may yet be replaced
    // Small on purpose: with the flags they fill one word of every idle connection.
    std::int16_t pending_ = 0;     // posted calls and callers still to come back here
    std::uint16_t uncounted_ = 0;  // bytes of the next writes to the server not to count
    bool finished_ = false;
    bool reconnecting_ = false;
};

// A tunnel being set up: deleted if the set-up ends without start().
template <typename T>
using TunnelSetup = std::unique_ptr<T, typename T::Abort>;

}  // namespace tierlb::net
