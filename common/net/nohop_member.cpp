#include "common/net/nohop_member.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/log/event_log.hpp"
#include "common/net/bpf_maps.hpp"
#include "common/net/runtime.hpp"
#include "common/net/socket_ops.hpp"
#include "common/nohop/slot_table.h"

namespace tierlb::net {

static_assert(nohop_ready == TIERLB_NOHOP_READY && nohop_drain == TIERLB_NOHOP_DRAIN &&
              nohop_maint == TIERLB_NOHOP_MAINT);

namespace {

using namespace std::chrono_literals;

constexpr auto reconcile_period = 1s;

std::atomic_ref<std::uint32_t> field(std::uint32_t& value) {
    return std::atomic_ref<std::uint32_t>(value);
}

}  // namespace

void nohop_connection_started(NohopMember& member) {
    member.connection_started();
}

void nohop_connection_ended(NohopMember& member) {
    member.connection_ended();
}

NohopInheritance take_nohop_inheritance() {
    NohopInheritance inherited;
    if (const char* text = std::getenv(nohop_variable)) {
        inherited.handovers = decode_nohop(text);
        ::unsetenv(nohop_variable);
    }
    if (const char* text = std::getenv(nohop_fallback_variable)) {
        inherited.fallback = text;
        ::unsetenv(nohop_fallback_variable);
    }
    return inherited;
}

void join_nohop(ListenerRuntime& listener, const std::string& key, int listen_fd,
                const NohopInheritance& inherited, bool alone) {
    const auto found = inherited.handovers.find(key);
    if (found == inherited.handovers.end()) {
        listener.nohop_fallback =
            !inherited.fallback.empty() ? inherited.fallback
            : alone ? std::string("a process started alone found no eBPF group to join")
                    : std::string("the master handed over no eBPF group");
        if (alone) {
            log::warning("{}: accept-balance: {}; plain SO_REUSEPORT", listener.name,
                         listener.nohop_fallback);
        }
        return;
    }
    auto member = NohopMember::join(found->second, listen_fd, listener.config->processes.numbers());
    if (!member) {
        listener.nohop_fallback = member.error();
        log::warning(
            "{}: accept-balance: {}; the kernel will not place connections on this "
            "process",
            listener.name, member.error());
        return;
    }
    listener.nohop = std::move(*member);
}

std::uint32_t accept_queue_length(int listen_fd) {
    tcp_info info{};
    socklen_t length = sizeof(info);
    if (listen_fd < 0 || ::getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) {
        return 0;
    }
    // For a listening socket the kernel reports its accept queue as tcpi_unacked.
    return info.tcpi_unacked;
}

Expected<std::unique_ptr<NohopMember>> NohopMember::join(const NohopHandover& handover,
                                                         int listen_fd,
                                                         std::vector<int> processes) {
    tierlb_nohop_table* table = map_table(handover.table_fd);
    std::optional<std::string> error;
    if (table == nullptr) {
        error = "cannot map the slot table: " + errno_text(errno);
    } else if (handover.slot >= table->slots || table->slots != processes.size()) {
        error = "the slot table does not match the configuration";
    } else {
        error = register_socket(handover.sockets_fd, handover.slot, listen_fd);
    }
    ::close(handover.table_fd);
    const bool keep_sockets = handover.pinned && !error;
    if (!keep_sockets) {
        ::close(handover.sockets_fd);
    }
    if (error) {
        unmap_table(table);
        return unexpected(*error);
    }
    field(table->slot[handover.slot].up).store(1, std::memory_order_release);
    return std::unique_ptr<NohopMember>(new NohopMember(table, true, handover.slot,
                                                        handover.migrates, std::move(processes),
                                                        keep_sockets ? handover.sockets_fd : -1));
}

std::unique_ptr<NohopMember> NohopMember::on_table(tierlb_nohop_table& table, std::uint32_t slot,
                                                   std::vector<int> processes) {
    return std::unique_ptr<NohopMember>(
        new NohopMember(&table, false, slot, true, std::move(processes)));
}

NohopMember::~NohopMember() {
    if (mapped_) {
        unmap_table(table_);
    }
    if (sockets_fd_ >= 0) {
        ::close(sockets_fd_);
    }
}

void NohopMember::connection_started() {
    if (superseded()) {
        retire(1);  // the program counted it for the slot: it is a previous generation's
    }
}

void NohopMember::connection_ended() {
    adjust(-1);  // whichever generation held it, the slot counted it
    if (superseded()) {
        retire(-1);
    }
}

void NohopMember::supersede(std::uint32_t held, bool for_good) {
    stopping_ = stopping_ || for_good;
    if (superseded_.exchange(true)) {
        return;
    }
    own_drift_ = {};
    retire(held);
}

void NohopMember::resume() {
    if (stopping_ || !superseded_.exchange(false)) {
        return;
    }
    drift_ = {};
    retire(-published_.load(std::memory_order_relaxed));
}

namespace {

// Adds DELTA to FIELD, never below 0.
void add_clamped(std::atomic_ref<std::uint32_t> field, std::int64_t delta) {
    std::uint32_t seen = field.load(std::memory_order_relaxed);
    while (true) {
        const std::int64_t wanted = std::max<std::int64_t>(0, std::int64_t{seen} + delta);
        if (field.compare_exchange_weak(seen, static_cast<std::uint32_t>(wanted),
                                        std::memory_order_relaxed)) {
            return;
        }
    }
}

}  // namespace

void NohopMember::adjust(std::int64_t delta) {
    add_clamped(field(table_->slot[slot_].count), delta);
}

void NohopMember::retire(std::int64_t delta) {
    published_.fetch_add(delta, std::memory_order_relaxed);
    add_clamped(field(table_->slot[slot_].retired), delta);
}

void NohopMember::start_reconcile(ListenerRuntime& listener) {
    reconcile_timer_ = std::make_unique<Timer>(listener.listener->executor());
    reconcile_later(listener);
}

void NohopMember::reconcile_later(ListenerRuntime& listener) {
    reconcile_timer_->expires_after(reconcile_period);
    reconcile_timer_->async_wait([this, &listener](const error_code& ec) {
        if (!ec) {
            reconcile(listener);
            reconcile_later(listener);
        }
    });
}

// On the listener's thread, where its socket is closed (a soft stop supersedes first, for good).
void NohopMember::reconcile(ListenerRuntime& listener) {
    const std::uint32_t held = listener.connections.count();
    if (superseded()) {
        // Its own part only: the connections it holds. (One that ends on another thread
        // between the two reads is a difference of a moment, not seen twice.)
        const auto part = static_cast<std::uint32_t>(
            std::max<std::int64_t>(0, published_.load(std::memory_order_relaxed)));
        if (const std::int64_t correction = own_drift_.check(part, held)) {
            retire(correction);
        }
        return;
    }
    const std::uint32_t expected =
        held + accept_queue_length(listener.listener->fd()) +
        field(table_->slot[slot_].retired).load(std::memory_order_relaxed);
    const std::uint32_t count = field(table_->slot[slot_].count).load(std::memory_order_relaxed);
    if (const std::int64_t correction = drift_.check(count, expected)) {
        log::debug("{}: accept-balance slot {} counted {}, expected {}: corrected by {}",
                   listener.name, slot_, count, expected, correction);
        adjust(correction);
    }
}

std::vector<NohopSlotView> NohopMember::slots() const {
    std::vector<NohopSlotView> views;
    for (std::size_t i = 0; i < processes_.size(); ++i) {
        auto& s = table_->slot[i];
        NohopSlotView v;
        v.process = processes_[i];
        v.count = field(s.count).load(std::memory_order_relaxed);
        v.weight = field(s.weight).load(std::memory_order_relaxed);
        v.admin = field(s.admin).load(std::memory_order_relaxed);
        v.up = field(s.up).load(std::memory_order_relaxed) != 0;
        if (sockets_fd_ >= 0) {
            // Pinned, without a master: a process that died left its slot up, but the
            // kernel took its socket out of the array.
            v.up = v.up && socket_present(sockets_fd_, static_cast<std::uint32_t>(i));
        }
        v.selected = std::atomic_ref<__u64>(s.selected).load(std::memory_order_relaxed);
        views.push_back(v);
    }
    return views;
}

std::optional<std::uint32_t> NohopMember::slot_of(int process) const {
    for (std::size_t i = 0; i < processes_.size(); ++i) {
        if (processes_[i] == process) {
            return static_cast<std::uint32_t>(i);
        }
    }
    return std::nullopt;
}

bool NohopMember::set_weight(int process, std::uint32_t weight) {
    const auto slot = slot_of(process);
    if (!slot || weight > TIERLB_NOHOP_MAX_WEIGHT) {
        return false;
    }
    field(table_->slot[*slot].weight).store(weight, std::memory_order_relaxed);
    return true;
}

bool NohopMember::set_admin(int process, std::uint32_t admin) {
    const auto slot = slot_of(process);
    if (!slot || admin > nohop_maint) {
        return false;
    }
    field(table_->slot[*slot].admin).store(admin, std::memory_order_relaxed);
    return true;
}

}  // namespace tierlb::net
