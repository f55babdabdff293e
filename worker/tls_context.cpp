#include "worker/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "worker/provider.hpp"
#include "worker/tls_takeover.hpp"

namespace tierlb::worker {

std::string openssl_errors() {
    // The first error queued is the cause; the others are the layers that passed it up.
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code != 0 && ERR_SYSTEM_ERROR(code)) {
        return std::strerror(ERR_GET_REASON(code));  // "No such file or directory"
    }
    const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
    return reason != nullptr ? reason : "unknown error";
}

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

int protocol_of(config::TlsVersion v) {
    return v == config::TlsVersion::tlsv12 ? TLS1_2_VERSION : TLS1_3_VERSION;
}

// "h2,http/1.1" as the wire format ALPN uses: each name prefixed by its length.
std::string alpn_wire(const std::vector<std::string>& names) {
    std::string wire;
    for (const auto& n : names) {
        wire += static_cast<char>(n.size());
        wire += n;
    }
    return wire;
}

// The names a certificate answers for: its CN and its DNS subject alternative names.
std::vector<std::string> names_of(SSL_CTX* ctx) {
    std::vector<std::string> names;
    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (cert == nullptr) {
        return names;
    }
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
        if (name->type == GEN_DNS) {
            const auto* data = ASN1_STRING_get0_data(name->d.dNSName);
            names.emplace_back(reinterpret_cast<const char*>(data),
                               static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
        }
    }
    GENERAL_NAMES_free(sans);
    const X509_NAME* subject = X509_get_subject_name(cert);
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
        const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
        names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                           static_cast<std::size_t>(ASN1_STRING_length(cn)));
    }
    return names;
}

bool has_private_key(const std::string& file) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("-----BEGIN", 0) == 0 &&
            line.find("PRIVATE KEY-----") != std::string::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::optional<std::string> BindTls::configure(SSL_CTX* ctx, const CertificateOptions& options) {
    const config::Bind& bind = *bind_;
    SSL_CTX_set_min_proto_version(ctx,
                                  protocol_of(options.min_version.value_or(*bind.tls.min_version)));
    const auto max = options.max_version ? options.max_version : bind.tls.max_version;
    SSL_CTX_set_max_proto_version(ctx, max ? protocol_of(*max) : 0);
    // A client that closes without close_notify has simply closed (most do).
    std::uint64_t flags =
        SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF;
    if (!bind.tls.prefer_client_ciphers) {
        flags |= SSL_OP_CIPHER_SERVER_PREFERENCE;
    }
    if (bind.tls.no_tls_tickets) {
        flags |= SSL_OP_NO_TICKET;
    }
    SSL_CTX_set_options(ctx, flags);
    // Idle connections give their read and write buffers back (memory per idle connection).
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Bulk transfers: several records per recv() rather than two calls per record (header,
    // then body). The buffer is released when idle like the others.
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    // Resumption is by tickets, shared by every worker; with no-tls-tickets, by this process's
    // session cache (HAProxy keeps a cache too).
    SSL_CTX_set_session_cache_mode(
        ctx, bind.tls.no_tls_tickets ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(ctx,
                                   reinterpret_cast<const unsigned char*>(session_context_.data()),
                                   static_cast<unsigned>(session_context_.size()));
    SSL_CTX_set_dh_auto(ctx, 1);
    const std::string& ciphers = !options.ciphers.empty() ? options.ciphers : bind.ciphers;
    if (!ciphers.empty() && SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
        return "invalid ciphers '" + ciphers + "': " + openssl_errors();
    }
    const std::string& suites =
        !options.ciphersuites.empty() ? options.ciphersuites : bind.ciphersuites;
    if (!suites.empty() && SSL_CTX_set_ciphersuites(ctx, suites.c_str()) != 1) {
        return "invalid ciphersuites '" + suites + "': " + openssl_errors();
    }
    SSL_CTX_set_client_hello_cb(ctx, &BindTls::on_client_hello, this);
    if (!options.alpn.empty() || !bind.alpn.empty()) {
        SSL_CTX_set_alpn_select_cb(ctx, &BindTls::on_alpn, nullptr);
    }
    if (tickets_ != nullptr && !bind.tls.no_tls_tickets) {
        tickets_->install(ctx);
    }
    install_takeover_callbacks(ctx);  // idle offload: the traffic secrets of watched SSLs
    return std::nullopt;
}

// A certificate file: cert, chain and key in one PEM, or the key in FILE.key beside it.
std::optional<std::string> BindTls::add(const std::string& file, const CertificateOptions& options,
                                        bool overrides, const std::vector<std::string>& filters) {
    // libssl's key schedule on tierlb's provider where it can (worker/provider.hpp).
    SslCtxPtr ctx(SSL_CTX_new_ex(nullptr, provider_property_query(), TLS_server_method()));
    if (!ctx) {
        return "cannot create a TLS context: " + openssl_errors();
    }
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), file.c_str()) != 1) {
        return "cannot load certificate '" + file + "': " + openssl_errors();
    }
    const std::string key_file = has_private_key(file) ? file : file + ".key";
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        return "cannot load the private key of '" + file + "' (from '" + key_file +
               "'): " + openssl_errors();
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
        return "the private key does not match certificate '" + file + "'";
    }
    if (auto error = configure(ctx.get(), options)) {
        return "certificate '" + file + "': " + *error;
    }
    auto cert = std::make_unique<Certificate>();
    cert->file = file;
    cert->options = options;
    cert->overrides = overrides;
    cert->ctx = std::move(ctx);
    // Names: the filters when given (with "!" exclusions), else the certificate's own.
    std::vector<std::string> names;
    std::vector<std::string> excluded;
    for (const auto& f : filters) {
        (f.front() == '!' ? excluded : names).push_back(lower(f.front() == '!' ? f.substr(1) : f));
    }
    if (names.empty() && std::find(excluded.begin(), excluded.end(), "*") == excluded.end()) {
        for (auto& n : names_of(cert->ctx.get())) {
            names.push_back(lower(n));
        }
    }
    cert->excluded = excluded;
    for (const auto& n : names) {
        if (std::find(excluded.begin(), excluded.end(), n) != excluded.end()) {
            continue;
        }
        auto& table = n.rfind("*.", 0) == 0 ? wildcard_ : exact_;
        table.emplace(n.rfind("*.", 0) == 0 ? n.substr(2) : n, cert.get());  // first one wins
    }
    certs_.push_back(std::move(cert));
    return std::nullopt;
}

