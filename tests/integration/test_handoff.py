"""Issue [6]: hand-off mode with real processes. The dispatcher passes each client socket to
a worker over a control connection (SCM_RIGHTS) and leaves the data path: exact leastconn on
the workers' reports, a dead worker DOWN at once, checks over the control connection, TLS in
the worker whichever way the socket came, and no foreign process able to hand anything."""

import os
import random
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest

from harness import (EchoBackend, Tierlb, echo_once, round_trip, server_sessions, show_stat,
                     unique, wait_until)
from tls_certs import self_signed
from topology import two_tier
from test_dispatcher import open_burst, spread


def handoff_two_tier(backend_port, tmp, workers=2, server_options="", worker_bind="",
                     worker_stats=False, mixed=False):
    """The seed topology in hand-off mode: `server wN abns@... handoff` and `bind abns@...
    accept-handoff WORKER_BIND`. With MIXED, the last worker stays in proxy mode
    (send-proxy / accept-proxy), so one backend balances both kinds on one count."""
    extra = ""
    if worker_stats:
        extra = "\n".join("stats socket %s process %d level admin" %
                          (os.path.join(tmp, "p%d.sock" % n), n)
                          for n in range(2, workers + 2))
    config, stats, names = two_tier(backend_port, workers=workers, stats_dir=tmp,
                                    send_proxy="handoff", server_options=server_options,
                                    global_extra=extra)
    for i, name in enumerate(names):
        proxy_mode = mixed and i == len(names) - 1
        old_server = "server w%d abns@%s handoff" % (i + 2, name)
        old_bind = "bind abns@%s process %d accept-proxy" % (name, i + 2)
        if proxy_mode:
            config = config.replace(old_server, "server w%d abns@%s send-proxy" % (i + 2, name))
        else:
            config = config.replace(old_bind, "bind abns@%s process %d accept-handoff %s" %
                                    (name, i + 2, worker_bind))
    return config, stats, names


def worker_frontend(tmp, process):
    for row in show_stat(os.path.join(tmp, "p%d.sock" % process)):
        if row["pxname"] == "worker" and row["svname"] == "FRONTEND":
            return row
    raise AssertionError("no worker FRONTEND in process %d" % process)


def socket_count(pid):
    """How many sockets the process holds open."""
    count = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def open_one(port, stats):
    """Connects one client; returns its socket and the server the dispatcher gave it to."""
    before = server_sessions(stats, "dispatcher")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    wait_until(lambda: sum(server_sessions(stats, "dispatcher").values()) ==
               sum(before.values()) + 1, message="the new connection counted")
    after = server_sessions(stats, "dispatcher")
    return s, next(name for name in after if after[name] == before.get(name, 0) + 1)


