// worker/interpose/getpid.cpp: the answer is the kernel's, kept, forgotten across fork, and
// it is the one the dynamic linker hands to libraries (OpenSSL's random generator).

#include <dlfcn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace {

pid_t kernel_pid() { return static_cast<pid_t>(::syscall(SYS_getpid)); }

}  // namespace

TEST_CASE("getpid: the kernel's answer, the same every time", "[interpose][getpid]") {
    const pid_t first = getpid();
    CHECK(first == kernel_pid());
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(getpid() == first);
    }
}

TEST_CASE("getpid: the definition libraries get is tierlb's", "[interpose][getpid]") {
    // Found first in the global scope: the executable exports it to the shared libraries.
    void* found = ::dlsym(RTLD_DEFAULT, "getpid");
    CHECK(found == reinterpret_cast<void*>(&getpid));
    // glibc's own is still there behind it.
    void* glibc = ::dlsym(RTLD_NEXT, "getpid");
    CHECK(glibc != nullptr);
    CHECK(glibc != found);
}

TEST_CASE("getpid: a forked child gets its own pid, not the parent's kept one",
          "[interpose][getpid]") {
    const pid_t parent = getpid();  // kept from here on
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const pid_t mine = getpid();
        const bool right = mine == kernel_pid() && mine != parent && getpid() == mine;
        ::_exit(right ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(getpid() == parent);
}
