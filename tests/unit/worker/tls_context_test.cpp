// BindTls: certificates from files, directories and crt-lists; SNI choosing among them;
// ALPN; versions; errors naming the file.

#include "worker/tls_context.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "config/load.hpp"
#include "tls_fixture.hpp"

using tierlb::worker::BindTls;

namespace {

// A one-bind configuration with BIND_OPTIONS, loaded; the bind and its proxy.
struct Loaded {
    tierlb::config::ConfigurationPtr config;
    const tierlb::config::Bind& bind() const { return config->proxies[0].binds[0]; }
    const tierlb::config::Proxy& proxy() const { return config->proxies[0]; }
};

Loaded load(const std::string& bind_options) {
    tierlb::config::Diagnostics d;
    auto config = tierlb::config::load_text("listen l\n bind 127.0.0.1:0 ssl " + bind_options +
                                                "\n timeout client 1h\n server s 127.0.0.1:1\n",
                                            "t.cfg", d);
    INFO(bind_options);
    REQUIRE(config);
    return {config};
}

std::string wire(std::initializer_list<std::string> names) {
    std::string w;
    for (const auto& n : names) {
        w += static_cast<char>(n.size()) + n;
    }
    return w;
}

tls_fixture::Outcome connect(const BindTls& tls, const std::string& sni,
                             const std::string& alpn = {}) {
    SSL* server = tls.new_connection();
    auto out = tls_fixture::handshake_with(server, nullptr, sni, alpn);
    SSL_free(server);
    SSL_SESSION_free(out.session);
    return out;
}

}  // namespace

TEST_CASE("SNI picks the certificate; no SNI or no match gets the first", "[worker][tls]") {
    tls_fixture::Certificate a("a.test", {"a.test", "www.a.test"});
    tls_fixture::Certificate b("b.test", {"b.test"});
    tls_fixture::Certificate w("wild", {"*.w.test"}, /*key_beside=*/true);
    auto loaded = load("crt " + a.path + " crt " + b.path + " crt " + w.path);
    auto tls = BindTls::load(loaded.bind(), loaded.proxy(), "", nullptr);
    REQUIRE(tls.has_value());
    CHECK((*tls)->certificates() == 3);
    CHECK(connect(**tls, "b.test").subject_cn == "b.test");
    CHECK(connect(**tls, "www.a.test").subject_cn == "a.test");
    CHECK(connect(**tls, "x.w.test").subject_cn == "wild");
    CHECK(connect(**tls, "deep.x.w.test").subject_cn == "a.test");  // one label only
    CHECK(connect(**tls, "").subject_cn == "a.test");
    CHECK(connect(**tls, "unknown.test").subject_cn == "a.test");
    CHECK(connect(**tls, "B.TEST").subject_cn == "b.test");  // names are case-insensitive
}

TEST_CASE("crt-list: filters, exclusions, fallback and per-certificate ALPN", "[worker][tls]") {
    tls_fixture::Certificate fallback("fallback", {"fallback.test"});
    tls_fixture::Certificate wild("wild", {"*.example.test"});
    tls_fixture::Certificate secure("secure", {"secure.example.test"});
    const auto list = std::filesystem::temp_directory_path() / "tierlb-crt-list-test.txt";
    std::ofstream(list) << fallback.path << " !*\n"
                        << "# comment\n\n"
                        << wild.path << " [alpn h2] *.example.test !secure.example.test\n"
                        << std::filesystem::path(secure.path).filename().string()
                        << " [ssl-min-ver TLSv1.2 alpn http/1.1] secure.example.test\n";
    auto loaded = load("crt-list " + list.string() + " alpn h2,http/1.1");
    // The relative path of "secure" is found under crt-base, as in HAProxy.
    const auto crt_base = std::filesystem::path(secure.path).parent_path().string();
    auto tls = BindTls::load(loaded.bind(), loaded.proxy(), crt_base, nullptr);
    REQUIRE(tls.has_value());
    CHECK(connect(**tls, "app.example.test").subject_cn == "wild");
    CHECK(connect(**tls, "secure.example.test").subject_cn == "secure");
    // "!*": the first certificate answers only when nothing else does, even for its own name.
    CHECK(connect(**tls, "fallback.test").subject_cn == "fallback");
    CHECK(connect(**tls, "nothing.test").subject_cn == "fallback");
    // ALPN from the crt-list line of the certificate chosen.
    CHECK(connect(**tls, "app.example.test", wire({"http/1.1", "h2"})).alpn == "h2");
    CHECK(connect(**tls, "secure.example.test", wire({"h2", "http/1.1"})).alpn == "http/1.1");
    std::filesystem::remove(list);
}

