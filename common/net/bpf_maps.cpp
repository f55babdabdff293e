#include "common/net/bpf_maps.hpp"

#include <linux/bpf.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/net/socket_ops.hpp"
#include "common/nohop/slot_table.h"

namespace tierlb::net {

namespace {

long map_operation(int command, int map_fd, const void* key, void* value, std::uint64_t flags = 0) {
    bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.map_fd = static_cast<std::uint32_t>(map_fd);
    attr.key = reinterpret_cast<std::uintptr_t>(key);
    attr.value = reinterpret_cast<std::uintptr_t>(value);
    attr.flags = flags;
    return ::syscall(__NR_bpf, command, &attr, sizeof(attr));
}

// The array holds sockets by cookie: a lookup gives the cookie of the socket in a slot.
std::optional<std::uint64_t> cookie_at(int map_fd, std::uint32_t slot) {
    std::uint64_t cookie = 0;
    if (map_operation(BPF_MAP_LOOKUP_ELEM, map_fd, &slot, &cookie) != 0) {
        return std::nullopt;
    }
    return cookie;
}

std::optional<std::uint64_t> cookie_of(int socket_fd) {
    std::uint64_t cookie = 0;
    socklen_t length = sizeof(cookie);
    if (::getsockopt(socket_fd, SOL_SOCKET, SO_COOKIE, &cookie, &length) != 0) {
        return std::nullopt;
    }
    return cookie;
}

std::size_t table_size() {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return (sizeof(tierlb_nohop_table) + page - 1) / page * page;
}

}  // namespace

std::optional<std::string> register_socket(int map_fd, std::uint32_t slot, int socket_fd) {
    std::uint64_t value = static_cast<std::uint64_t>(socket_fd);
    if (map_operation(BPF_MAP_UPDATE_ELEM, map_fd, &slot, &value, BPF_ANY) == 0) {
        return std::nullopt;
    }
    const int error = errno;
    if (error == EBUSY) {
        const auto there = cookie_at(map_fd, slot);
        if (there && there == cookie_of(socket_fd)) {
            return std::nullopt;
        }
        return std::string("the socket is already in another accept-balance group");
    }
    return "cannot put the socket in the socket array: " + errno_text(error);
}

bool remove_socket(int map_fd, std::uint32_t slot) {
    return map_operation(BPF_MAP_DELETE_ELEM, map_fd, &slot, nullptr) == 0;
}

bool socket_present(int map_fd, std::uint32_t slot) {
    std::uint64_t cookie = 0;
    // Only ENOENT says the slot is empty; another error (a lookup refused once the process
    // dropped its privileges, on a kernel that wants CAP_BPF for it) says nothing.
    return map_operation(BPF_MAP_LOOKUP_ELEM, map_fd, &slot, &cookie) == 0 || errno != ENOENT;
}

std::optional<std::string> pin_object(int fd, const std::string& path) {
    bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.pathname = reinterpret_cast<std::uintptr_t>(path.c_str());
    attr.bpf_fd = static_cast<std::uint32_t>(fd);
    if (::syscall(__NR_bpf, BPF_OBJ_PIN, &attr, sizeof(attr)) != 0) {
        return "cannot pin " + path + ": " + errno_text(errno);
    }
    return std::nullopt;
}

int open_pinned(const std::string& path) {
    bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.pathname = reinterpret_cast<std::uintptr_t>(path.c_str());
    return static_cast<int>(::syscall(__NR_bpf, BPF_OBJ_GET, &attr, sizeof(attr)));
}

tierlb_nohop_table* map_table(int table_fd) {
    void* mapped = ::mmap(nullptr, table_size(), PROT_READ | PROT_WRITE, MAP_SHARED, table_fd, 0);
    return mapped == MAP_FAILED ? nullptr : static_cast<tierlb_nohop_table*>(mapped);
}

void unmap_table(tierlb_nohop_table* table) {
    if (table != nullptr) {
        ::munmap(table, table_size());
    }
}

}  // namespace tierlb::net