// crt DIR: every certificate file of the directory, in name order (keys, OCSP responses and
// the like beside them are not certificates).
std::optional<std::string> BindTls::add_directory(const std::string& directory) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
        const auto ext = entry.path().extension().string();
        if (entry.is_regular_file() && ext != ".key" && ext != ".ocsp" && ext != ".issuer" &&
            ext != ".sctl") {
            files.push_back(entry.path().string());
        }
    }
    if (ec) {
        return "cannot read directory '" + directory + "': " + ec.message();
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        if (auto error = add(f, {}, false, {})) {
            return error;
        }
    }
    return std::nullopt;
}

// HAProxy's crt-list (worker/crt_list.hpp): each line's certificate loaded with its options
// and SNI filters. Relative certificate paths are taken from crt-base when it is set
// (HAProxy's rule).
std::optional<std::string> BindTls::load_crt_list(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return "cannot read crt-list '" + path + "'";
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto entries = parse_crt_list(text.str(), path);
    if (!entries) {
        return entries.error();
    }
    const std::filesystem::path directory = crt_base_;
    for (const auto& entry : *entries) {
        std::filesystem::path file = entry.file;
        if (file.is_relative() && !directory.empty()) {
            file = directory / file;
        }
        if (auto error = add(file.string(), entry.options, entry.overrides, entry.filters)) {
            return "crt-list '" + path + "' line " + std::to_string(entry.line) + ": " + *error;
        }
    }
    return std::nullopt;
}

Expected<std::unique_ptr<BindTls>> BindTls::load(const config::Bind& bind,
                                                 const config::Proxy& proxy,
                                                 const std::string& crt_base, TicketKeys* tickets) {
    std::unique_ptr<BindTls> tls(new BindTls);
    tls->bind_ = &bind;
    tls->crt_base_ = crt_base;
    tls->tickets_ = tickets;
    // The same in every worker of the section: a session made by one resumes on another.
    tls->session_context_ = "tierlb:" + proxy.name;
    const std::string where;  // empty: the caller says which bind
    for (const auto& crt : bind.crts) {
        std::error_code ec;
        auto error = std::filesystem::is_directory(crt, ec) ? tls->add_directory(crt)
                                                            : tls->add(crt, {}, false, {});
        if (error) {
            return unexpected(where + *error);
        }
    }
    if (!bind.crt_list.empty()) {
        if (auto error = tls->load_crt_list(bind.crt_list)) {
            return unexpected(where + *error);
        }
    }
    if (tls->certs_.empty()) {
        return unexpected(where + "no certificate was found");
    }
    for (auto& cert : tls->certs_) {
        SSL_CTX_set_alpn_select_cb(cert->ctx.get(), &BindTls::on_alpn, cert.get());
        cert->alpn_wire = alpn_wire(!cert->options.alpn.empty() ? cert->options.alpn : bind.alpn);
    }
    return tls;
}

