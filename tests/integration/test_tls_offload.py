"""Idle offload (tune.ssl.idle-offload): once a TLS 1.3 connection is idle, the worker frees
OpenSSL's state and reads and writes the records itself. End to end with real clients through
both tiers: openssl s_client with its key update commands (`k`, `K`), curl, Python's ssl with
a large echo, a session resumed on the other worker after an offloaded one, TLS 1.2 kept on
OpenSSL, and the keyword set to off. `show info` of each worker counts the connections taken
over (SslIdleOffloaded) and kept (SslIdleKept). About 5 s."""

import fcntl
import os
import shutil
import subprocess
import tempfile
import termios
import threading
import unittest

from harness import EchoBackend, Tierlb, stats_command, wait_until
from tls_support import (OPENSSL, HttpBackend, client_context, make_cert, tls_connect,
                         tls_round_trip)
from topology import two_tier

CERTS = None
PEM = None


def setUpModule():
    global CERTS, PEM
    CERTS = tempfile.mkdtemp(prefix="tierlb-offload-")
    PEM = make_cert(CERTS, "site", "site.test", ["site.test"])


def tearDownModule():
    shutil.rmtree(CERTS, ignore_errors=True)


def topology(backend_port, tmp, bind_options="", global_extra=""):
    """The seed topology, TLS on both workers, a stats socket per process (TMP/pN.sock)."""
    sockets = "\n".join("stats socket %s process %d level admin" % (os.path.join(tmp, "p%d.sock" % n), n)
                        for n in (1, 2, 3))
    config, _, names = two_tier(backend_port, workers=2,
                                global_extra=sockets + "\n" + global_extra)
    for i, name in enumerate(names):
        old = "bind abns@%s process %d accept-proxy" % (name, i + 2)
        config = config.replace(old, old + " ssl crt %s %s" % (PEM, bind_options))
    return config


def info(tmp, process):
    """PROCESS's `show info`, as a dict."""
    answer = stats_command(os.path.join(tmp, "p%d.sock" % process), "show info")
    return dict(line.split(": ", 1) for line in answer.splitlines() if ": " in line)


def counted(tmp, field):
    """FIELD of `show info` summed over both workers (0 before their first TLS connection)."""
    return sum(int(info(tmp, p).get(field, "0")) for p in (2, 3))


def set_state(tmp, server, state):
    stats_command(os.path.join(tmp, "p1.sock"), "set server dispatcher/%s state %s" %
                  (server, state))


