#pragma once
// Taking a TLS 1.3 connection's record layer over from OpenSSL once it is established, so
// that the SSL object (about 14 KB per idle connection) can be freed: what kTLS does, in user
// space (worker/tls13_stream.hpp carries on).
//
// To know the state exactly, each SSL of a bind with `tune.ssl.idle-offload on` is watched
// from its creation: the keylog callback hands over the two application traffic secrets,
// and the message callback counts the records OpenSSL reads and writes under them (its
// NewSessionTickets, any client data it decrypted) and the KeyUpdates it went through. The
// secrets stay in the SSL's ex_data and are wiped with it; they are never logged.
//
// A connection that cannot be captured exactly (TLS 1.2, a CCM suite, a state the callbacks
// did not see whole) stays on OpenSSL: counted as kept, with a debug line saying why.

#include <openssl/ssl.h>

#include <cstdint>

#include "worker/tls13_records.hpp"

namespace tierlb::worker {

// tune.ssl.idle-offload, for the whole process (set before the binds load).
void enable_idle_offload(bool on);
bool idle_offload_enabled();

// Every context whose connections may be taken over: the keylog callback.
void install_takeover_callbacks(SSL_CTX* ctx);

// Starts watching SSL (just created, before its handshake). False if memory ran out: the
// connection then simply stays on OpenSSL.
bool watch_for_takeover(SSL* ssl);

enum class TakeoverCheck {
    ready,    // STATE is the connection's, exactly
    not_yet,  // OpenSSL holds bytes (buffered, or a write in progress): ask again when idle
    never,    // stays on OpenSSL (or was never watched); the watch is removed
};

struct Takeover {
    TakeoverCheck check = TakeoverCheck::never;
    tls13::TrafficState state;    // when ready
    bool owe_key_update = false;  // the peer asked for a KeyUpdate OpenSSL has not sent
    const char* why = "";         // when never
};

// What SSL's record layer is now, if it can be taken over. The caller frees SSL when ready.
Takeover capture_for_takeover(SSL* ssl);

// Connections taken over and kept on OpenSSL by this process since it started.
struct TakeoverCounts {
    std::uint64_t taken = 0;
    std::uint64_t kept = 0;
};
TakeoverCounts takeover_counts();
void count_taken_over();

}  // namespace tierlb::worker