SSL* BindTls::new_connection() const {
    SSL* ssl = SSL_new(certs_.front()->ctx.get());
    if (ssl != nullptr && idle_offload_enabled()) {
        watch_for_takeover(ssl);  // if it cannot, the connection stays on OpenSSL
    }
    return ssl;
}

const BindTls::Certificate* BindTls::lookup(const std::string& name) const {
    if (auto it = exact_.find(name); it != exact_.end()) {
        return it->second;
    }
    if (auto dot = name.find('.'); dot != std::string::npos) {
        if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) {
            const auto& excluded = it->second->excluded;
            if (std::find(excluded.begin(), excluded.end(), name) == excluded.end()) {
                return it->second;
            }
        }
    }
    return certs_.front().get();
}

const std::string& BindTls::certificate_for(const std::string& name) const {
    return lookup(lower(name))->file;
}

// The host name of a ClientHello's server_name extension, or "" (RFC 6066: a list of names,
// each a type byte, 0 for host_name, and a 16-bit length).
std::string sni_of_client_hello(SSL* ssl) {
    const unsigned char* ext = nullptr;
    std::size_t length = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &length) != 1 || length < 5) {
        return {};
    }
    const std::size_t list = static_cast<std::size_t>(ext[0]) << 8 | ext[1];
    const std::size_t name = static_cast<std::size_t>(ext[3]) << 8 | ext[4];
    if (list + 2 > length || ext[2] != TLSEXT_NAMETYPE_host_name || name + 5 > length) {
        return {};
    }
    return std::string(reinterpret_cast<const char*>(ext + 5), name);
}

// Once the ClientHello is read, before OpenSSL chooses a version or a cipher: switch to the
// certificate the SNI asks for, with that certificate's crt-list options (HAProxy does it
// here too: the servername callback would be too late for ssl-min-ver).
int BindTls::on_client_hello(SSL* ssl, int*, void* arg) {
    const auto* self = static_cast<const BindTls*>(arg);
    const std::string name = sni_of_client_hello(ssl);
    if (name.empty()) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    const Certificate* cert = self->lookup(lower(name));
    if (cert->ctx.get() != SSL_get_SSL_CTX(ssl)) {
        SSL_set_SSL_CTX(ssl, cert->ctx.get());
    }
    if (cert->overrides) {
        // SSL_set_SSL_CTX changes the certificate, not what the SSL copied at creation.
        const auto& o = cert->options;
        const config::Bind& bind = *self->bind_;
        SSL_set_min_proto_version(ssl, protocol_of(o.min_version.value_or(*bind.tls.min_version)));
        const auto max = o.max_version ? o.max_version : bind.tls.max_version;
        SSL_set_max_proto_version(ssl, max ? protocol_of(*max) : 0);
        if (!o.ciphers.empty()) {
            SSL_set_cipher_list(ssl, o.ciphers.c_str());
        }
        if (!o.ciphersuites.empty()) {
            SSL_set_ciphersuites(ssl, o.ciphersuites.c_str());
        }
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

// ALPN, the server's order first (HAProxy's choice); no common protocol: no ALPN.
int BindTls::on_alpn(SSL*, const unsigned char** out, unsigned char* out_length,
                     const unsigned char* in, unsigned int in_length, void* arg) {
    const auto* cert = static_cast<const Certificate*>(arg);
    if (cert->alpn_wire.empty()) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, out_length,
                              reinterpret_cast<const unsigned char*>(cert->alpn_wire.data()),
                              static_cast<unsigned>(cert->alpn_wire.size()), in,
                              in_length) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

void check_tls(const config::Configuration& config, config::Diagnostics& diagnostics) {
    for (const auto& proxy : config.proxies) {
        for (const auto& bind : proxy.binds) {
            if (!bind.ssl) {
                continue;
            }
            auto tls = BindTls::load(bind, proxy, config.global.crt_base, nullptr);
            if (!tls) {
                diagnostics.error(bind.where, "bind '" + bind.address_text + "': " + tls.error());
            }
        }
    }
    const auto& keys = config.global.tls_ticket_keys;
    if (!keys.empty()) {
        auto loaded = TicketKeys::read_file(keys);
        if (!loaded) {
            diagnostics.error(config.global.tls_ticket_keys_where, loaded.error());
        }
    }
}

}  // namespace tierlb::worker
