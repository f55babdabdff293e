#include "master/nohop_pinned.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "common/net/bpf_maps.hpp"
#include "common/net/nohop_member.hpp"
#include "common/net/socket_ops.hpp"
#include "common/nohop/slot_table.h"
#include "master/nohop_program.hpp"

#if TIERLB_HAVE_BPF
#include "master/nohop_program_object.hpp"
#endif

namespace tierlb::master {

namespace {

// A descriptor closed at the end of its scope unless released.
class Descriptor {
public:
    explicit Descriptor(int fd) : fd_(fd) {}
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    ~Descriptor() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = fd;
    }

private:
    int fd_;
};

// The program tierlb was built with, as 16 hex digits (FNV-1a of the object): another build
// of it, or of the slot table it reads, must not open a group pinned by this one.
std::string program_tag() {
#if TIERLB_HAVE_BPF
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (std::size_t i = 0; i < nohop_program_object_size; ++i) {
        hash = (hash ^ nohop_program_object[i]) * 0x100000001b3ULL;
    }
    char text[17];
    std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(hash));
    return text;
#else
    return "";
#endif
}

// TEXT with '_' for every character a bpffs name cannot hold (bpffs refuses dots too).
std::string file_name(std::string text) {
    for (char& c : text) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!plain) {
            c = '_';
        }
    }
    return text;
}

std::string process_list(const std::vector<int>& processes) {
    std::string text;
    for (int p : processes) {
        text += (text.empty() ? "" : ",") + std::to_string(p);
    }
    return text;
}

bool on_bpffs(const std::string& path) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == static_cast<long>(BPF_FS_MAGIC);
}

// ROOT, made if missing, on bpffs; the error says what is missing.
std::optional<std::string> check_root(const std::string& root) {
    if (::mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) {
        return "cannot make " + root + ": " + net::errno_text(errno) +
               " (is bpffs mounted? mount -t bpf bpf /sys/fs/bpf)";
    }
    if (!on_bpffs(root)) {
        return root + " is not on a bpffs file system (mount -t bpf bpf /sys/fs/bpf)";
    }
    return std::nullopt;
}

// The first process of the group: loads the program and pins it and its maps in DIR.
std::optional<std::string> make_group(const std::string& dir, const config::Bind& bind) {
    const std::vector<int> processes = bind.processes.numbers();
    // Maps pinned by a process that died before it pinned the program: a group not made.
    ::unlink((dir + "/sockets").c_str());
    ::unlink((dir + "/table").c_str());
    auto program = NohopProgram::load(static_cast<std::uint32_t>(processes.size()));
    if (!program) {
        return program.error();
    }
    for (std::uint32_t slot = 0; slot < processes.size(); ++slot) {
        (*program)->set_weight(slot, bind.accept_weight_of(processes[slot]));
    }
    const std::pair<int, const char*> objects[] = {{(*program)->sockets_fd(), "/sockets"},
                                                   {(*program)->table_fd(), "/table"},
                                                   {(*program)->program_fd(), "/program"}};
    for (const auto& [fd, name] : objects) {
        if (auto error = net::pin_object(fd, dir + name)) {
            for (const auto& [unused, pinned] : objects) {
                ::unlink((dir + pinned).c_str());
            }
            return error;
        }
    }
    return std::nullopt;  // the program is pinned last: a group with a program is complete
}

std::atomic_ref<std::uint32_t> field(std::uint32_t& value) {
    return std::atomic_ref<std::uint32_t>(value);
}

// PROCESS, alone in its slot, starts it afresh: what it held was a previous run's.
void start_slot_afresh(tierlb_nohop_table& table, std::uint32_t slot, const config::Bind& bind,
                       int process, int listen_fd) {
    auto& s = table.slot[slot];
    field(s.count).store(net::accept_queue_length(listen_fd), std::memory_order_relaxed);
    field(s.retired).store(0, std::memory_order_relaxed);
    field(s.weight).store(bind.accept_weight_of(process), std::memory_order_relaxed);
    field(s.admin).store(TIERLB_NOHOP_READY, std::memory_order_relaxed);
    std::atomic_ref<__u64>(s.selected).store(0, std::memory_order_relaxed);
}

}  // namespace

std::string nohop_pin_root() {
    const char* root = std::getenv("TIERLB_BPF_PIN_DIR");
    return root != nullptr && *root != '\0' ? std::string(root) : "/sys/fs/bpf/tierlb";
}

Expected<net::NohopHandover> open_pinned_group(const config::Proxy& proxy, const config::Bind& bind,
                                               int process, int listen_fd) {
    const std::string tag = program_tag();
    if (tag.empty()) {
        return unexpected(
            "tierlb was built without eBPF support (clang and libbpf-dev were missing at build "
            "time; scripts/install-deps installs them)");
    }
    if (bind.address.is_inet() && bind.address.port() == 0) {
        return unexpected(
            "processes started alone share a group only on a fixed port (with port 0 each "
            "gets a port of its own)");
    }
    const std::vector<int> processes = bind.processes.numbers();
    std::uint32_t slot = 0;
    while (slot < processes.size() && processes[slot] != process) {
        ++slot;
    }
    const std::string root = nohop_pin_root();
    if (auto error = check_root(root)) {
        return unexpected(*error);
    }
    const std::string dir =
        root + "/" +
        file_name(net::local_address(listen_fd).to_string() + "-" + proxy.name + "-" +
                  std::to_string(bind.id) + "-p" + process_list(processes) + "-" + tag);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return unexpected("cannot make " + dir + ": " + net::errno_text(errno));
    }
    // One process at a time: the first makes the group, the others find it complete.
    Descriptor lock(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (lock.get() < 0 || ::flock(lock.get(), LOCK_EX) != 0) {
        return unexpected("cannot lock " + dir + ": " + net::errno_text(errno));
    }
    Descriptor program(net::open_pinned(dir + "/program"));
    if (program.get() < 0 && errno == ENOENT) {
        if (auto error = make_group(dir, bind)) {
            return unexpected(*error);
        }
        program.reset(net::open_pinned(dir + "/program"));
    }
    Descriptor sockets(net::open_pinned(dir + "/sockets"));
    Descriptor table(net::open_pinned(dir + "/table"));
    if (program.get() < 0 || sockets.get() < 0 || table.get() < 0) {
        return unexpected("cannot open the group pinned at " + dir + ": " + net::errno_text(errno));
    }
    tierlb_nohop_table* mapped = net::map_table(table.get());
    if (mapped == nullptr) {
        return unexpected("cannot map the slot table pinned at " + dir + ": " +
                          net::errno_text(errno));
    }
    const bool fits = mapped->slots == processes.size() && slot < processes.size();
    const bool migrates = (mapped->flags & TIERLB_NOHOP_MIGRATES) != 0;
    if (fits) {
        start_slot_afresh(*mapped, slot, bind, process, listen_fd);
    }
    net::unmap_table(mapped);
    if (!fits) {
        return unexpected("the group pinned at " + dir + " does not match the configuration");
    }
    const int program_fd = program.get();
    if (::setsockopt(listen_fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &program_fd,
                     sizeof(program_fd)) != 0) {
        return unexpected("cannot attach the eBPF program to the socket: " +
                          net::errno_text(errno));
    }
    net::NohopHandover handover;
    handover.sockets_fd = sockets.release();
    handover.table_fd = table.release();
    handover.slot = slot;
    handover.migrates = migrates;
    handover.pinned = true;
    return handover;
}

}  // namespace tierlb::master
