#include "master/control_channel.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace tierlb::master {

std::optional<std::pair<int, int>> make_control_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) {
        return std::nullopt;
    }
    return std::pair{fds[0], fds[1]};
}

bool send_message(int fd, const std::string& name, const std::string& body) {
    const std::string message = name + "\n" + body;
    return ::send(fd, message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL) ==
           static_cast<ssize_t>(message.size());
}

ControlChannel::~ControlChannel() {
    if (watch_.fd >= 0) {
        ::close(watch_.fd);
    }
}

bool ControlChannel::drain(const OnMessage& on_message) {
    std::vector<char> buffer(64 * 1024);
    while (true) {
        const ssize_t n = ::recv(watch_.fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n == 0) {
            return false;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                watch_.ready &= ~net::readable;
                return true;
            }
            return false;
        }
        const std::string message(buffer.data(), static_cast<std::size_t>(n));
        const auto newline = message.find('\n');
        on_message(message.substr(0, newline),
                   newline == std::string::npos ? std::string() : message.substr(newline + 1));
    }
}

void ControlChannel::read_waiting(const OnMessage& on_message) {
    if (!closed_ && !drain(on_message)) {
        closed_ = true;
    }
}

void ControlChannel::watch(net::Executor executor, OnMessage on_message, OnClosed on_closed) {
    on_message_ = std::move(on_message);
    on_closed_ = std::move(on_closed);
    watch_.on_ready = &ControlChannel::on_ready;
    watch_.owner = this;
    if (closed_ || net::Poller::of(executor).add(watch_, net::readable)) {
        on_closed_();
        return;
    }
    on_ready(&watch_, this);
}

void ControlChannel::on_ready(net::PollWatch*, void* owner) {
    auto* self = static_cast<ControlChannel*>(owner);
    if (self->closed_) {
        return;
    }
    if (!self->drain(self->on_message_)) {
        self->closed_ = true;
        self->on_closed_();
    }
}

}  // namespace tierlb::master
