"""Issue [3]: TLS in the workers, end to end with real processes and real clients (curl,
openssl s_client, Python's ssl): the seed topology serving HTTPS, certificate selection by
SNI (crt, crt DIR, crt-list with filters), ALPN, session resumption across workers and across
tierlb instances sharing a tls-ticket-keys file, protocol versions, send-proxy-v2-ssl,
HAProxy 2.6 as the dispatcher in front of TLS workers, hostile input on a TLS bind, and
certificate errors at start-up."""

import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest

from harness import (EchoBackend, HAProxy, Tierlb, read_text, run_tierlb, show_stat, stats_command,
                     unique, wait_until)
from tls_support import (PP2_SUBTYPE_SSL_CIPHER, PP2_SUBTYPE_SSL_KEY_ALG,
                         PP2_SUBTYPE_SSL_SIG_ALG, PP2_SUBTYPE_SSL_VERSION, PP2_TYPE_ALPN,
                         PP2_TYPE_AUTHORITY, PP2_TYPE_SSL, V2_SIGNATURE, HttpBackend,
                         ProxyV2Backend, SClient, abns_connect, client_context, der_of,
                         free_port, make_cert, make_chain, new_ticket_key, served_cert,
                         tls_connect, tls_round_trip, wait_closed, write_ticket_keys)
from topology import two_tier

CERTS = None  # the directory of this run's certificates (setUpModule)
PEM = {}      # name -> certificate file


def setUpModule():
    """Every certificate the tests use, made fresh in a temporary directory."""
    global CERTS
    CERTS = tempfile.mkdtemp(prefix="tierlb-tls-")
    PEM["site"] = make_cert(CERTS, "site", "site.test", ["site.test", "www.site.test"])
    PEM["default"] = make_cert(CERTS, "default", "default.test", ["default.test"])
    PEM["a"] = make_cert(CERTS, "a", "a.test", ["a.test", "alias.a.test"])
    PEM["wild"] = make_cert(CERTS, "wild", "*.wild.test", ["*.wild.test"])
    os.mkdir(os.path.join(CERTS, "dir"))
    PEM["d1"] = make_cert(os.path.join(CERTS, "dir"), "d1", "d1.test", ["d1.test"])
    PEM["d2"] = make_cert(os.path.join(CERTS, "dir"), "d2", "d2.test", ["d2.test"],
                          key_beside=True)  # d2.pem + d2.pem.key
    os.mkdir(os.path.join(CERTS, "list"))
    PEM["listed"] = make_cert(os.path.join(CERTS, "list"), "listed", "listed.test",
                              ["listed.test"])
    PEM["v13"] = make_cert(os.path.join(CERTS, "list"), "v13", "v13.test", ["v13.test"])
    PEM["fallback"] = make_cert(CERTS, "fallback", "both.test", ["both.test"])
    PEM["other"] = make_cert(CERTS, "other", "both.test", ["both.test"])


def tearDownModule():
    shutil.rmtree(CERTS, ignore_errors=True)


# --- configurations ------------------------------------------------------------------------

def tls_two_tier(backend_port, tmp, bind_options, workers=2, bind_names=(), **kwargs):
    """The seed topology with TLS workers (`accept-proxy BIND_OPTIONS` on each worker bind) and
    a stats socket per process: TMP/p1.sock (dispatcher), TMP/p2.sock, ... (workers).
    BIND_NAMES gives the worker binds a `name`, in order. Returns (config, names)."""
    sockets = "\n".join("stats socket %s process %d level admin" % (sock_path(tmp, n), n)
                        for n in range(1, workers + 2))
    kwargs["global_extra"] = sockets + "\n" + kwargs.get("global_extra", "")
    config, _, names = two_tier(backend_port, workers=workers, **kwargs)
    for i, name in enumerate(names):
        old = "bind abns@%s process %d accept-proxy" % (name, i + 2)
        new = old + " " + bind_options
        if i < len(bind_names) and bind_names[i]:
            new += " name " + bind_names[i]
        config = config.replace(old, new)
    return config, names


def started(test, config):
    """A Tierlb on CONFIG whose stop is registered with TEST (a test case or its class) before
    it starts, so that a failed start-up leaves no process behind."""
    lb = Tierlb(config)
    (test.addClassCleanup if isinstance(test, type) else test.addCleanup)(lb.stop)
    return lb.start()


def sock_path(tmp, process):
    return os.path.join(tmp, "p%d.sock" % process)


def one_tier(backend_port, bind_options, global_extra="", defaults_extra="",
             server_options=""):
    """One process: `listen tls` on 127.0.0.1:0 with BIND_OPTIONS, to BACKEND_PORT."""
    lines = ["global", "    log stderr format raw local0 info"]
    lines += ["    " + l for l in global_extra.splitlines() if l.strip()]
    lines += ["defaults", "    mode tcp", "    log global", "    option tcplog",
              "    timeout connect 2s", "    timeout client 30s", "    timeout server 30s"]
    lines += ["    " + l for l in defaults_extra.splitlines() if l.strip()]
    lines += ["listen tls", "    bind 127.0.0.1:0 " + bind_options,
              "    server app 127.0.0.1:%d %s" % (backend_port, server_options)]
    return "\n".join(lines) + "\n"


def frontend_row(tmp, process, proxy="worker"):
    """The FRONTEND line of PROXY in PROCESS's own `show stat`."""
    for row in show_stat(sock_path(tmp, process)):
        if row["pxname"] == proxy and row["svname"] == "FRONTEND":
            return row
    raise AssertionError("no FRONTEND line for %s in process %d" % (proxy, process))


def worker_counter(tmp, column, workers=(2, 3)):
    """COLUMN of the worker FRONTEND, summed over the worker processes."""
    return sum(int(frontend_row(tmp, p)[column] or 0) for p in workers)


def dispatcher_stot(tmp):
    """{server: stot} of the dispatcher, from process 1's stats socket."""
    return {r["svname"]: int(r["stot"]) for r in show_stat(sock_path(tmp, 1))
            if r["pxname"] == "dispatcher" and r["svname"] not in ("FRONTEND", "BACKEND")}


def set_state(tmp, server, state):
    answer = stats_command(sock_path(tmp, 1), "set server dispatcher/%s state %s" %
                           (server, state))
    assert answer.strip() == "", answer


# --- 1. end to end -------------------------------------------------------------------------

