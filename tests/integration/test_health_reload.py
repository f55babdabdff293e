"""Issue [4]: health checks with HAProxy's semantics and log lines, a worker's death noticed
at once, a frozen worker caught by check-ssl, and reloads that refuse no connection."""

import os
import signal
import socket
import tempfile
import threading
import time
import unittest

from harness import (EchoBackend, Tierlb, connect, echo_once, load_iterations, server_sessions,
                     show_stat, unique, wait_until)
from tls_certs import self_signed
from topology import two_tier


class HandshakeInTwo:
    """A TLS client on a raw socket that connects at once, sends nothing or the first half of
    its ClientHello (SEND_HALF), and completes the handshake later, in finish()."""

    def __init__(self, port, send_half):
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="worker.test")
        self.sock = connect(port, timeout=10)
        self.hello = b""
        if send_half:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            self.hello = self.outgoing.read()
            self.sock.sendall(self.hello[:len(self.hello) // 2])

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _drive(self, step):
        import ssl
        while True:
            try:
                return step()
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed by the proxy")
                self.incoming.write(data)

    def finish(self, payload):
        """The rest of the handshake, then PAYLOAD through the echo backend and back."""
        if self.hello:
            self.sock.sendall(self.hello[len(self.hello) // 2:])
        self._drive(self.tls.do_handshake)
        self._flush()
        self.tls.write(payload)
        self._flush()
        return self._drive(lambda: self.tls.read(len(payload)))

    def close(self):
        self.sock.close()


def stat_rows(stats, proxy="dispatcher"):
    return {r["svname"]: r for r in show_stat(stats) if r["pxname"] == proxy}


class ChecksAndDeath(unittest.TestCase):
    def test_killed_worker_is_down_at_once_and_no_new_client_fails(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = two_tier(backend.port, workers=2, stats_dir=tmp,
                                        server_options="check inter 1s rise 2 fall 3")
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                wait_until(lambda: stat_rows(stats)["w2"]["check_status"] == "L4OK",
                           message="a first passed check")
                results = []
                stop = threading.Event()

                def clients():
                    for _ in load_iterations(stop):
                        started = time.monotonic()
                        try:
                            ok = echo_once(port, b"steady") == b"steady"
                        except OSError:
                            ok = False
                        results.append((started, ok))

                t = threading.Thread(target=clients, daemon=True)
                t.start()
                wait_until(lambda: len(results) > 20, message="traffic before the kill")
                victim = lb.pid_of(2)
                mark = lb.log.count()
                os.kill(victim, signal.SIGKILL)
                killed_at = time.monotonic()
                down_at = lb.log.arrival(r"Server dispatcher/w2 is DOWN", start=mark)
                detection = down_at - killed_at
                print("\n    worker death to DOWN in the dispatcher: %.1f ms" % (detection * 1000))
                self.assertLess(detection, 1.0)  # the bound is 100 ms; slack for CI
                lb.log.wait_for(r"Health check for server dispatcher/w2 failed, reason: Layer4 "
                                r"connection problem, info: \"process 2 was killed by signal 9 "
                                r"\(Killed\)\", check duration: 0ms, status: 0/2 DOWN\.",
                                start=mark)
                lb.log.wait_for(r"Server dispatcher/w2 is DOWN\. 1 active and 0 backup servers "
                                r"left\. \d+ sessions active, 0 requeued, 0 remaining in queue\.",
                                start=mark)
                # Restarted, then UP again after rise (2) good checks.
                lb.log.wait_for(r"process 2 started \(pid (?!%d\))" % victim, start=mark)
                lb.log.wait_for(r"Server dispatcher/w2 is UP\.", timeout=10, start=mark)
                count = len(results)
                wait_until(lambda: len(results) > count + 20, message="traffic after")
                stop.set()
                t.join(10)
                after = [ok for started, ok in results if started >= killed_at]
                self.assertTrue(all(after), "%d of %d new connections failed" %
                                (after.count(False), len(after)))
                rows = stat_rows(stats)
                self.assertEqual(rows["w2"]["status"], "UP")
                self.assertGreaterEqual(int(rows["w2"]["chkdown"]), 1)
                self.assertGreaterEqual(int(rows["w2"]["chkfail"]), 1)

    def test_connections_a_dead_worker_never_answered_go_to_another(self):
        """Eight clients on TLS workers: half have sent nothing yet, half half a ClientHello.
        The worker holding some of them (accepted, waiting for the rest) is killed: it
        answered none of them, so the dispatcher sends each, with what its client had sent,
        to the other worker, and every client completes its handshake and exchange. (Those
        still in the worker's backlog need nothing: the master holds the listening socket,
        and the restarted worker accepts them.)"""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            pem = self_signed(tmp, "worker.test")
            worker_stats = os.path.join(tmp, "p3.sock")
            config, stats, _ = two_tier(
                backend.port, workers=2, stats_dir=tmp, server_options="check inter 30s",
                global_extra="stats socket %s process 3 level admin" % worker_stats)
            config = config.replace(" accept-proxy\n", " accept-proxy ssl crt %s\n" % pem)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                clients = [HandshakeInTwo(port, send_half=i % 2 == 1) for i in range(8)]
                for c in clients:
                    self.addCleanup(c.close)
                on_w3 = wait_until(lambda: (lambda n: n if n >= 3 else None)(
                    int(stat_rows(stats)["w3"]["scur"])), message="clients on worker 3")
                wait_until(lambda: int(stat_rows(worker_stats, "worker")["FRONTEND"]["scur"])
                           == on_w3, message="worker 3 to accept its clients")
                os.kill(lb.pid_of(3), signal.SIGKILL)
                for i, c in enumerate(clients):
                    self.assertEqual(c.finish(b"client %d" % i), b"client %d" % i)
                rows = stat_rows(stats)
                self.assertEqual(int(rows["w3"]["wredis"]), on_w3)
                self.assertEqual(int(rows["w3"]["scur"]), 0)
                self.assertEqual(int(rows["w2"]["scur"]), 8)
                # Their log lines, once closed, show the redispatch ("+1" retries).
                for c in clients:
                    c.close()
                wait_until(lambda: len(lb.log.find_all(
                    r" dispatcher dispatcher/w2 \S+ \d+ -- \S+/\+1 ")) == on_w3,
                    message="%d log lines with +1" % on_w3)

    def test_a_frozen_tls_worker_is_caught_by_check_ssl(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            pem = self_signed(tmp, "worker.test")
            config, stats, names = two_tier(
                backend.port, workers=2, stats_dir=tmp,
                server_options="check check-ssl inter 300ms rise 1 fall 2",
                defaults_extra="timeout check 300ms")
            config = config.replace(" accept-proxy\n", " accept-proxy ssl crt %s\n" % pem)
            with Tierlb(config) as lb:
                wait_until(lambda: stat_rows(stats)["w3"]["check_status"] == "L6OK",
                           message="a passed TLS check")
                frozen = lb.pid_of(3)
                mark = lb.log.count()
                os.kill(frozen, signal.SIGSTOP)
                try:
                    stopped_at = time.monotonic()
                    down_at = lb.log.arrival(r"Server dispatcher/w3 is DOWN", timeout=10,
                                             start=mark)
                    # fall (2) failed checks of inter + timeout check each, give or take one.
                    self.assertLess(down_at - stopped_at, 3.0)
                    self.assertEqual(stat_rows(stats)["w3"]["check_status"], "L6TOUT")
                    lb.log.wait_for(r"Health check for server dispatcher/w3 failed, reason: "
                                    r"Layer6 timeout, check duration: \d+ms", start=mark)
                    # Clients now go to the other worker.
                    import ssl
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    for _ in range(5):
                        with ctx.wrap_socket(connect(lb.port("dispatcher")),
                                             server_hostname="worker.test") as s:
                            s.sendall(b"tls")
                            self.assertEqual(s.recv(3), b"tls")
                finally:
                    os.kill(frozen, signal.SIGCONT)
                lb.log.wait_for(r"Server dispatcher/w3 is UP\.", timeout=10, start=mark)

    def test_backup_server_only_when_no_active_one(self):
        with EchoBackend() as active, EchoBackend() as backup, tempfile.TemporaryDirectory() as tmp:
            stats = os.path.join(tmp, "s.sock")
            config = """
global
    stats socket %s level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 1h
    timeout server 1h
listen app
    bind 127.0.0.1:0
    server main 127.0.0.1:%d check inter 200ms fall 1 rise 1
    server spare 127.0.0.1:%d backup
""" % (stats, active.port, backup.port)
            with Tierlb(config) as lb:
                port = lb.port("app")
                for _ in range(4):
                    echo_once(port)
                self.assertGreaterEqual(active.accepted, 4)  # its checks connect too
                self.assertEqual(backup.accepted, 0)
                active.close()  # the active server goes away
                wait_until(lambda: stat_rows(stats, "app")["main"]["status"] == "DOWN",
                           message="the active server DOWN")
                for _ in range(3):
                    self.assertEqual(echo_once(port), b"ping")
                self.assertEqual(backup.accepted, 3)
                lb.log.wait_for(r"Server app/main is DOWN\. 0 active and 1 backup servers left")


class Reload(unittest.TestCase):
    def test_reload_refuses_nothing_and_keeps_long_lived_connections(self):
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port, workers=2)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                long_lived = [connect(port) for _ in range(50)]
                failures = []
                served = []  # one entry per new connection served
                stop = threading.Event()

                def chat():
                    # Every long-lived connection exchanges a message every 100 ms.
                    for _ in load_iterations(stop):
                        for i, s in enumerate(long_lived):
                            try:
                                s.sendall(b"%d" % i)
                                got = s.recv(10)
                                if got != b"%d" % i:
                                    failures.append(("long-lived", i, got))
                            except OSError as e:
                                failures.append(("long-lived", i, e))
                        time.sleep(0.1)

                def churn():
                    for _ in load_iterations(stop):
                        try:
                            if echo_once(port, b"new") != b"new":
                                failures.append(("new", "bad echo"))
                            served.append(time.monotonic())
                        except OSError as e:
                            failures.append(("new", e))

                threads = [threading.Thread(target=chat, daemon=True),
                           threading.Thread(target=churn, daemon=True)]
                for t in threads:
                    t.start()
                wait_until(lambda: len(served) >= 50, message="traffic before the reload")
                old_dispatcher = lb.pid_of(1)
                mark = lb.log.count()
                lb.process.send_signal(signal.SIGUSR2)
                lb.log.wait_for(r"master: reload done: 3 previous processes stop softly",
                                start=mark)
                done_at = time.monotonic()
                # New connections go on being served by the new processes...
                wait_until(lambda: len([t for t in served if t > done_at]) >= 100,
                           message="traffic after the reload")
                self.assertNotEqual(lb.pid_of(1), old_dispatcher)
                # The previous dispatcher still carries the long-lived connections.
                self.assertTrue(os.path.exists("/proc/%d" % old_dispatcher))
                stop.set()
                for t in threads:
                    t.join(10)
                self.assertEqual(failures, [])
                for s in long_lived:
                    s.close()
                lb.log.wait_for(r"process 1 of the previous configuration \(pid %d\) exited "
                                r"with code 0" % old_dispatcher, start=mark)

    def test_hard_stop_after_ends_what_the_previous_processes_still_carry(self):
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port, workers=1,
                                    global_extra="hard-stop-after 500ms")
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                long_lived = connect(port, timeout=10)
                self.addCleanup(long_lived.close)
                long_lived.sendall(b"before")
                self.assertEqual(long_lived.recv(10), b"before")
                old_dispatcher = lb.pid_of(1)
                mark = lb.log.count()
                lb.process.send_signal(signal.SIGUSR2)
                lb.log.wait_for(r"master: reload done", start=mark)
                reloaded_at = time.monotonic()
                # Still served by the previous generation until hard-stop-after...
                long_lived.sendall(b"during")
                self.assertEqual(long_lived.recv(10), b"during")
                # ...then closed, and the previous processes exit.
                self.assertEqual(long_lived.recv(10), b"")
                took = time.monotonic() - reloaded_at
                self.assertGreater(took, 0.3)
                self.assertLess(took, 3.0)
                lb.log.wait_for(r"hard-stop-after reached with 1 connections left", start=mark)
                lb.log.wait_for(r"process 1 of the previous configuration \(pid %d\) exited"
                                % old_dispatcher, start=mark)
                self.assertEqual(echo_once(port), b"ping")  # the new generation serves

    def test_a_new_process_that_cannot_start_undoes_the_reload(self):
        """A stats socket on an abns@ name cannot be bound twice, so the reloaded dispatcher
        cannot start: the reload is undone, the previous processes serve on, and a later
        reload (without that socket) works."""
        with EchoBackend() as backend:
            name = unique("stats")
            config, _, _ = two_tier(backend.port, workers=1,
                                    global_extra="stats socket abns@%s process 1" % name)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                before = (lb.pid_of(1), lb.pid_of(2))
                long_lived = connect(port)
                self.addCleanup(long_lived.close)
                # Echoed once, it is on the previous worker: the new one, which shares its
                # socket until the reload is undone, must have nothing to finish.
                long_lived.sendall(b"before")
                self.assertEqual(long_lived.recv(10), b"before")
                mark = lb.log.count()
                lb.process.send_signal(signal.SIGUSR2)
                lb.log.wait_for(r"master: reload failed: process 1 of the new configuration "
                                r"could not start \(exited with code 2\); the previous "
                                r"processes keep serving", start=mark)
                self.assertTrue(all(os.path.exists("/proc/%d" % pid) for pid in before))
                self.assertEqual(echo_once(port), b"ping")
                long_lived.sendall(b"alive")
                self.assertEqual(long_lived.recv(10), b"alive")
                # The new worker that did start stops again, softly.
                lb.log.wait_for(r"process 2 of the previous configuration \(pid \d+\) exited",
                                start=mark)
                self.assertEqual(lb.pid_of(2) != before[1], True)  # it was started...
                self.assertTrue(os.path.exists("/proc/%d" % before[1]))  # ...and left
                # Without the abns@ stats socket, the next reload goes through.
                with open(lb.config_path) as f:
                    text = f.read()
                with open(lb.config_path, "w") as f:
                    f.write(text.replace("    stats socket abns@%s process 1\n" % name, ""))
                mark = lb.log.count()
                lb.process.send_signal(signal.SIGUSR2)
                lb.log.wait_for(r"master: reload done", start=mark)
                self.assertEqual(echo_once(port), b"ping")

    def test_an_invalid_file_changes_nothing(self):
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port, workers=1)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                before = (lb.pid_of(1), lb.pid_of(2))
                with open(lb.config_path, "a") as f:
                    f.write("    frobnicate yes\n")
                mark = lb.log.count()
                lb.process.send_signal(signal.SIGHUP)
                lb.log.wait_for(r"tierlb\.cfg:\d+: unknown keyword 'frobnicate'", start=mark)
                lb.log.wait_for(r"master: reload refused: the new configuration has 1 error",
                                start=mark)
                self.assertEqual((lb.pid_of(1), lb.pid_of(2)), before)
                self.assertEqual(echo_once(port), b"ping")

    def test_a_changed_configuration_takes_effect(self):
        with EchoBackend() as first, EchoBackend() as second:
            config, _, _ = two_tier(first.port, workers=1)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                echo_once(port)
                self.assertEqual(first.accepted, 1)
                with open(lb.config_path) as f:
                    text = f.read()
                with open(lb.config_path, "w") as f:
                    f.write(text.replace(":%d\n" % first.port, ":%d\n" % second.port))
                mark = lb.log.count()
                lb.process.send_signal(signal.SIGUSR2)
                lb.log.wait_for(r"master: reload done", start=mark)
                # The previous dispatcher accepts until it has taken its soft stop in: only
                # then is every new connection the new configuration's.
                lb.log.wait_for(r"process 1 stopping softly", start=mark)
                # Same port (the socket was kept), new backend.
                self.assertEqual(lb.port("dispatcher", -1), port)
                echo_once(port)
                self.assertEqual(second.accepted, 1)


    def test_defer_accept_added_by_a_reload_applies_to_the_kept_socket(self):
        """The listening socket is kept across a reload, so a keyword of the socket itself
        must be set on it again: `defer-accept` added by a reload holds silent clients."""
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port, workers=1)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                silent = connect(port)  # not deferred yet: crosses both tiers at once
                wait_until(lambda: backend.accepted == 1, message="the first silent client")
                with open(lb.config_path) as f:
                    text = f.read()
                with open(lb.config_path, "w") as f:
                    f.write(text.replace(" process 1 \n", " process 1 defer-accept\n", 1))
                mark = lb.log.count()
                lb.process.send_signal(signal.SIGUSR2)
                lb.log.wait_for(r"master: reload done", start=mark)
                lb.log.wait_for(r"process 1 stopping softly", start=mark)
                self.assertEqual(lb.port("dispatcher", -1), port)
                deferred = connect(port)
                # Absence cannot be waited for: the first client reached the backend in
                # milliseconds; the kernel holds this one for about a second.
                time.sleep(0.4)
                self.assertEqual(backend.accepted, 1, "a silent client was accepted")
                self.assertEqual(echo_once(port, b"spoken"), b"spoken")
                deferred.close()
                silent.close()


if __name__ == "__main__":
    unittest.main()
