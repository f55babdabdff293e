// Why tierlb defines getpid(): OpenSSL asks it nine times per TLS handshake.
//
// OpenSSL 3.0's random generator checks that the process has not forked before every draw
// (openssl_get_fork_id() in each RAND_bytes: the handshake's random, its key share, the ECDSA
// nonce, the session tickets...), and glibc no longer caches the answer: each is a system
// call, nine per full handshake in a worker (strace), each one a kernel entry and exit with
// the speculation mitigations of a virtual machine. This definition, which the dynamic linker
// gives libcrypto before glibc's, asks the kernel once and then answers from memory.
//
// A forked child must not inherit the answer: pthread_atfork's child handler forgets it (the
// master's fork-then-exec and the daemon's fork both go through glibc's fork). glibc's own
// internal uses of getpid call its hidden alias and never come here.
//
// Linked into the tierlb executable and the worker's unit tests, as sprintf_chk.cpp.

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace {

std::atomic<pid_t> known_pid{0};  // 0: ask the kernel

void forget_pid() noexcept {
    known_pid.store(0, std::memory_order_relaxed);
}

pid_t ask_kernel() noexcept {
    // Registered before the first answer is kept, so no fork can copy an answer unwatched.
    static const bool watching_forks = pthread_atfork(nullptr, nullptr, &forget_pid) == 0;
    const auto pid = static_cast<pid_t>(::syscall(SYS_getpid));
    if (watching_forks) {
        known_pid.store(pid, std::memory_order_relaxed);
    }
    return pid;
}

}  // namespace

extern "C" pid_t getpid() noexcept {
    const pid_t pid = known_pid.load(std::memory_order_relaxed);
    return pid != 0 ? pid : ask_kernel();
}