class Distribution(unittest.TestCase):
    def test_exact_leastconn_and_no_socket_left_in_the_dispatcher(self):
        """90 long-lived connections in bursts of 30, 40 closed at random, the gaps refilled
        one at a time: the workers' reports keep the counts exact, within one; the dispatcher
        holds none of the client sockets; data flows through the workers."""
        rng = random.Random(6)
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = handoff_two_tier(backend.port, tmp, workers=3,
                                                worker_stats=True)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                dispatcher = lb.pid_of(1)
                before = socket_count(dispatcher)
                socks = []
                for _ in range(3):
                    socks += open_burst(port, 30)  # each proven by an echo
                counts = server_sessions(stats, "dispatcher")
                self.assertEqual(sum(counts.values()), 90, counts)
                self.assertLessEqual(spread(counts), 1, counts)
                # The sockets live in the workers, as their own counts say.
                self.assertLessEqual(socket_count(dispatcher), before + 2)
                for n in (2, 3, 4):
                    self.assertEqual(int(worker_frontend(tmp, n)["scur"]),
                                     counts["w%d" % n])
                for s in rng.sample(socks, 40):
                    socks.remove(s)
                    s.close()
                wait_until(lambda: sum(server_sessions(stats, "dispatcher").values()) == 50,
                           message="the workers' close reports")
                for _ in range(40):
                    socks += open_burst(port, 1)
                counts = server_sessions(stats, "dispatcher")
                self.assertEqual(sum(counts.values()), 90, counts)
                self.assertLessEqual(spread(counts), 1, counts)
                for s in socks:
                    s.close()
                wait_until(lambda: sum(server_sessions(stats, "dispatcher").values()) == 0,
                           message="every close reported")

    def test_mixed_backend_balances_on_one_count(self):
        """One hand-off worker and one proxy-mode worker in one backend: 40 connections split
        20/20, whichever way each reaches its worker."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = handoff_two_tier(backend.port, tmp, workers=2, mixed=True)
            with Tierlb(config) as lb:
                socks = open_burst(lb.port("dispatcher"), 20) + open_burst(
                    lb.port("dispatcher"), 20)
                counts = server_sessions(stats, "dispatcher")
                self.assertEqual(counts, {"w2": 20, "w3": 20})
                for s in socks:
                    s.close()

    def test_the_dispatcher_logs_each_connection_at_its_end(self):
        """The worker's report gives the dispatcher what its tcplog line needs: the client's
        address and port, the bytes, the duration."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, _, _ = handoff_two_tier(backend.port, tmp, workers=1)
            with Tierlb(config) as lb:
                with socket.create_connection(("127.0.0.1", lb.port("dispatcher"))) as s:
                    client_port = s.getsockname()[1]
                    s.sendall(b"12345")
                    self.assertEqual(s.recv(10), b"12345")
                lb.log.wait_for(r"^127\.0\.0\.1:%d \[\d\d/\w{3}/\d{4}:[\d:.]+\] dispatcher "
                                r"dispatcher/w2 0/0/\d+ 5 -- " % client_port)
                lb.log.wait_for(r"^127\.0\.0\.1:%d \[.*\] worker worker/app \d+/\d+/\d+ 5 -- "
                                % client_port)


