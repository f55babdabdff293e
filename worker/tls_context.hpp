#pragma once
// The TLS side of one `bind ... ssl`: one SSL_CTX per certificate (as HAProxy), the SNI table
// that picks among them, ALPN, protocol versions and ciphers. The first certificate declared
// (crt, or crt-list) is the default: it answers clients without SNI and names nothing else
// matched. Names come from the certificate (CN and DNS SANs) unless crt-list gives filters;
// "*.example.com" matches one label, "!name" excludes (from that line's wildcards too), "!*"
// keeps the certificate's own names out. crt-list paths are relative to crt-base.
//
// Loading fails with a message naming the file and OpenSSL's reason (the caller names the
// bind and its FILE:LINE);
// the process then exits 2 (INTERFACE.md section 1), and `tierlb -c` reports it as an error.

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/expected.hpp"
#include "config/diagnostics.hpp"
#include "config/model.hpp"
#include "config/values.hpp"
#include "worker/crt_list.hpp"
#include "worker/ticket_keys.hpp"

namespace tierlb::worker {

struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

class BindTls {
public:
    // Loads every certificate of BIND. TICKETS may be null (no shared ticket keys).
    static Expected<std::unique_ptr<BindTls>> load(const config::Bind& bind,
                                                   const config::Proxy& proxy,
                                                   const std::string& crt_base,
                                                   TicketKeys* tickets);

    // A server-side SSL on the default certificate; SNI may switch it during the handshake.
    SSL* new_connection() const;

    std::size_t certificates() const { return certs_.size(); }

    // The certificate chosen for NAME (exact, then wildcard, else the default): for tests.
    const std::string& certificate_for(const std::string& name) const;

private:
    struct Certificate {
        std::string file;
        SslCtxPtr ctx;
        CertificateOptions options;
        bool overrides = false;             // crt-list set options: apply them when SNI selects it
        std::string alpn_wire;              // the protocols it offers, in ALPN's wire format
        std::vector<std::string> excluded;  // "!name" filters: never this certificate
    };

    BindTls() = default;
    // Each returns the error, if any.
    std::optional<std::string> add(const std::string& file, const CertificateOptions& options,
                                   bool overrides, const std::vector<std::string>& filters);
    std::optional<std::string> add_directory(const std::string& directory);
    std::optional<std::string> load_crt_list(const std::string& path);
    std::optional<std::string> configure(SSL_CTX* ctx, const CertificateOptions& options);
    const Certificate* lookup(const std::string& name) const;
    static int on_client_hello(SSL* ssl, int* alert, void* arg);
    static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                       const unsigned char* in, unsigned int in_length, void* arg);

    const config::Bind* bind_ = nullptr;
    std::string crt_base_;
    std::string session_context_;
    TicketKeys* tickets_ = nullptr;
    std::vector<std::unique_ptr<Certificate>> certs_;
    std::unordered_map<std::string, const Certificate*> exact_;
    std::unordered_map<std::string, const Certificate*> wildcard_;  // "example.com" for *.
};

// The OpenSSL errors queued on this thread, as one line (and the queue emptied).
std::string openssl_errors();

// Loads the TLS side of every ssl bind of CONFIG (for `tierlb -c`): each problem reported at
// its bind's line.
void check_tls(const config::Configuration& config, config::Diagnostics& diagnostics);

}  // namespace tierlb::worker