class EndToEnd(unittest.TestCase):
    """The seed topology (dispatcher in process 1, `balance leastconn`, two TLS workers over
    abns@ with accept-proxy) serves HTTPS from a plain HTTP backend to curl, openssl s_client
    and Python's ssl module; the worker's tcplog line marks TLS with `~`."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.backend = HttpBackend()
        self.addCleanup(self.backend.close)
        config, _ = tls_two_tier(self.backend.port, self.tmp, "ssl crt %s" % PEM["site"],
                                 server_options="check")
        self.lb = started(self, config)
        self.port = self.lb.port("dispatcher")

    def test_curl(self):
        """curl -sk --http1.1 gets the backend's page through both tiers, twice (one per
        worker), and the workers log `worker~` with the client's address."""
        for path in ("/first", "/second"):
            p = subprocess.run(["curl", "-sk", "--http1.1", "--max-time", "5",
                                "https://127.0.0.1:%d%s" % (self.port, path)],
                               capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.decode(), "hello from the backend, path %s\n" % path)
        self.lb.log.wait_for(r"^127\.0\.0\.1:\d+ \[.*\] worker~ worker/app ")
        wait_until(lambda: len(self.lb.log.find_all(r" worker~ worker/app ")) == 2,
                   message="two worker~ log lines")
        # leastconn with both workers idle rotates: each worker served one.
        self.assertEqual(dispatcher_stot(self.tmp), {"w2": 1, "w3": 1})

    def test_openssl_s_client(self):
        """s_client sees the certificate's subject, TLS 1.3, and gets the HTTP answer."""
        p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.port,
                            "-servername", "site.test", "-quiet", "-ign_eof"],
                           input=b"GET /s HTTP/1.0\r\n\r\n", capture_output=True, timeout=10)
        self.assertIn(b"hello from the backend, path /s", p.stdout)
        self.assertIn(b"CN = site.test", p.stderr)
        out = SClient(self.port, "-servername", "site.test").output
        self.assertIn("New, TLSv1.3, Cipher is TLS_", out)
        self.assertIn("subject=CN = site.test", out)

    def test_python_ssl_client(self):
        """Python's ssl module, certificate verified against the site's certificate."""
        ctx = ssl.create_default_context(cafile=PEM["site"])
        with tls_connect(self.port, "www.site.test", context=ctx) as s:
            self.assertEqual(s.version(), "TLSv1.3")
            s.sendall(b"GET /py HTTP/1.0\r\n\r\n")
            answer = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        self.assertRegex(answer[:20], rb"^HTTP/1\.[01] 200 OK\r\n")
        self.assertTrue(answer.endswith(b"hello from the backend, path /py\n"), answer[-100:])


    def test_certificate_chain_is_sent(self):
        """A crt PEM of leaf + intermediate + key: the client, trusting only the root,
        verifies the chain and the name (the worker sends the intermediate)."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            chain, root = make_chain(tmp, "chain.test")
            config, _ = tls_two_tier(backend.port, tmp, "ssl crt " + chain)
            with Tierlb(config) as lb:
                ctx = ssl.create_default_context(cafile=root)
                with tls_connect(lb.port("dispatcher"), "chain.test", context=ctx) as s:
                    self.assertEqual(tls_round_trip(s, b"chained"), b"chained")
                out = SClient(lb.port("dispatcher"), "-servername", "chain.test", "-CAfile",
                              root, "-verify_return_error").output
                self.assertIn(" 1 s:CN = Test Intermediate CA", out)
                self.assertIn("Verify return code: 0 (ok)", out)


# --- 2. SNI --------------------------------------------------------------------------------

class Sni(unittest.TestCase):
    """The certificate a client gets for its server name: crt files (CN and DNS SANs), a
    wildcard (one label), a crt DIR (a key beside its certificate too), a crt-list with
    filters and `!` exclusions (relative paths from crt-base, as in HAProxy), the first
    certificate as default for no SNI or an unknown name, and `!*` on the default."""

    @classmethod
    def setUpClass(cls):
        cls.backend = EchoBackend()
        crt_list = os.path.join(CERTS, "list", "sni.list")
        with open(crt_list, "w") as f:
            f.write("# filters replace the certificate's own names\n")
            f.write("listed.pem one.list.test *.multi.test !no.multi.test\n")
        bind = "ssl crt %s crt %s crt %s crt %s crt-list %s" % (
            PEM["default"], PEM["a"], PEM["wild"], os.path.join(CERTS, "dir"), crt_list)
        cls.addClassCleanup(cls.backend.close)
        cls.lb = started(cls, one_tier(cls.backend.port, bind,
                                       global_extra="crt-base " + os.path.join(CERTS, "list")))
        cls.port = cls.lb.port("tls")

    def assertServed(self, server_name, cert):
        got = served_cert(self.port, server_name)
        names = {der_of(path): name for name, path in PEM.items()}
        self.assertEqual(names.get(got, "?"), cert, "SNI %r" % (server_name,))

    def test_names_pick_their_certificate(self):
        """Each name against the certificate HAProxy 2.6 picks for it (checked with the same
        certificates and crt-list)."""
        cases = [
            (None, "default"), ("default.test", "default"), ("unknown.test", "default"),
            ("a.test", "a"), ("alias.a.test", "a"), ("A.Test", "a"),
            ("x.wild.test", "wild"), ("y.x.wild.test", "default"), ("wild.test", "default"),
            ("d1.test", "d1"), ("d2.test", "d2"),
            ("one.list.test", "listed"), ("foo.multi.test", "listed"),
            ("no.multi.test", "default"), ("listed.test", "default"),
        ]
        for name, cert in cases:
            with self.subTest(sni=name):
                self.assertServed(name, cert)

    def test_s_client_servername(self):
        """openssl s_client -servername shows the subject of the chosen certificate."""
        for name, subject in (("alias.a.test", "a.test"), ("q.wild.test", "*.wild.test"),
                              ("nothing.test", "default.test")):
            out = SClient(self.port, "-servername", name).output
            self.assertIn("subject=CN = %s\n" % subject, out + "\n", name)
        out = SClient(self.port, "-noservername").output
        self.assertIn("subject=CN = default.test\n", out + "\n")

    def test_fallback_only_default(self):
        """`!*` keeps the first certificate out of the name lookup: a name both certificates
        carry goes to the other one; without `!*`, the default answers for its own names, as
        HAProxy documents."""
        with EchoBackend() as backend:
            for line, expected in (("fallback.pem !*", "other"), ("fallback.pem", "fallback")):
                crt_list = os.path.join(CERTS, "fallback-%d.list" % len(line))
                with open(crt_list, "w") as f:
                    f.write(line + "\nother.pem\n")
                with Tierlb(one_tier(backend.port, "ssl crt-list " + crt_list,
                                     global_extra="crt-base " + CERTS)) as lb:
                    port = lb.port("tls")
                    with self.subTest(crt_list=line):
                        self.assertEqual(served_cert(port, "both.test"), der_of(PEM[expected]))
                        self.assertEqual(served_cert(port, None), der_of(PEM["fallback"]))
                        self.assertEqual(served_cert(port, "zzz.test"), der_of(PEM["fallback"]))


# --- 3. ALPN -------------------------------------------------------------------------------

class Alpn(unittest.TestCase):
    """ALPN in the bind's order, none when the client and the bind share no protocol, and a
    crt-list line's own `alpn` for the names it serves."""

    @classmethod
    def setUpClass(cls):
        cls.backend = EchoBackend()
        crt_list = os.path.join(CERTS, "list", "alpn.list")
        with open(crt_list, "w") as f:
            f.write("listed.pem [alpn http/1.1] one.list.test\n")
            f.write("v13.pem [alpn x-custom,h2 ssl-min-ver TLSv1.3] v13.test\n")
        bind = "ssl crt %s crt-list %s alpn h2,http/1.1" % (PEM["default"], crt_list)
        cls.addClassCleanup(cls.backend.close)
        cls.lb = started(cls, one_tier(cls.backend.port, bind,
                                       global_extra="crt-base " + os.path.join(CERTS, "list")))
        cls.port = cls.lb.port("tls")

    def negotiated(self, offer, server_name=None, **kwargs):
        with tls_connect(self.port, server_name,
                         context=client_context(alpn=offer, **kwargs)) as s:
            self.assertEqual(tls_round_trip(s, b"alpn"), b"alpn")
            return s.selected_alpn_protocol()

    def test_s_client_alpn(self):
        """s_client -alpn h2 gets h2; offering only unknown protocols gets no ALPN."""
        out = SClient(self.port, "-alpn", "h2").output
        self.assertIn("ALPN protocol: h2", out)
        out = SClient(self.port, "-alpn", "spdy/3,foo").output
        self.assertIn("No ALPN negotiated", out)
        self.assertNotIn("ALPN protocol:", out)

    def test_server_order_wins(self):
        """The bind's order (h2,http/1.1) decides; no overlap or no offer gives no ALPN."""
        self.assertEqual(self.negotiated(["http/1.1", "h2"]), "h2")
        self.assertEqual(self.negotiated(["http/1.1"]), "http/1.1")
        self.assertIsNone(self.negotiated(["spdy/3"]))
        self.assertIsNone(self.negotiated(None))

    def test_per_certificate_alpn(self):
        """one.list.test has [alpn http/1.1]: h2 is not offered to its clients."""
        self.assertEqual(self.negotiated(["h2", "http/1.1"], "one.list.test"), "http/1.1")
        self.assertIsNone(self.negotiated(["h2"], "one.list.test"))
        self.assertEqual(self.negotiated(["h2", "x-custom"], "v13.test"), "x-custom")
        out = SClient(self.port, "-servername", "one.list.test", "-alpn", "h2,http/1.1").output
        self.assertIn("ALPN protocol: http/1.1", out)

    def test_per_certificate_min_version(self):
        """v13.test has [ssl-min-ver TLSv1.3]: a TLS 1.2 client is refused for that name and
        only for it."""
        self.assertEqual(self.negotiated(["h2"], "default.test",
                                         maximum=ssl.TLSVersion.TLSv1_2), "h2")
        with self.assertRaises(ssl.SSLError):
            self.negotiated(["h2"], "v13.test", maximum=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(self.negotiated(["h2"], "v13.test"), "h2")


# --- 4. resumption -------------------------------------------------------------------------


class Resumption(unittest.TestCase):
    """A TLS session made on one worker resumes on the other (the master's ticket keys are
    shared by every process), and two tierlb instances given the same tls-ticket-keys file
    resume each other's sessions; the file's penultimate key seals."""

    def test_across_workers_with_s_client(self):
        """s_client -sess_out on one worker, -sess_in on the other: Reused. The dispatcher's
        per-server stot and each worker's own FRONTEND stot show where each landed."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, _ = tls_two_tier(backend.port, tmp, "ssl crt %s" % PEM["site"])
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                session = os.path.join(tmp, "session.pem")
                first = SClient(port, "-sess_out", session, wait_for_file=session)
                self.assertTrue(first.new(), first.output)
                stot = wait_until(lambda: (lambda s: s if sum(s.values()) == 1 else None)(
                    dispatcher_stot(tmp)), message="the first connection counted")
                landed = "w2" if stot["w2"] == 1 else "w3"
                other = "w3" if landed == "w2" else "w2"
                # The other worker must take the next connection.
                set_state(tmp, landed, "maint")
                second = SClient(port, "-sess_in", session)
                self.assertTrue(second.reused(), second.output)
                self.assertEqual(dispatcher_stot(tmp), {landed: 1, other: 1})
                first_process, second_process = int(landed[1]), int(other[1])
                self.assertEqual(frontend_row(tmp, first_process)["stot"], "1")
                self.assertEqual(frontend_row(tmp, second_process)["stot"], "1")
                # The master's keys were there before the first handshake of each worker.
                self.assertEqual(lb.log.find_all(r"no TLS ticket keys from the master"), [])

    def test_tls12_tickets_across_workers(self):
        """The same with TLS 1.2 tickets (Python client, session object reused)."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, _ = tls_two_tier(backend.port, tmp, "ssl crt %s" % PEM["site"])
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                ctx = client_context(maximum=ssl.TLSVersion.TLSv1_2)
                with tls_connect(port, "site.test", context=ctx) as s:
                    self.assertEqual(s.version(), "TLSv1.2")
                    self.assertEqual(tls_round_trip(s), b"ping")
                    session = s.session
                first = dispatcher_stot(tmp)
                landed = "w2" if first["w2"] == 1 else "w3"
                set_state(tmp, landed, "maint")
                with tls_connect(port, "site.test", context=ctx, session=session) as s:
                    self.assertTrue(s.session_reused)
                    self.assertEqual(tls_round_trip(s), b"ping")
                self.assertEqual(dispatcher_stot(tmp), {"w2": 1, "w3": 1})

    def session_from(self, port, ctx):
        with tls_connect(port, "site.test", context=ctx) as s:
            self.assertEqual(tls_round_trip(s), b"ping")  # the TLS 1.3 tickets came first
            return s.session

    def resumes_on(self, port, ctx, session):
        with tls_connect(port, "site.test", context=ctx, session=session) as s:
            self.assertEqual(tls_round_trip(s), b"ping")
            return s.session_reused

    def test_instances_sharing_a_keys_file(self):
        """A session from instance A resumes on B with the same file (and on A itself), not on
        C with other keys; a file holding A's sealing key (the penultimate) opens it, one
        holding only A's other two keys does not; 48-byte keys work too."""
        k = [new_ticket_key() for _ in range(6)]
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            files = {
                "a": write_ticket_keys(os.path.join(tmp, "a.keys"), k[0:3]),
                "same": os.path.join(tmp, "a.keys"),
                "other": write_ticket_keys(os.path.join(tmp, "o.keys"), k[3:6]),
                "sealer": write_ticket_keys(os.path.join(tmp, "s.keys"), [k[4], k[1], k[5]]),
                "not-sealer": write_ticket_keys(os.path.join(tmp, "n.keys"),
                                                [k[0], k[2], k[5]]),
                "four": write_ticket_keys(os.path.join(tmp, "f.keys"),
                                          [k[4], k[5], k[1], k[3]]),
                "short": write_ticket_keys(os.path.join(tmp, "48.keys"),
                                           [new_ticket_key(48) for _ in range(3)]),
            }

            def instance(name):
                return Tierlb(one_tier(backend.port, "ssl crt %s" % PEM["site"],
                                       global_extra="tls-ticket-keys " + files[name]))

            for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
                ctx = client_context(minimum=version, maximum=version)
                with instance("a") as a:
                    session = self.session_from(a.port("tls"), ctx)
                    self.assertTrue(self.resumes_on(a.port("tls"), ctx, session))
                expected = {"same": True, "other": False, "sealer": True, "not-sealer": False,
                            "four": True}
                for name, resumes in expected.items():
                    with instance(name) as lb, self.subTest(version=version, keys=name):
                        self.assertEqual(self.resumes_on(lb.port("tls"), ctx, session),
                                         resumes)
                with instance("short") as lb:
                    s48 = self.session_from(lb.port("tls"), ctx)
                    self.assertTrue(self.resumes_on(lb.port("tls"), ctx, s48))

    def test_separate_instances_without_a_keys_file_do_not_share(self):
        """Without tls-ticket-keys each tierlb has keys of its own."""
        with EchoBackend() as backend:
            ctx = client_context()
            with Tierlb(one_tier(backend.port, "ssl crt %s" % PEM["site"])) as a:
                session = self.session_from(a.port("tls"), ctx)
                self.assertTrue(self.resumes_on(a.port("tls"), ctx, session))
            with Tierlb(one_tier(backend.port, "ssl crt %s" % PEM["site"])) as b:
                self.assertFalse(self.resumes_on(b.port("tls"), ctx, session))


# --- 5. versions, tickets off, TLS counters ------------------------------------------------

class Versions(unittest.TestCase):
    """no-tls-tickets, ssl-min-ver and ssl-max-ver on the worker binds (refused handshakes
    are logged and counted), ciphers and the ssl-default-bind-* globals, and HAProxy's TLS
    columns of show stat."""

    def topology(self, backend, tmp, options):
        config, _ = tls_two_tier(backend.port, tmp, "ssl crt %s %s" % (PEM["site"], options))
        return Tierlb(config)

    def test_no_tls_tickets_means_no_resumption(self):
        """A session from one connection does not resume on either worker, in TLS 1.3 and in
        TLS 1.2 (where no ticket is sent at all and the session id is not cached either)."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            with self.topology(backend, tmp, "no-tls-tickets") as lb:
                port = lb.port("dispatcher")
                for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
                    ctx = client_context(maximum=version)
                    with tls_connect(port, "site.test", context=ctx) as s:
                        # Any ticket would have come before the echo.
                        self.assertEqual(tls_round_trip(s), b"ping")
                        session = s.session
                    if version == ssl.TLSVersion.TLSv1_2:
                        self.assertFalse(session.has_ticket)
                    for _ in range(2):  # one per worker
                        with tls_connect(port, "site.test", context=ctx, session=session) as s:
                            self.assertEqual(tls_round_trip(s), b"ping")
                            self.assertFalse(s.session_reused, version)
                self.assertEqual(sorted(dispatcher_stot(tmp).values()), [3, 3])

    def test_min_ver_tls13_refuses_tls12(self):
        """s_client -tls1_2 fails, the worker logs HAProxy's line with OpenSSL's reason and
        counts it in ssl_failed_handshake (not in ereq, as HAProxy); a TLS 1.3 client is
        served."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            with self.topology(backend, tmp, "ssl-min-ver TLSv1.3") as lb:
                port = lb.port("dispatcher")
                refused = SClient(port, "-tls1_2")
                self.assertNotEqual(refused.returncode, 0, refused.output)
                self.assertNotIn("New, TLSv1.2", refused.output)
                lb.log.wait_for(r"^127\.0\.0\.1:\d+ \[\d\d/\w{3}/\d{4}:[\d:.]+\] worker/[12]: "
                                r"SSL handshake failure \(unsupported protocol\)$")
                wait_until(lambda: worker_counter(tmp, "ssl_failed_handshake") == 1,
                           message="ssl_failed_handshake == 1")
                ok = SClient(port, "-tls1_3")
                self.assertIn("New, TLSv1.3", ok.output)
                self.assertEqual(worker_counter(tmp, "ssl_failed_handshake"), 1)
                self.assertEqual(worker_counter(tmp, "ereq"), 0)

    def test_max_ver_tls12_gives_tls12(self):
        """s_client and Python get TLS 1.2 (ECDSA cipher); a TLS 1.3-only client is refused."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            with self.topology(backend, tmp, "ssl-max-ver TLSv1.2") as lb:
                port = lb.port("dispatcher")
                out = SClient(port).output
                self.assertIn("New, TLSv1.2, Cipher is ECDHE-ECDSA-", out)
                with tls_connect(port, "site.test") as s:
                    self.assertEqual(s.version(), "TLSv1.2")
                    self.assertEqual(tls_round_trip(s), b"ping")
                refused = SClient(port, "-tls1_3")
                self.assertNotEqual(refused.returncode, 0, refused.output)

    def negotiated(self, options, global_extra="", **client):
        """(version, cipher) a Python client gets from a one-process bind with OPTIONS."""
        with EchoBackend() as backend:
            config = one_tier(backend.port, "ssl crt %s %s" % (PEM["site"], options),
                              global_extra=global_extra)
            with Tierlb(config) as lb:
                ctx = client_context(maximum=client.get("maximum"))
                if client.get("ciphers"):
                    ctx.set_ciphers(client["ciphers"])
                with tls_connect(lb.port("tls"), "site.test", context=ctx) as s:
                    self.assertEqual(tls_round_trip(s), b"ping")
                    return s.version(), s.cipher()[0]

    def test_ssl_default_bind_globals(self):
        """ssl-default-bind-ciphersuites / -ciphers / -options apply to every bind."""
        self.assertEqual(self.negotiated("", "ssl-default-bind-ciphersuites "
                                         "TLS_CHACHA20_POLY1305_SHA256"),
                         ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"))
        self.assertEqual(self.negotiated("", "ssl-default-bind-ciphers "
                                         "ECDHE-ECDSA-CHACHA20-POLY1305\n"
                                         "ssl-default-bind-options ssl-max-ver TLSv1.2"),
                         ("TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"))
        with self.assertRaises(ssl.SSLError):
            self.negotiated("", "ssl-default-bind-options ssl-min-ver TLSv1.3",
                            maximum=ssl.TLSVersion.TLSv1_2)

    def test_bind_ciphers_and_preference(self):
        """The bind's `ciphers` wins over the global; the server's order wins unless
        prefer-client-ciphers."""
        server = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"
        client = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384"
        tls12 = ssl.TLSVersion.TLSv1_2
        self.assertEqual(self.negotiated("ciphers " + server, "ssl-default-bind-ciphers "
                                         "ECDHE-ECDSA-AES128-GCM-SHA256", maximum=tls12,
                                         ciphers=client)[1], "ECDHE-ECDSA-AES256-GCM-SHA384")
        self.assertEqual(self.negotiated("ciphers %s prefer-client-ciphers" % server,
                                         maximum=tls12, ciphers=client)[1],
                         "ECDHE-ECDSA-CHACHA20-POLY1305")
        self.assertEqual(self.negotiated("ciphersuites TLS_AES_128_GCM_SHA256"),
                         ("TLSv1.3", "TLS_AES_128_GCM_SHA256"))

    def test_ssl_counters_in_show_stat(self):
        """HAProxy 2.6's ssl_sess, ssl_reused_sess and ssl_failed_handshake columns of the
        worker FRONTEND count handshakes, resumed ones and failed ones."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            with self.topology(backend, tmp, "ssl-min-ver TLSv1.3") as lb:
                port = lb.port("dispatcher")
                ctx = client_context()
                with tls_connect(port, "site.test", context=ctx) as s:
                    self.assertEqual(tls_round_trip(s), b"ping")
                    session = s.session
                with tls_connect(port, "site.test", context=ctx, session=session) as s:
                    self.assertTrue(s.session_reused)
                SClient(port, "-tls1_2")
                wait_until(lambda: worker_counter(tmp, "ssl_failed_handshake") == 1,
                           message="ssl_failed_handshake == 1")
                self.assertEqual(worker_counter(tmp, "ssl_sess"), 2)
                self.assertEqual(worker_counter(tmp, "ssl_reused_sess"), 1)
                self.assertEqual(worker_counter(tmp, "ssl_failed_handshake"), 1)


# --- 6. send-proxy-v2-ssl -------------------------------------------------------------------

ALL_SSL_DETAILS = "proxy-v2-options ssl-cipher,cert-sig,cert-key,authority"


def ssl_subs(header):
    return dict(header["ssl_subs"])


class SendProxyV2Ssl(unittest.TestCase):
    """`server app ... send-proxy-v2-ssl` on the worker: the backend reads a v2 header with
    the client's address and port (through both tiers), ALPN and the SSL TLV; with
    `proxy-v2-options` also AUTHORITY (the SNI) and the SSL TLV's details, in HAProxy's order,
    with the values HAProxy 2.6 gives for the same connection and the same options."""

    def test_header_through_both_tiers(self):
        """Client 127.0.0.1:port -> dispatcher -> TLS worker -> backend: the header's
        source is the client's socket, its destination the dispatcher's port."""
        with ProxyV2Backend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, _ = tls_two_tier(backend.port, tmp, "ssl crt %s alpn h2,http/1.1" %
                                     PEM["a"])
            config = config.replace("server app 127.0.0.1:%d" % backend.port,
                                    "server app 127.0.0.1:%d send-proxy-v2-ssl %s" %
                                    (backend.port, ALL_SSL_DETAILS))
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                with tls_connect(port, "alias.a.test",
                                 context=client_context(alpn=["h2"])) as s:
                    client_port = s.getsockname()[1]
                    self.assertEqual(tls_round_trip(s, b"v2"), b"v2")
                    cipher = s.cipher()[0]
                self.assertEqual(backend.errors, [])
                h = backend.headers[0]
                self.assertEqual((h["command"], h["family"], h["transport"]), (1, 1, 1))
                self.assertEqual((h["src"], h["sport"]), ("127.0.0.1", client_port))
                self.assertEqual((h["dst"], h["dport"]), ("127.0.0.1", port))
                self.assertEqual([t for t, _ in h["tlvs"]],
                                 [PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_SSL])
                tlvs = dict(h["tlvs"])
                self.assertEqual(tlvs[PP2_TYPE_ALPN], b"h2")
                self.assertEqual(tlvs[PP2_TYPE_AUTHORITY], b"alias.a.test")
                self.assertEqual(h["ssl_client"], 0x01)
                self.assertEqual(h["ssl_verify"], 0)
                subs = ssl_subs(h)
                self.assertEqual(subs[PP2_SUBTYPE_SSL_VERSION], b"TLSv1.3")
                self.assertEqual(subs[PP2_SUBTYPE_SSL_CIPHER], cipher.encode())
                # HAProxy: the certificate's signature algorithm and "EC<bits>" / "RSA<bits>".
                self.assertEqual(subs[PP2_SUBTYPE_SSL_SIG_ALG], b"ecdsa-with-SHA256")
                self.assertEqual(subs[PP2_SUBTYPE_SSL_KEY_ALG], b"EC256")

    def test_plain_send_proxy_v2_ssl_sends_only_the_version(self):
        """send-proxy-v2-ssl alone: ALPN and the SSL TLV with VERSION; no AUTHORITY, cipher
        or algorithms (HAProxy sends those only when proxy-v2-options asks)."""
        with ProxyV2Backend() as backend:
            config = one_tier(backend.port, "ssl crt %s alpn h2" % PEM["a"],
                              server_options="send-proxy-v2-ssl")
            with Tierlb(config) as lb:
                with tls_connect(lb.port("tls"), "a.test",
                                 context=client_context(alpn=["h2"])) as s:
                    self.assertEqual(tls_round_trip(s), b"ping")
                h = backend.headers[0]
                self.assertEqual([t for t, _ in h["tlvs"]], [PP2_TYPE_ALPN, PP2_TYPE_SSL])
                self.assertEqual([t for t, _ in h["ssl_subs"]], [PP2_SUBTYPE_SSL_VERSION])

    def test_no_sni_no_alpn(self):
        """Without SNI and ALPN the header carries neither TLV, only SSL."""
        with ProxyV2Backend() as backend:
            config = one_tier(backend.port, "ssl crt %s alpn h2" % PEM["a"],
                              server_options="send-proxy-v2-ssl")
            with Tierlb(config) as lb:
                with tls_connect(lb.port("tls"), None) as s:
                    self.assertEqual(tls_round_trip(s), b"ping")
                h = backend.headers[0]
                self.assertEqual([t for t, _ in h["tlvs"]], [PP2_TYPE_SSL])

    def test_values_match_haproxy(self):
        """The same certificate and client through HAProxy 2.6 and through tierlb, with
        send-proxy-v2-ssl alone and with proxy-v2-options ssl-cipher,cert-sig,cert-key,
        authority: the same TLVs, for TLS 1.3 with an EC key and TLS 1.2 with an RSA key."""
        tmp = tempfile.mkdtemp()
        rsa = os.path.join(tmp, "rsa.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "2", "-keyout", rsa + ".key", "-out", rsa, "-subj", "/CN=rsa.test"],
                       check=True, capture_output=True, timeout=30)
        cases = [(pem, name, maximum, options)
                 for pem, name, maximum in ((PEM["a"], "a.test", None),
                                            (rsa, "rsa.test", ssl.TLSVersion.TLSv1_2))
                 for options in ("", ALL_SSL_DETAILS)]
        try:
            with ProxyV2Backend() as backend:
                for pem, name, maximum, options in cases:
                    ctx = client_context(alpn=["http/1.1"], maximum=maximum)
                    haproxy_port = free_port()
                    haproxy = HAProxy("""
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
listen tls
    bind 127.0.0.1:%d ssl crt %s alpn h2,http/1.1
    server app 127.0.0.1:%d send-proxy-v2-ssl %s
""" % (haproxy_port, pem, backend.port, options))
                    with haproxy:
                        s = wait_until(lambda: self.try_connect(haproxy_port, name, ctx),
                                       timeout=5, message="HAProxy to listen")
                        with s:
                            self.assertEqual(tls_round_trip(s), b"ping")
                    theirs = backend.headers[-1]
                    config = one_tier(backend.port, "ssl crt %s alpn h2,http/1.1" % pem,
                                      server_options="send-proxy-v2-ssl " + options)
                    with Tierlb(config) as lb:
                        with tls_connect(lb.port("tls"), name, context=ctx) as s:
                            self.assertEqual(tls_round_trip(s), b"ping")
                    ours = backend.headers[-1]
                    with self.subTest(certificate=name, options=options):
                        self.assertEqual([t for t, _ in ours["tlvs"]],
                                         [t for t, _ in theirs["tlvs"]])
                        self.assertEqual(ours["tlvs"][:2], theirs["tlvs"][:2])
                        self.assertEqual(ours["ssl_client"], theirs["ssl_client"])
                        self.assertEqual(ours["ssl_verify"], theirs["ssl_verify"])
                        self.assertEqual(ours["ssl_subs"], theirs["ssl_subs"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def try_connect(port, name, ctx):
        try:
            return tls_connect(port, name, context=ctx)
        except OSError:
            return None


# --- 7. HAProxy as the dispatcher ----------------------------------------------------------

class HAProxyDispatcher(unittest.TestCase):
    """HAProxy 2.6 as the plain-TCP dispatcher over abns@ in front of tierlb's TLS workers:
    its checks (PROXY v1 UNKNOWN, v2 LOCAL, and a TLS handshake with check-ssl) mark both
    workers UP, TLS traffic flows through, and the backend sees the client's address through
    both tiers."""

    def run_with(self, server_options):
        with EchoBackend(read_proxy=True) as backend, tempfile.TemporaryDirectory() as tmp:
            names = [unique("hw2"), unique("hw3")]
            worker = """
global
    log stderr format raw local0 info
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
listen worker
    bind abns@%s process 2 accept-proxy ssl crt %s
    bind abns@%s process 3 accept-proxy ssl crt %s
    server app 127.0.0.1:%d send-proxy
""" % (names[0], PEM["site"], names[1], PEM["site"], backend.port)
            with Tierlb(worker) as lb:
                stats = os.path.join(tmp, "haproxy.sock")
                port = free_port()
                dispatcher = """
global
    stats socket %s level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
listen dispatcher
    bind 127.0.0.1:%d
    balance leastconn
    server w2 abns@%s %s check inter 100ms
    server w3 abns@%s %s check inter 100ms
""" % (stats, port, names[0], server_options, names[1], server_options)
                with HAProxy(dispatcher):
                    wait_until(lambda: os.path.exists(stats), message="HAProxy's stats socket")

                    def rows():
                        found = {r["svname"]: r for r in show_stat(stats)
                                 if r["pxname"] == "dispatcher"}
                        # HAProxy writes "* " before the status of a check in progress (one
                        # every 100 ms here): the last result is what follows.
                        for row in found.values():
                            row["check_status"] = row["check_status"].removeprefix("* ")
                        return found

                    # HAProxy starts servers UP: wait for checks that passed, not for UP.
                    passed = "L6OK" if "check-ssl" in server_options else "L4OK"
                    wait_until(lambda: all(rows()[s]["check_status"] == passed and
                                           rows()[s]["status"] == "UP" for s in ("w2", "w3")),
                               timeout=5, message="HAProxy's checks to pass (%s)" % passed)
                    clients = []
                    for i in range(4):
                        s = tls_connect(port, "site.test")
                        self.assertEqual(tls_round_trip(s, b"hello %d" % i), b"hello %d" % i,
                                         "\n".join(m.string for m in
                                                   lb.log.find_all(r"killed by signal")))
                        clients.append(s)
                    now = rows()
                    self.assertEqual((now["w2"]["scur"], now["w3"]["scur"]), ("2", "2"))
                    self.assertEqual((now["w2"]["status"], now["w3"]["status"]), ("UP", "UP"))
                    for s in clients:
                        client_port = s.getsockname()[1]
                        line = "PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n" % (client_port, port)
                        wait_until(lambda: line in backend.proxy_lines,
                                   message="the client's address at the backend: %r" % line)
                        s.close()
                        lb.log.wait_for(r"^127\.0\.0\.1:%d \[.*\] worker~ worker/app " %
                                        client_port)
                    # HAProxy's checks (every 100 ms) harmed no worker and never failed.
                    self.assertEqual(lb.log.find_all(r"killed by signal"), [])
                    for server, row in rows().items():
                        if server in ("w2", "w3"):
                            self.assertEqual((row["status"], row["check_status"],
                                              row["chkfail"]), ("UP", passed, "0"), server)

    def test_send_proxy_with_check(self):
        """PROXY v1 (UNKNOWN on the checks)."""
        self.run_with("send-proxy")

    def test_send_proxy_v2_with_check(self):
        """PROXY v2 (LOCAL on the checks)."""
        self.run_with("send-proxy-v2")

    def test_send_proxy_with_check_ssl(self):
        """The checks complete a TLS handshake after the PROXY line (L6OK)."""
        self.run_with("send-proxy check-ssl verify none")


# --- 8. hostile input ----------------------------------------------------------------------

def client_hello():
    """The bytes of a real TLS ClientHello (from Python's ssl, over memory BIOs)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context().wrap_bio(incoming, outgoing, server_hostname="site.test")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class HostileInput(unittest.TestCase):
    """Broken clients on the TLS workers, each while a well-behaved TLS client is served:
    each broken connection is closed, logged with HAProxy's message (and our reason), and
    counted in the worker FRONTEND's ssl_failed_handshake (HAProxy's counter; like HAProxy,
    not in ereq). PROXY-level abuse goes straight to a worker's
    abns@ socket (its bind has `name tls3`, so it logs as worker/tls3)."""

    HS_TIMEOUT = 0.5

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.backend = EchoBackend()
        self.addCleanup(self.backend.close)
        config, self.names = tls_two_tier(self.backend.port, self.tmp,
                                          "ssl crt %s" % PEM["site"], bind_names=("", "tls3"),
                                          defaults_extra="timeout client-hs %dms" %
                                          int(self.HS_TIMEOUT * 1000))
        self.lb = started(self, config)
        self.port = self.lb.port("dispatcher")
        self.workers = (self.lb.pid_of(2), self.lb.pid_of(3))
        self.good = tls_connect(self.port, "site.test")
        self.addCleanup(self.good.close)
        self.assertEqual(tls_round_trip(self.good, b"before"), b"before")
        self.failed = worker_counter(self.tmp, "ssl_failed_handshake")
        self.ereq = worker_counter(self.tmp, "ereq")
        self.log_start = self.lb.log.count()

    def assertStillServed(self):
        """No worker died, the good client's connection still works, so does a new one."""
        self.assertEqual([m.string for m in self.lb.log.find_all(r"killed by signal")], [])
        self.assertEqual((self.lb.pid_of(2), self.lb.pid_of(3)), self.workers)
        self.assertEqual(tls_round_trip(self.good, b"still"), b"still")
        with tls_connect(self.port, "site.test") as s:
            self.assertEqual(tls_round_trip(s, b"fresh"), b"fresh")

    def assertLoggedAndCounted(self, pattern, counter="ssl_failed_handshake"):
        """PATTERN logged, COUNTER grown by one: ssl_failed_handshake for TLS failures, ereq
        for PROXY header errors (a counter HAProxy lacks for them; ours, so that every
        refused connection is counted somewhere)."""
        self.lb.log.wait_for(pattern, timeout=5, start=self.log_start)
        before = self.failed if counter == "ssl_failed_handshake" else self.ereq
        wait_until(lambda: worker_counter(self.tmp, counter) == before + 1,
                   timeout=5, message="%s to grow by one" % counter)

    def via_dispatcher(self, payload, stall=False):
        """Sends PAYLOAD through the dispatcher; returns (the client port, seconds until the
        worker closed). With STALL, the good client is exercised while this one waits."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        with s:
            client_port = s.getsockname()[1]
            started = time.monotonic()
            if payload:
                s.sendall(payload)
            if stall:
                self.assertEqual(tls_round_trip(self.good, b"during"), b"during")
            wait_closed(s, timeout=5)
            return client_port, time.monotonic() - started

    def line(self, client_port, message):
        return (r"^127\.0\.0\.1:%d \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] worker/(1|tls3): %s"
                % (client_port, message))

    def test_tls_garbage(self):
        """A record header with a bad version: `SSL handshake failure (wrong version number)`."""
        client_port, _ = self.via_dispatcher(b"\x16\x09\x09\x00\x05hello, not TLS at all")
        self.assertLoggedAndCounted(self.line(client_port,
                                              r"SSL handshake failure \(wrong version number\)$"))
        self.assertStillServed()

    def test_plain_http_request(self):
        """Plain HTTP on the TLS port: `SSL handshake failure (http request)`."""
        client_port, _ = self.via_dispatcher(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertLoggedAndCounted(self.line(client_port,
                                              r"SSL handshake failure \(http request\)$"))
        self.assertStillServed()

    def test_silent_client_times_out(self):
        """Connects, sends nothing: closed at timeout client-hs, `Timeout during SSL handshake`."""
        client_port, took = self.via_dispatcher(b"", stall=True)
        self.assertGreater(took, self.HS_TIMEOUT - 0.1)
        self.assertLess(took, self.HS_TIMEOUT + 1.5)
        self.assertLoggedAndCounted(self.line(client_port, r"Timeout during SSL handshake$"))
        self.assertStillServed()

    def test_half_client_hello_times_out(self):
        """Half a ClientHello, then nothing: the same timeout."""
        hello = client_hello()
        client_port, took = self.via_dispatcher(hello[:len(hello) // 2], stall=True)
        self.assertGreater(took, self.HS_TIMEOUT - 0.1)
        self.assertLoggedAndCounted(self.line(client_port, r"Timeout during SSL handshake$"))
        self.assertStillServed()

    def test_client_closing_mid_handshake(self):
        """20 bytes of a ClientHello, then the client ends its side: HAProxy 2.6 logs
        `Connection closed during SSL handshake` (checked), not a handshake failure."""
        hello = client_hello()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            client_port = s.getsockname()[1]
            s.sendall(hello[:20])
            s.shutdown(socket.SHUT_WR)
            wait_closed(s)
        self.assertLoggedAndCounted(self.line(client_port,
                                              r"Connection closed during SSL handshake"))
        self.assertStillServed()

    def test_clients_gone_mid_handshake_kill_no_worker(self):
        """A client that sends its ClientHello and is gone at once (the worker's answer meets
        a closed socket), and a peer on the abns@ socket that sends a PROXY header and closes
        (as an HAProxy health check does): the worker must not die of SIGPIPE."""
        hello = client_hello()
        for _ in range(4):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(hello)
                for name in self.names:
                    with abns_connect(name) as s:
                        s.sendall(b"PROXY UNKNOWN\r\n")
            except OSError:
                pass  # a worker that died refused or reset: assertStillServed says which
        # Each abns@ peer is a handshake cut short, counted as such.
        def counted_or_dead():
            if self.lb.log.find_all(r"killed by signal"):
                return True
            try:
                return worker_counter(self.tmp, "ssl_failed_handshake") >= self.failed + 8
            except OSError:  # the stats socket of a dying worker
                return False

        wait_until(counted_or_dead, timeout=5, message="the eight abns@ connections counted")
        self.assertStillServed()

    def test_client_reset_during_transfer_kills_no_worker(self):
        """Six clients that send 2 MB to the echo backend and reset without reading the answer:
        the worker writing to a connection that is gone must not die of SIGPIPE."""
        for _ in range(6):
            try:
                s = tls_connect(self.port, "site.test")
            except OSError:
                break  # a worker died: assertStillServed says so
            try:
                s.sendall(b"x" * 2000000)
            except OSError:
                pass
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        wait_until(lambda: self.lb.log.find_all(r"killed by signal") or
                   len(self.lb.log.find_all(r" worker~ worker/app ")) >= 6, timeout=5,
                   message="the six connections to end")
        self.assertStillServed()

    def test_handshake_timeout_defaults_to_timeout_client(self):
        """Without timeout client-hs, `timeout client` bounds the handshake."""
        with EchoBackend() as backend:
            config = one_tier(backend.port, "ssl crt %s" % PEM["site"],
                              defaults_extra="timeout client 400ms")
            with Tierlb(config) as lb:
                with socket.create_connection(("127.0.0.1", lb.port("tls")), timeout=5) as s:
                    started = time.monotonic()
                    client_port = s.getsockname()[1]
                    wait_closed(s)
                    took = time.monotonic() - started
                self.assertGreater(took, 0.3)
                self.assertLess(took, 2.0)
                lb.log.wait_for(r"^127\.0\.0\.1:%d \[.*\] tls/1: Timeout during SSL handshake$"
                                % client_port)

    def direct(self, payload, shut=False, stall=False):
        """PAYLOAD straight to the second worker's abns@ socket (no dispatcher)."""
        s = abns_connect(self.names[1])
        with s:
            if payload:
                s.sendall(payload)
            if shut:
                s.shutdown(socket.SHUT_WR)
            if stall:
                self.assertEqual(tls_round_trip(self.good, b"during"), b"during")
            wait_closed(s)

    def direct_line(self, message):
        return r"\] worker/tls3: %s" % message

    def test_truncated_proxy_header(self):
        """Part of a v1 line, then the peer ends its side."""
        self.direct(b"PROXY TCP4 192.0.2.1 19", shut=True)
        self.assertLoggedAndCounted(self.direct_line(
            r"Truncated PROXY protocol header received"), "ereq")
        self.assertStillServed()

    def test_proxy_header_timeout(self):
        """Part of a v2 header, then nothing: closed at timeout client-hs."""
        self.direct(V2_SIGNATURE + b"\x21", stall=True)
        self.assertLoggedAndCounted(self.direct_line(
            r"Timeout while waiting for PROXY protocol header$"), "ereq")
        self.assertStillServed()

    def test_malformed_proxy_header(self):
        """A v1 line with port 99999."""
        self.direct(b"PROXY TCP4 192.0.2.1 192.0.2.2 99999 443\r\n")
        self.assertLoggedAndCounted(self.direct_line(
            r"Received an invalid PROXY protocol header \(.+\)$"), "ereq")
        self.assertStillServed()

    def test_not_a_proxy_header(self):
        """A TLS record where the PROXY header should be (a client skipping the dispatcher)."""
        self.direct(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 a ClientHello, no PROXY")
        self.assertLoggedAndCounted(self.direct_line(
            r"Received something which does not look like a PROXY protocol header$"), "ereq")
        self.assertStillServed()

    def test_oversized_proxy_v2_header(self):
        """A v2 header declaring 5000 bytes (more than 4096) is refused at once."""
        header = V2_SIGNATURE + b"\x21\x11" + (5000).to_bytes(2, "big")
        self.direct(header + bytes(12) + b"\x04" + (4985).to_bytes(2, "big"))
        self.assertLoggedAndCounted(self.direct_line(
            r"Received an invalid PROXY protocol header \(.+\)$"), "ereq")
        self.assertStillServed()

    def test_proxy_then_tls_garbage_over_abns(self):
        """A good PROXY header then garbage: the header's address is the one logged."""
        self.direct(b"PROXY TCP4 198.51.100.9 192.0.2.2 4711 443\r\n\x16\x09\x09\x00\x01x")
        self.assertLoggedAndCounted(r"^198\.51\.100\.9:4711 \[.*\] worker/tls3: "
                                    r"SSL handshake failure \(wrong version number\)$")
        self.assertStillServed()


# --- 9. certificate errors -----------------------------------------------------------------

class CertificateErrors(unittest.TestCase):
    """A certificate that cannot be loaded: `tierlb -c` prints FILE:LINE and exits 1;
    `tierlb -f` exits 2 with HAProxy's ALERT naming the proxy, the bind, FILE:LINE and cause.
    A certificate with its key in FILE.key, crt-base, and a crt-list are loaded."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def config(self, crt_options, global_extra=""):
        text = one_tier(1, crt_options, global_extra=global_extra)
        path = os.path.join(self.tmp, "bad.cfg")
        with open(path, "w") as f:
            f.write(text)
        line = text.splitlines().index("    bind 127.0.0.1:0 " + crt_options) + 1
        return path, line

    def assertRefused(self, crt_options, cause, global_extra=""):
        path, line = self.config(crt_options, global_extra)
        code, _, err = run_tierlb(["-c", "-f", path])
        self.assertEqual(code, 1, err)
        self.assertRegex(err, r"(?m)^%s:%d: bind '127\.0\.0\.1:0': %s" %
                         (re.escape(path), line, cause))
        lb = Tierlb(read_text(path), wait_ready=False).start()
        try:
            self.assertEqual(lb.process.wait(10), 2)
            lb.log.wait_for(r"\[ALERT\] .* proxy 'tls', bind '127\.0\.0\.1:0' \(%s:%d\): %s" %
                            (re.escape(lb.config_path), line, cause))
        finally:
            lb.stop()

    def test_missing_file(self):
        """crt naming no file."""
        missing = os.path.join(self.tmp, "missing.pem")
        self.assertRefused("ssl crt " + missing, r"cannot load certificate '%s': "
                           r"No such file or directory" % re.escape(missing))

    def test_not_a_certificate(self):
        """crt naming a text file."""
        junk = os.path.join(self.tmp, "junk.pem")
        with open(junk, "w") as f:
            f.write("this is not a certificate\n")
        self.assertRefused("ssl crt " + junk, r"cannot load certificate '%s': \S" %
                           re.escape(junk))

    def test_certificate_without_key(self):
        """A certificate alone, no key in it and no FILE.key beside it."""
        cert_only = os.path.join(self.tmp, "nokey.pem")
        with open(PEM["site"]) as f:
            text = f.read()
        with open(cert_only, "w") as f:
            f.write(text[:text.index("-----BEGIN PRIVATE KEY")])
        self.assertRefused("ssl crt " + cert_only, r"cannot load .*'%s'.*: \S" %
                           re.escape(cert_only))

    def test_key_of_another_certificate(self):
        """A certificate followed by the key of another one."""
        mixed = os.path.join(self.tmp, "mixed.pem")
        with open(PEM["site"]) as f:
            site = f.read()
        with open(PEM["a"]) as f:
            other = f.read()
        with open(mixed, "w") as f:
            f.write(site[:site.index("-----BEGIN PRIVATE KEY")] +
                    other[other.index("-----BEGIN PRIVATE KEY"):])
        self.assertRefused("ssl crt " + mixed, r"cannot load .*'%s'.*: \S" % re.escape(mixed))

    def test_crt_list_naming_a_missing_certificate(self):
        """The bind's FILE:LINE, then the crt-list's line."""
        crt_list = os.path.join(self.tmp, "bad.list")
        with open(crt_list, "w") as f:
            f.write("# first line\nabsent.pem some.test\n")
        path, line = self.config("ssl crt-list " + crt_list)
        code, _, err = run_tierlb(["-c", "-f", path])
        self.assertEqual(code, 1, err)
        self.assertRegex(err, r"(?m)^%s:%d: bind '127\.0\.0\.1:0': crt-list '.*bad\.list' "
                         r"line 2: cannot load certificate '.*absent\.pem': No such file" %
                         (re.escape(path), line))

    def test_bad_ticket_keys_files(self):
        """Two keys only (at least three are needed), or a key of the wrong size, is refused
        with the FILE:LINE of tls-ticket-keys."""
        two = write_ticket_keys(os.path.join(self.tmp, "two.keys"),
                                [new_ticket_key(), new_ticket_key()])
        odd = write_ticket_keys(os.path.join(self.tmp, "odd.keys"),
                                [new_ticket_key(), new_ticket_key(), new_ticket_key(33)])
        for keys in (two, odd):
            path, _ = self.config("ssl crt " + PEM["site"], "tls-ticket-keys " + keys)
            line = read_text(path).splitlines().index("    tls-ticket-keys " + keys) + 1
            code, _, err = run_tierlb(["-c", "-f", path])
            self.assertEqual(code, 1, err)
            self.assertRegex(err, r"(?m)^%s:%d: .*%s" % (re.escape(path), line,
                                                         re.escape(os.path.basename(keys))))

    def test_loadable_forms_are_valid(self):
        """crt with the key beside it (FILE.key), crt-base with a relative crt, a crt DIR and a
        crt-list with paths relative to crt-base all check as valid."""
        for options, global_extra in (
                ("ssl crt " + PEM["d2"], ""),
                ("ssl crt a.pem", "crt-base " + CERTS),
                ("ssl crt " + os.path.join(CERTS, "dir"), ""),
                ("ssl crt-list " + os.path.join(CERTS, "list", "ok.list"),
                 "crt-base " + os.path.join(CERTS, "list"))):
            with open(os.path.join(CERTS, "list", "ok.list"), "w") as f:
                f.write("listed.pem [alpn h2] listed.test\nv13.pem\n")
            path, _ = self.config(options, global_extra)
            code, out, err = run_tierlb(["-c", "-f", path])
            self.assertEqual(code, 0, options + ": " + err)


if __name__ == "__main__":
    unittest.main()
