#include "master/nohop_program.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common/net/bpf_maps.hpp"
#include "common/net/socket_ops.hpp"
#include "common/nohop/slot_table.h"

#if TIERLB_HAVE_BPF
#include <bpf/libbpf.h>

#include "master/nohop_program_object.hpp"
#endif

namespace tierlb::master {

namespace {

std::atomic_ref<std::uint32_t> field(std::uint32_t& value) {
    return std::atomic_ref<std::uint32_t>(value);
}

}  // namespace

#if TIERLB_HAVE_BPF

namespace {

// libbpf's last warning, for our own message: it prints to stderr otherwise.
thread_local std::string libbpf_said;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
int keep_libbpf_message(libbpf_print_level level, const char* format, va_list args) {
    if (level != LIBBPF_DEBUG) {
        char line[512];
        std::vsnprintf(line, sizeof(line), format, args);
        libbpf_said = line;
        while (!libbpf_said.empty() && libbpf_said.back() == '\n') {
            libbpf_said.pop_back();
        }
    }
    return 0;
}
#pragma GCC diagnostic pop

std::string load_error(int error) {
    std::string text = "the kernel refused the eBPF program: " + net::errno_text(error);
    if (error == EPERM || error == EACCES) {
        text += " (loading it needs CAP_BPF or CAP_SYS_ADMIN)";
    }
    return text;
}

// One attempt at loading the object with the program attached as TYPE; nullptr with the
// error in ERROR.
bpf_object* open_and_load(bpf_attach_type type, int& error) {
    bpf_object_open_opts options{};
    options.sz = sizeof(options);
    options.object_name = "tierlb_nohop";
    bpf_object* object =
        bpf_object__open_mem(nohop_program_object, nohop_program_object_size, &options);
    if (object == nullptr) {
        error = errno;
        return nullptr;
    }
    bpf_program* program = bpf_object__find_program_by_name(object, "tierlb_leastconn");
    if (program == nullptr) {
        error = ENOENT;
    } else {
        bpf_program__set_expected_attach_type(program, type);
        error = -bpf_object__load(object);
    }
    if (error != 0) {
        bpf_object__close(object);
        return nullptr;
    }
    return object;
}

}  // namespace

Expected<std::unique_ptr<NohopProgram>> NohopProgram::load(std::uint32_t slots) {
    if (slots < 2 || slots > TIERLB_NOHOP_MAX_SLOTS) {
        return unexpected("a group has 2 to " + std::to_string(TIERLB_NOHOP_MAX_SLOTS) +
                          " processes");
    }
    libbpf_set_print(keep_libbpf_message);
    libbpf_said.clear();
    int error = 0;
    bool migrates = true;
    bpf_object* object = open_and_load(BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, error);
    const int first_error = error;
    if (object == nullptr && error != EPERM && error != EACCES) {
        // A kernel before 5.14 knows no SELECT_OR_MIGRATE: select only.
        migrates = false;
        object = open_and_load(BPF_SK_REUSEPORT_SELECT, error);
    }
    if (object == nullptr) {
        // libbpf's own words help with a verifier's refusal, not with a missing capability.
        const int cause = first_error != 0 ? first_error : error;
        const bool permission = cause == EPERM || cause == EACCES;
        return unexpected(load_error(cause) +
                          (permission || libbpf_said.empty() ? "" : " (" + libbpf_said + ")"));
    }
    std::unique_ptr<NohopProgram> p(new NohopProgram());
    p->object_ = object;
    p->migrates_ = migrates;
    p->slots_ = slots;
    p->program_fd_ = bpf_program__fd(bpf_object__find_program_by_name(object, "tierlb_leastconn"));
    p->sockets_fd_ = bpf_map__fd(bpf_object__find_map_by_name(object, "tierlb_sockets"));
    p->table_fd_ = bpf_map__fd(bpf_object__find_map_by_name(object, "tierlb_table"));
    p->table_ = net::map_table(p->table_fd_);
    if (p->table_ == nullptr) {
        return unexpected("cannot map the slot table: " + net::errno_text(errno));
    }
    p->table_->slots = slots;
    p->table_->flags = migrates ? TIERLB_NOHOP_MIGRATES : 0;
    for (std::uint32_t i = 0; i < slots; ++i) {
        p->table_->slot[i].weight = 1;
    }
    return p;
}

NohopProgram::~NohopProgram() {
    net::unmap_table(table_);
    bpf_object__close(object_);  // closes the program's and the maps' descriptors
}

#else  // built without clang or libbpf

Expected<std::unique_ptr<NohopProgram>> NohopProgram::load(std::uint32_t) {
    return unexpected(
        "tierlb was built without eBPF support (clang and libbpf-dev were missing at build "
        "time; scripts/install-deps installs them)");
}

NohopProgram::~NohopProgram() = default;

#endif

std::optional<std::string> NohopProgram::attach(int fd) const {
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &program_fd_, sizeof(program_fd_)) !=
        0) {
        return "cannot attach the eBPF program to the socket: " + net::errno_text(errno);
    }
    return std::nullopt;
}

void NohopProgram::slot_down(std::uint32_t slot) {
    net::remove_socket(sockets_fd_, slot);
    field(table_->slot[slot].up).store(0, std::memory_order_release);
    // What the previous generations still hold stays; the dead process's connections died.
    field(table_->slot[slot].count)
        .store(field(table_->slot[slot].retired).load(std::memory_order_relaxed),
               std::memory_order_relaxed);
}

void NohopProgram::clear_retired(std::uint32_t slot) {
    field(table_->slot[slot].retired).store(0, std::memory_order_relaxed);
}

void NohopProgram::clear_sockets() {
    for (std::uint32_t i = 0; i < slots_; ++i) {
        net::remove_socket(sockets_fd_, i);
    }
}

std::uint32_t NohopProgram::weight(std::uint32_t slot) const {
    return field(table_->slot[slot].weight).load(std::memory_order_relaxed);
}

void NohopProgram::set_weight(std::uint32_t slot, std::uint32_t weight) {
    field(table_->slot[slot].weight).store(weight, std::memory_order_relaxed);
}

bool NohopProgram::slot_up(std::uint32_t slot, int fd) {
    if (net::register_socket(sockets_fd_, slot, fd)) {
        return false;
    }
    field(table_->slot[slot].up).store(1, std::memory_order_release);
    return true;
}

void detach_nohop_program(int fd) {
    const int unused = 0;
    ::setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused, sizeof(unused));
}

Expected<std::uint32_t> migrate_queue(int fd) {
    // What listen() needs again: the socket's own backlog (TCP_INFO reports it as
    // tcpi_sacked for a listening socket), and its port, which must not change.
    tcp_info info{};
    socklen_t length = sizeof(info);
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) {
        return unexpected("TCP_INFO: " + net::errno_text(errno));
    }
    const SocketAddress before = net::local_address(fd);
    // On a listening socket, shutdown(SHUT_RD) stops it listening: the kernel hands its queue
    // to the group's program (migration) and the socket leaves the group until listen().
    if (::shutdown(fd, SHUT_RD) != 0) {
        return unexpected("shutdown: " + net::errno_text(errno));
    }
    if (::listen(fd, static_cast<int>(info.tcpi_sacked)) != 0) {
        return unexpected("listen again: " + net::errno_text(errno));
    }
    if (net::local_address(fd) != before) {
        return unexpected("the socket came back on another address: " +
                          net::local_address(fd).to_string());
    }
    return info.tcpi_unacked;
}

}  // namespace tierlb::master
