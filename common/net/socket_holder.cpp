#include "common/net/socket_holder.hpp"

#include <dirent.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>
#include <sstream>
#include <vector>

namespace tierlb::net {

namespace {

// ADDRESS as /proc/net/unix writes it: the path, or "@" and the name with NULs as "@".
std::string proc_net_unix_path(const SocketAddress& address) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(address.native());
    const std::size_t offset = offsetof(sockaddr_un, sun_path);
    if (address.family() == AddressFamily::unix_path || address.length() <= offset) {
        return address.unix_name();
    }
    std::string path(un->sun_path, address.length() - offset);
    for (char& c : path) {
        if (c == '\0') {
            c = '@';
        }
    }
    return path;
}

// The inodes of the sockets bound to PATH. A line is "Num RefCount Protocol Flags Type St
// Inode Path"; the path is the rest of the line (it may hold blanks).
std::vector<std::string> inodes_bound_to(const std::string& path) {
    std::vector<std::string> inodes;
    std::ifstream table("/proc/net/unix");
    std::string line;
    std::getline(table, line);  // the column names
    while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string skipped, inode, rest;
        for (int i = 0; i < 6; ++i) {
            fields >> skipped;
        }
        fields >> inode;
        fields.get();  // the blank before the path
        std::getline(fields, rest);
        if (rest == path) {
            inodes.push_back(inode);
        }
    }
    return inodes;
}

std::string command_of(const std::string& pid) {
    std::ifstream comm("/proc/" + pid + "/comm");
    std::string name;
    std::getline(comm, name);
    return name;
}

// The first process (not this one) with a descriptor on one of INODES.
std::optional<std::string> process_holding(const std::vector<std::string>& inodes) {
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) {
        return std::nullopt;
    }
    const std::string self = std::to_string(::getpid());
    std::optional<std::string> found;
    while (const dirent* entry = ::readdir(proc)) {
        const std::string pid = entry->d_name;
        if (pid.find_first_not_of("0123456789") != std::string::npos || pid == self) {
            continue;
        }
        const std::string fds = "/proc/" + pid + "/fd";
        DIR* dir = ::opendir(fds.c_str());
        if (dir == nullptr) {
            continue;  // gone, or another user's without root
        }
        while (const dirent* fd = ::readdir(dir)) {
            char target[64] = {};
            const std::string link = fds + "/" + fd->d_name;
            const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
            if (n <= 0) {
                continue;
            }
            const std::string text(target, static_cast<std::size_t>(n));
            for (const auto& inode : inodes) {
                if (text == "socket:[" + inode + "]") {
                    found = "pid " + pid + " (" + command_of(pid) + ")";
                }
            }
            if (found) {
                break;
            }
        }
        ::closedir(dir);
        if (found) {
            break;
        }
    }
    ::closedir(proc);
    return found;
}

}  // namespace

std::optional<std::string> holder_of(const SocketAddress& address) {
    if (address.is_inet()) {
        return std::nullopt;
    }
    const auto inodes = inodes_bound_to(proc_net_unix_path(address));
    if (inodes.empty()) {
        return std::nullopt;
    }
    return process_holding(inodes);
}

}  // namespace tierlb::net
