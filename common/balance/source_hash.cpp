#include "common/balance/source_hash.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace tierlb::balance {

namespace {
std::uint32_t word_at(const unsigned char* bytes) {
    std::uint32_t word;
    std::memcpy(&word, bytes, sizeof(word));
    return ntohl(word);
}
}  // namespace

std::optional<std::uint32_t> source_hash(const SocketAddress& client) {
    switch (client.family()) {
        case AddressFamily::ipv4: {
            sockaddr_in in{};
            std::memcpy(&in, client.native(), sizeof(in));
            return ntohl(in.sin_addr.s_addr);
        }
        case AddressFamily::ipv6: {
            sockaddr_in6 in6{};
            std::memcpy(&in6, client.native(), sizeof(in6));
            std::uint32_t hash = 0;
            for (std::size_t offset = 0; offset < sizeof(in6.sin6_addr); offset += 4) {
                hash ^= word_at(in6.sin6_addr.s6_addr + offset);
            }
            return hash;
        }
        default:
            return std::nullopt;
    }
}

}  // namespace tierlb::balance