class IdleOffload(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start(self, backend, **kwargs):
        lb = Tierlb(topology(backend.port, self.tmp, **kwargs))
        self.addCleanup(lb.stop)
        lb.start()
        return lb

    def test_s_client_key_updates(self):
        """s_client's `k` (KeyUpdate) and `K` (KeyUpdate, update_requested) on an offloaded
        connection: the echo goes on after each, and `K` brings the worker's own KeyUpdate."""
        backend = EchoBackend()
        self.addCleanup(backend.close)
        lb = self.start(backend)
        client = subprocess.Popen(
            [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % lb.port("dispatcher"), "-msg"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: client.poll() is None and (client.kill(), client.wait(5)))
        output = []  # s_client writes what it receives at once (its own lines at exit)
        reader = threading.Thread(target=lambda: output.extend(iter(
            lambda: os.read(client.stdout.fileno(), 65536), b"")), daemon=True)
        reader.start()

        def type_line(text):
            # One line per read of s_client's: a command letter counts only at the start.
            client.stdin.write(text)
            client.stdin.flush()
            wait_until(lambda: fcntl.ioctl(client.stdin.fileno(), termios.FIONREAD,
                                           b"\0\0\0\0") == b"\0\0\0\0",
                       message="s_client to read %r" % text)

        type_line(b"before\n")
        wait_until(lambda: b"before\n" in b"".join(output), message="the first echo")
        wait_until(lambda: counted(self.tmp, "SslIdleOffloaded") == 1,
                   message="the connection taken over")
        for command, line in ((b"k\n", b"after-k\n"), (b"K\n", b"after-K\n"),
                              (b"K\n", b"again\n")):
            type_line(command)
            type_line(line)
            wait_until(lambda: line in b"".join(output), message="the echo of %r" % line)
        client.stdin.close()
        client.wait(10)
        reader.join(10)
        text = b"".join(output).decode("utf-8", "replace")
        for line in ("before", "after-k", "after-K", "again"):
            self.assertIn("\n%s\n" % line, text)
        self.assertEqual(text.count("KEYUPDATE"), 3, text)
        # Ours, sent in answer to each `K`: s_client prints what it reads with "<<<".
        self.assertEqual(text.count("<<< TLS 1.3, Handshake [length 0005], KeyUpdate"), 2, text)
        self.assertEqual(counted(self.tmp, "SslIdleKept"), 0)

    def test_curl(self):
        """curl gets its page through a connection taken over once idle."""
        backend = HttpBackend()
        self.addCleanup(backend.close)
        lb = self.start(backend)
        p = subprocess.run(["curl", "-sk", "--http1.1", "--max-time", "5",
                            "https://127.0.0.1:%d/offload" % lb.port("dispatcher")],
                           capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode(), "hello from the backend, path /offload\n")
        wait_until(lambda: counted(self.tmp, "SslIdleOffloaded") == 1,
                   message="curl's connection taken over")

    def test_python_large_echo(self):
        """Python's ssl echoes 1 MB (many records each way) after the takeover."""
        backend = EchoBackend()
        self.addCleanup(backend.close)
        lb = self.start(backend)
        with tls_connect(lb.port("dispatcher"), context=client_context()) as s:
            self.assertEqual(s.version(), "TLSv1.3")
            wait_until(lambda: counted(self.tmp, "SslIdleOffloaded") == 1,
                       message="the idle connection taken over")
            payload = bytes(range(256)) * 4096
            self.assertEqual(tls_round_trip(s, payload), payload)

    def test_resumption_after_offload_on_the_other_worker(self):
        """A session whose first connection was taken over resumes on the other worker, and
        that one is taken over too."""
        backend = EchoBackend()
        self.addCleanup(backend.close)
        lb = self.start(backend)
        port = lb.port("dispatcher")
        ctx = client_context()
        with tls_connect(port, context=ctx) as s:
            wait_until(lambda: counted(self.tmp, "SslIdleOffloaded") == 1,
                       message="the first connection taken over")
            self.assertEqual(tls_round_trip(s, b"first"), b"first")
            session = s.session
        landed = 2 if int(info(self.tmp, 2).get("SslIdleOffloaded", "0")) == 1 else 3
        set_state(self.tmp, "w%d" % landed, "maint")
        with tls_connect(port, context=ctx, session=session) as s:
            self.assertTrue(s.session_reused)
            self.assertEqual(tls_round_trip(s, b"second"), b"second")
            other = 5 - landed
            wait_until(lambda: int(info(self.tmp, other).get("SslIdleOffloaded", "0")) == 1,
                       message="the resumed connection taken over")

    def test_tls12_is_kept_on_openssl(self):
        backend = EchoBackend()
        self.addCleanup(backend.close)
        lb = self.start(backend, bind_options="ssl-max-ver TLSv1.2")
        with tls_connect(lb.port("dispatcher"), context=client_context()) as s:
            self.assertEqual(s.version(), "TLSv1.2")
            self.assertEqual(tls_round_trip(s, b"twelve"), b"twelve")
            wait_until(lambda: counted(self.tmp, "SslIdleKept") == 1, message="kept, counted")
        self.assertEqual(counted(self.tmp, "SslIdleOffloaded"), 0)

    def test_off(self):
        backend = EchoBackend()
        self.addCleanup(backend.close)
        lb = self.start(backend, global_extra="tune.ssl.idle-offload off")
        with tls_connect(lb.port("dispatcher"), context=client_context()) as s:
            self.assertEqual(tls_round_trip(s, b"plain old OpenSSL"), b"plain old OpenSSL")
        self.assertEqual(counted(self.tmp, "SslIdleOffloaded"), 0)
        self.assertEqual(counted(self.tmp, "SslIdleKept"), 0)


if __name__ == "__main__":
    unittest.main()