class WorkerLoss(unittest.TestCase):
    def test_a_killed_worker_is_down_at_once_and_its_count_released(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = handoff_two_tier(backend.port, tmp, workers=2)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                socks = open_burst(port, 10)
                self.assertEqual(server_sessions(stats, "dispatcher"), {"w2": 5, "w3": 5})
                victim = lb.pid_of(3)
                mark = lb.log.count()
                os.kill(victim, signal.SIGKILL)
                killed_at = time.monotonic()
                down_at = lb.log.arrival(r"Server dispatcher/w3 is DOWN", start=mark)
                print("\n    hand-off worker death to DOWN: %.1f ms" %
                      ((down_at - killed_at) * 1000))
                self.assertLess(down_at - killed_at, 1.0)
                wait_until(lambda: server_sessions(stats, "dispatcher")["w3"] == 0,
                           message="the dead worker's connections released")
                # New clients go to the live worker, and no one fails.
                for _ in range(20):
                    self.assertEqual(echo_once(port), b"ping")
                # Restarted, then UP again.
                lb.log.wait_for(r"Server dispatcher/w3 is UP", timeout=10, start=mark)
                for s in socks:
                    s.close()

    def test_sockets_a_dead_worker_never_acknowledged_are_lost_in_flight(self):
        """The worker acknowledges late (in its close reports, or after a short delay): a
        socket handed to it is in flight until then, and written off as lost if it dies."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = handoff_two_tier(backend.port, tmp, workers=2)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                opened = [open_one(port, stats) for _ in range(4)]
                on = {name: [s for s, server in opened if server == name]
                      for name in ("w2", "w3")}
                self.assertEqual((len(on["w2"]), len(on["w3"])), (2, 2))
                # The worker took its second socket (an echo went through it); the close
                # report of its first one says so.
                self.assertEqual(round_trip(on["w3"][1]), b"ping")
                on["w3"][0].close()
                wait_until(lambda: server_sessions(stats, "dispatcher")["w3"] == 1,
                           message="w3's close report")
                victim = lb.pid_of(3)
                os.kill(victim, signal.SIGSTOP)
                # Sockets handed to the stopped worker stay in flight: it cannot take them.
                late = []
                while len([1 for _, server in late if server == "w3"]) < 2:
                    late.append(open_one(port, stats))
                    self.assertLess(len(late), 8)
                mark = lb.log.count()
                os.kill(victim, signal.SIGKILL)
                lost = lb.log.wait_for(r"server dispatcher/w3: control connection .*",
                                       start=mark)
                self.assertIn("3 handed-off connections no longer counted, 2 of them lost in "
                              "flight", lost.group(0))
                for s in on["w2"] + on["w3"][1:] + [s for s, _ in late]:
                    s.close()

    def test_a_hung_worker_fails_its_checks_over_the_control_connection(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = handoff_two_tier(
                backend.port, tmp, workers=2,
                server_options="check inter 200ms rise 1 fall 2")
            with Tierlb(config) as lb:
                wait_until(lambda: {r["svname"]: r["check_status"] for r in show_stat(stats)
                                    if r["pxname"] == "dispatcher"}.get("w3") == "L7OK",
                           message="a first answered check")
                frozen = lb.pid_of(3)
                mark = lb.log.count()
                os.kill(frozen, signal.SIGSTOP)
                try:
                    lb.log.wait_for(r"Health check for server dispatcher/w3 failed, reason: "
                                    r"Layer7 timeout", timeout=5, start=mark)
                    lb.log.wait_for(r"Server dispatcher/w3 is DOWN", timeout=5, start=mark)
                    for _ in range(10):
                        self.assertEqual(echo_once(lb.port("dispatcher")), b"ping")
                    self.assertEqual(server_sessions(stats, "dispatcher")["w3"], 0)
                finally:
                    os.kill(frozen, signal.SIGCONT)
                lb.log.wait_for(r"Server dispatcher/w3 is UP", timeout=5, start=mark)


class Tls(unittest.TestCase):
    def test_tls_in_the_worker_with_the_sockets_own_addresses(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            pem = self_signed(tmp, "worker.test")
            config, stats, _ = handoff_two_tier(backend.port, tmp, workers=2,
                                                worker_bind="ssl crt %s" % pem)
            with Tierlb(config) as lb:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                ports = []
                for i in range(6):
                    raw = socket.create_connection(("127.0.0.1", lb.port("dispatcher")))
                    with ctx.wrap_socket(raw, server_hostname="worker.test") as s:
                        ports.append(s.getsockname()[1])
                        s.sendall(b"tls %d" % i)
                        self.assertEqual(s.recv(10), b"tls %d" % i)
                # The workers log the client's real address (the socket's own) over TLS.
                for p in ports:
                    lb.log.wait_for(r"^127\.0\.0\.1:%d \[.*\] worker~ worker/app " % p)
                wait_until(lambda: sum(server_sessions(stats, "dispatcher").values()) == 0,
                           message="the workers' close reports")


class Reload(unittest.TestCase):
    def test_after_a_reload_new_clients_go_to_the_new_workers(self):
        """Long-lived handed-off connections keep working on the previous workers through a
        reload; new clients are handed to the new workers (the previous ones close their
        control connections as they stop): frozen, the previous workers would hang them."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, _, _ = handoff_two_tier(backend.port, tmp, workers=2)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                long_lived = open_burst(port, 6)
                previous = [lb.pid_of(2), lb.pid_of(3)]
                previous_dispatcher = lb.pid_of(1)
                mark = lb.log.count()
                lb.process.send_signal(signal.SIGUSR2)
                lb.log.wait_for(r"master: reload done", start=mark)
                # Once the previous dispatcher no longer accepts, freeze the previous workers.
                lb.log.wait_for(r"\(%d\) : process 1 stop" % previous_dispatcher, start=mark)
                for pid in previous:
                    os.kill(pid, signal.SIGSTOP)
                try:
                    for _ in range(20):
                        self.assertEqual(echo_once(port, timeout=3), b"ping")
                finally:
                    for pid in previous:
                        os.kill(pid, signal.SIGCONT)
                for i, s in enumerate(long_lived):
                    s.sendall(b"still %d" % i)
                    self.assertEqual(s.recv(20), b"still %d" % i)
                    s.close()
                for pid in previous:
                    lb.log.wait_for(r"of the previous configuration \(pid %d\) exited" % pid,
                                    start=mark)


def hand_off_message(identifier):
    """A well-formed hand-off message (version 1, type 1), without addresses: the worker
    reads the socket's own."""
    body = struct.pack("<QIQ", identifier, 0, 0) + bytes(19) + bytes(19)
    return bytes([1, 1, len(body) & 0xff, len(body) >> 8]) + body


# Run as another user: NAME, ATTEMPTS, and the hand-off message to send (hex).
INTRUDER = r"""
import socket, struct, sys
name = sys.argv[1]
message = bytes.fromhex(sys.argv[3])
for attempt in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(b"\0" + name.encode().ljust(107, b"\0"))
    victim = socket.socket()
    try:
        s.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", victim.fileno()))])
        s.settimeout(5)
        print("answer", s.recv(64))
    except OSError as e:
        print("refused", e)
    s.close()
"""


class Security(unittest.TestCase):
    @unittest.skipUnless(os.geteuid() == 0, "needs root to run the intruder as another user")
    def test_a_foreign_user_cannot_hand_anything(self):
        """A process of another uid (nobody) connects to the worker's abns@ name and sends a
        well-formed hand-off, again and again: each refused (SO_PEERCRED) and counted in dcon,
        as HAProxy counts a `tcp-request connection reject` (not in ereq: nothing was read),
        logged once for the burst (one line per 10 s), nothing served."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, _, names = handoff_two_tier(backend.port, tmp, workers=1,
                                                worker_stats=True)
            with Tierlb(config) as lb:
                mark = lb.log.count()
                attempts = 12
                result = subprocess.run(
                    ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                     sys.executable, "-c", INTRUDER, names[0], str(attempts),
                     hand_off_message(1).hex()],
                    capture_output=True, text=True, timeout=60)
                self.assertNotIn("answer b'", result.stdout + result.stderr)
                refused = r"worker/abns@%s: control connection refused: pid \d+ runs as uid " \
                          r"65534 gid 65534" % names[0]
                lb.log.wait_for(refused, start=mark)
                wait_until(lambda: int(worker_frontend(tmp, 2)["dcon"]) == attempts,
                           message="every attempt counted in dcon")
                row = worker_frontend(tmp, 2)
                self.assertEqual((row["stot"], row["ereq"], row["dreq"]), ("0", "0", "0"))
                self.assertEqual(len([l for l in lb.log.lines[mark:] if re.search(refused, l)]),
                                 1)
                # The dispatcher's own control connection still works.
                self.assertEqual(echo_once(lb.port("dispatcher")), b"ping")


class SenderStillHolds(unittest.TestCase):
    def test_a_socket_its_sender_still_holds_leaves_the_worker_with_its_session(self):
        """A dispatcher closes its copy of a socket just after handing it off, but may be
        descheduled in between while the worker serves a short connection to its end. The
        kernel drops an epoll registration only with the last reference to the file, so the
        worker must take the socket out of its set itself: otherwise the next event on that
        file reaches a session already deleted (found as a double free at 4,500 handshakes
        per second). Here the test is the dispatcher and keeps its copy; the worker ends the
        session on `timeout client` while the client stays, and the client then sends more:
        an event on the file. The worker must go on serving, the same process (under ASan:
        no use after free)."""
        with EchoBackend() as backend:
            name = unique("held")
            config = ("global\n    log stderr format raw local0 info\n"
                      "defaults\n    mode tcp\n    timeout connect 2s\n"
                      "    timeout client 200ms\n    timeout server 1h\n"
                      "listen worker\n    bind abns@%s accept-handoff\n"
                      "    server app 127.0.0.1:%d\n" % (name, backend.port))
            with Tierlb(config) as lb:
                pid = lb.pid_of(1)
                control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                control.connect(b"\0" + name.encode().ljust(107, b"\0"))
                control.settimeout(5)
                kept = []
                for identifier in range(1, 4):
                    listener = socket.socket()
                    listener.bind(("127.0.0.1", 0))
                    listener.listen(1)
                    client = socket.create_connection(listener.getsockname(), timeout=5)
                    held, _ = listener.accept()
                    listener.close()
                    kept += [client, held]
                    control.sendmsg([hand_off_message(identifier)],
                                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                      struct.pack("i", held.fileno()))])
                    self.assertEqual(round_trip(client, b"ping %d" % identifier),
                                     b"ping %d" % identifier)
                    # The worker's report of the end (idle timeout): type 4, closed.
                    while control.recv(256)[1] != 4:
                        pass
                    client.sendall(b"after the end")  # lands on the file the test holds
                # Each round's hand-off was served after the previous round's late bytes.
                self.assertEqual(lb.pid_of(1), pid)
                self.assertEqual(lb.log.find_all(r"killed by signal"), [])
                for s in kept:
                    s.close()
                control.close()


if __name__ == "__main__":
    unittest.main()
