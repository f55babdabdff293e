// Which process holds a unix address, named when a bind finds it taken (a squatted abns@
// name at start-up).

#include "common/net/socket_holder.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

using namespace tierlb::net;

TEST_CASE("socket holder: the process holding an abstract name is named", "[net][trust]") {
    const std::string name = "holder-test-" + std::to_string(::getpid());
    auto address = tierlb::parse_address("abns@" + name, tierlb::AddressUse::bind);
    REQUIRE(address);
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        const bool bound = ::bind(fd, address->native(), address->length()) == 0;
        const char byte = bound ? 'y' : 'n';
        (void)!::write(ready[1], &byte, 1);
        ::pause();  // holds the name until killed
        ::_exit(0);
    }
    char byte = 0;
    REQUIRE(::read(ready[0], &byte, 1) == 1);
    CHECK(byte == 'y');
    const auto holder = holder_of(*address);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ::close(ready[0]);
    ::close(ready[1]);
    REQUIRE(holder);
    CHECK(holder->find("pid " + std::to_string(child) + " (") == 0);

    auto free_name = tierlb::parse_address("abns@" + name + "-free", tierlb::AddressUse::bind);
    CHECK_FALSE(holder_of(*free_name));  // nobody holds it
}