TEST_CASE("ALPN: the server's order, no common protocol means no ALPN", "[worker][tls]") {
    tls_fixture::Certificate a("a.test");
    auto loaded = load("crt " + a.path + " alpn h2,http/1.1");
    auto tls = BindTls::load(loaded.bind(), loaded.proxy(), "", nullptr);
    REQUIRE(tls.has_value());
    CHECK(connect(**tls, "", wire({"http/1.1", "h2"})).alpn == "h2");
    CHECK(connect(**tls, "", wire({"http/1.1"})).alpn == "http/1.1");
    auto none = connect(**tls, "", wire({"spdy/3"}));
    CHECK(none.ok);
    CHECK(none.alpn.empty());
}

TEST_CASE("a directory of certificates", "[worker][tls]") {
    const auto dir =
        std::filesystem::temp_directory_path() / ("tierlb-crt-dir-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    tls_fixture::Certificate one("one.test", {"one.test"});
    tls_fixture::Certificate two("two.test", {"two.test"}, true);
    std::filesystem::copy_file(one.path, dir / "1-one.pem");
    std::filesystem::copy_file(two.path, dir / "2-two.pem");
    std::filesystem::copy_file(two.path + ".key", dir / "2-two.pem.key");
    auto loaded = load("crt " + dir.string());
    auto tls = BindTls::load(loaded.bind(), loaded.proxy(), "", nullptr);
    REQUIRE(tls.has_value());
    CHECK((*tls)->certificates() == 2);  // the .key file is not a certificate
    CHECK(connect(**tls, "two.test").subject_cn == "two.test");
    CHECK(connect(**tls, "").subject_cn == "one.test");  // name order: 1-one first
    std::filesystem::remove_all(dir);
}

TEST_CASE("loading errors name the file and the reason", "[worker][tls]") {
    tls_fixture::Certificate good("good");
    const auto junk = std::filesystem::temp_directory_path() / "tierlb-junk.pem";
    std::ofstream(junk) << "not a certificate\n";
    struct Case {
        std::string options;  // GOOD and JUNK stand for those files' paths
        std::string reason;
    };
    auto c = GENERATE(values<Case>({
        {"crt /nonexistent/x.pem", "cannot load certificate '/nonexistent/x.pem': No such file"},
        {"crt JUNK", "no start line"},
        {"crt GOOD ciphers NOTACIPHER", "invalid ciphers 'NOTACIPHER'"},
        {"crt GOOD ciphersuites NOPE", "invalid ciphersuites 'NOPE'"},
        {"crt-list /nonexistent/list", "cannot read crt-list"},
    }));
    for (auto [word, path] : {std::pair{"GOOD", good.path}, std::pair{"JUNK", junk.string()}}) {
        if (auto at = c.options.find(word); at != std::string::npos) {
            c.options.replace(at, 4, path);
        }
    }
    auto loaded = load(c.options);
    auto tls = BindTls::load(loaded.bind(), loaded.proxy(), "", nullptr);
    REQUIRE_FALSE(tls.has_value());
    CHECK_THAT(tls.error(), Catch::Contains(c.reason));
    std::filesystem::remove(junk);
}

TEST_CASE("a certificate without its key, and a key that does not match", "[worker][tls]") {
    tls_fixture::Certificate a("a"), b("b", {}, true);
    const auto lone = std::filesystem::temp_directory_path() / "tierlb-lone.pem";
    {
        // a's certificate alone: no key in the file, none beside it.
        std::ifstream in(a.path);
        std::ofstream out(lone);
        std::string line;
        bool in_cert = false;
        while (std::getline(in, line)) {
            in_cert = in_cert || line.find("BEGIN CERTIFICATE") != std::string::npos;
            if (in_cert) {
                out << line << "\n";
            }
            if (line.find("END CERTIFICATE") != std::string::npos) {
                break;
            }
        }
    }
    auto loaded = load("crt " + lone.string());
    auto tls = BindTls::load(loaded.bind(), loaded.proxy(), "", nullptr);
    REQUIRE_FALSE(tls.has_value());
    CHECK_THAT(tls.error(), Catch::Contains("cannot load the private key"));
    std::filesystem::copy_file(b.path + ".key", lone.string() + ".key");  // someone else's key
    tls = BindTls::load(loaded.bind(), loaded.proxy(), "", nullptr);
    REQUIRE_FALSE(tls.has_value());
    CHECK_THAT(tls.error(), Catch::Contains("key values mismatch"));
    std::filesystem::remove(lone);
    std::filesystem::remove(lone.string() + ".key");
}
