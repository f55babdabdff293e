"""Issue [2]: the dispatcher tier end to end with real processes: exact leastconn over
workers, counts that follow closes, redispatch when a worker dies, half-close, maxconn,
PROXY chaining, timeouts and hostile input."""

import random
import select
import socket
import tempfile
import threading
import time
import unittest

from harness import (EchoBackend, Tierlb, connect, echo_once, load_iterations, round_trip,
                     run_tierlb, server_sessions, show_stat, stats_command, unique, wait_until)
from topology import two_tier


def open_burst(port, count):
    """Opens COUNT connections at once, then checks each one crosses both tiers."""
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
    for s in socks:
        s.setblocking(True)
        s.settimeout(5)
    for i, s in enumerate(socks):
        payload = b"hello %d" % i
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(100)
            if not chunk:
                raise AssertionError("connection closed before its echo")
            got += chunk
    return socks


def spread(counts):
    return max(counts.values()) - min(counts.values())


def check_leastconn_spread(test, port, stats, rng):
    """90 long-lived connections in bursts of 30, 40 closed at random, then the gaps refilled
    one at a time: the dispatcher on PORT (STATS, its stats socket) keeps every worker within
    one connection, and each new one goes to a worker with the fewest."""
    socks = []
    for _ in range(3):
        socks += open_burst(port, 30)
    counts = server_sessions(stats, "dispatcher")
    test.assertEqual(sum(counts.values()), 90, counts)
    test.assertLessEqual(spread(counts), 1, counts)

    for s in rng.sample(socks, 40):
        s.close()
        socks.remove(s)
    counts = wait_until(
        lambda: (lambda c: c if sum(c.values()) == 50 else None)(
            server_sessions(stats, "dispatcher")),
        timeout=1.0, message="counts to follow the closes")

    while spread(counts) > 1:
        fewest = min(counts.values())
        socks += open_burst(port, 1)
        after = server_sessions(stats, "dispatcher")
        grown = [name for name in after if after[name] == counts[name] + 1]
        test.assertEqual(len(grown), 1, (counts, after))
        test.assertEqual(counts[grown[0]], fewest,
                         "a new connection went to a worker without the fewest")
        counts = after
    test.assertLessEqual(spread(counts), 1, counts)
    for s in socks:
        s.close()


class Distribution(unittest.TestCase):
    """check_leastconn_spread over two and three workers."""

    def run_scenario(self, workers):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = two_tier(backend.port, workers=workers, stats_dir=tmp)
            with Tierlb(config) as lb:
                check_leastconn_spread(self, lb.port("dispatcher"), stats,
                                       random.Random(workers))

    def test_two_workers(self):
        self.run_scenario(2)

    def test_three_workers(self):
        self.run_scenario(3)


class Failover(unittest.TestCase):
    def test_worker_killed_while_clients_connect(self):
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port, workers=2)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                victim = lb.pid_of(2)
                results = []
                stop = threading.Event()

                def clients():
                    i = 0
                    for _ in load_iterations(stop):
                        payload = b"client %d" % i
                        started = time.monotonic()
                        try:
                            ok = echo_once(port, payload) == payload
                        except OSError:
                            ok = False
                        results.append((started, ok))
                        i += 1

                t = threading.Thread(target=clients, daemon=True)
                t.start()
                wait_until(lambda: len(results) >= 20, message="traffic before the kill")
                lb.log.wait_for(r"process 2 ready")
                import os
                import signal
                os.kill(victim, signal.SIGKILL)
                killed_at = time.monotonic()
                lb.log.wait_for(r"process 2 was killed by signal 9")
                lb.log.wait_for(r"process 2 started \(pid (?!%d\))" % victim)
                restarted = lb.pid_of(2)
                self.assertNotEqual(restarted, victim)
                lb.log.wait_for(r"\(%d\) : process 2 ready" % restarted)
                count = len(results)
                wait_until(lambda: len(results) >= count + 20, message="traffic after restart")
                stop.set()
                t.join(10)
                # A connection in the middle of its exchange with the killed worker is lost
                # with it; every connection that starts after the kill must succeed.
                after = [ok for started, ok in results if started >= killed_at]
                in_flight = [ok for started, ok in results if started < killed_at]
                self.assertTrue(all(after), "%d of %d new connections failed" %
                                (after.count(False), len(after)))
                self.assertLessEqual(in_flight.count(False), 1)


class Relay(unittest.TestCase):
    def test_half_close_is_forwarded(self):
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port)
            with Tierlb(config) as lb:
                s = connect(lb.port("dispatcher"))
                s.sendall(b"first half")
                s.shutdown(socket.SHUT_WR)  # we are done sending; the reply must still come
                got = b""
                while True:
                    chunk = s.recv(1000)
                    if not chunk:
                        break
                    got += chunk
                self.assertEqual(got, b"first half")
                s.close()

    def test_large_transfer_both_ways(self):
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port)
            with Tierlb(config) as lb:
                payload = bytes(random.getrandbits(8) for _ in range(1 << 20))
                s = connect(lb.port("dispatcher"), timeout=20)
                received = bytearray()

                def reader():
                    while len(received) < len(payload):
                        chunk = s.recv(1 << 16)
                        if not chunk:
                            break
                        received.extend(chunk)

                t = threading.Thread(target=reader, daemon=True)
                t.start()
                s.sendall(payload)
                t.join(20)
                s.close()
                self.assertEqual(bytes(received), payload)

    def test_idle_timeout_closes_with_cD(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = two_tier(backend.port, stats_dir=tmp,
                                        defaults_extra="timeout client 400ms")
            with Tierlb(config) as lb:
                s = connect(lb.port("dispatcher"))
                started = time.monotonic()
                s.settimeout(5)
                self.assertEqual(s.recv(10), b"")  # closed by the proxy, not by us
                self.assertLess(time.monotonic() - started, 3.0)
                lb.log.wait_for(r"dispatcher dispatcher/w\d \S+ \d+ cD ")
                s.close()
                # show stat counts it as a transfer the client let time out, as HAProxy does,
                # and the session in the rates and times.
                rows = {r["svname"]: r for r in show_stat(stats) if r["pxname"] == "dispatcher"}
                self.assertEqual(rows["BACKEND"]["cli_abrt"], "1")
                self.assertEqual(sum(int(r["cli_abrt"]) for name, r in rows.items()
                                     if name not in ("FRONTEND", "BACKEND")), 1)
                self.assertEqual(rows["FRONTEND"]["rate_max"], "1")
                self.assertEqual(rows["FRONTEND"]["conn_rate_max"], "1")
                self.assertGreaterEqual(int(rows["BACKEND"]["ttime_max"]), 400)
                info = dict(line.split(": ", 1) for line in
                            stats_command(stats, "show info").splitlines() if ": " in line)
                self.assertEqual(info["MaxConnRate"], "1")
                self.assertEqual(info["MaxSessRate"], "1")


class Limits(unittest.TestCase):
    def check_limit(self, **kwargs):
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port, **kwargs)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                held = open_burst(port, 3)
                extra = connect(port)
                extra.sendall(b"waiting")
                ready, _, _ = select.select([extra], [], [], 0.7)
                self.assertEqual(ready, [], "a connection past maxconn was served")
                for s in held:  # still established and working
                    s.sendall(b"x")
                    self.assertEqual(s.recv(10), b"x")
                held[0].close()
                extra.settimeout(5)
                self.assertEqual(extra.recv(100), b"waiting")
                extra.close()
                for s in held[1:]:
                    s.close()

    def test_frontend_maxconn(self):
        self.check_limit(dispatcher_extra="maxconn 3")

    def test_bind_maxconn(self):
        self.check_limit(dispatcher_bind_options="maxconn 3")

    def test_global_maxconn(self):
        # The global maxconn applies to every process; the workers get 3 each too, and the
        # dispatcher is the one that runs out first (3 clients).
        self.check_limit(global_extra="maxconn 3")


class DeferAccept(unittest.TestCase):
    def test_a_silent_client_is_accepted_once_it_speaks(self):
        """`defer-accept` (HAProxy's): the kernel holds a connection until its first bytes
        arrive, so the dispatcher neither accepts nor forwards a client that says nothing,
        while the bind beside it without the keyword does at once."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = two_tier(backend.port, stats_dir=tmp,
                                        dispatcher_bind_options="defer-accept",
                                        dispatcher_extra="bind 127.0.0.1:0 process 1")
            with Tierlb(config) as lb:
                def forwarded():
                    return sum(server_sessions(stats, "dispatcher").values())

                plain = connect(lb.port("dispatcher", 1))
                wait_until(lambda: forwarded() == 1, message="the plain bind's connection")
                deferred = connect(lb.port("dispatcher", 0))
                # Absence cannot be waited for: a window in which the plain bind's client
                # was forwarded in milliseconds, well inside the kernel's one second.
                time.sleep(0.4)
                self.assertEqual(forwarded(), 1, "a silent client was accepted")
                self.assertEqual(round_trip(deferred, b"hello"), b"hello")
                self.assertEqual(forwarded(), 2)
                self.assertEqual(round_trip(plain, b"world"), b"world")
                deferred.close()
                plain.close()


class ProxyProtocol(unittest.TestCase):
    def test_chained_addresses_reach_the_backend(self):
        """A client behind another proxy: its address travels dispatcher -> worker (v2) ->
        backend (v1)."""
        with EchoBackend(read_proxy=True) as backend:
            config, _, _ = two_tier(backend.port, send_proxy="send-proxy-v2",
                                    dispatcher_bind_options="accept-proxy")
            config = config.replace("    server app 127.0.0.1:%d" % backend.port,
                                    "    server app 127.0.0.1:%d send-proxy" % backend.port)
            with Tierlb(config) as lb:
                with connect(lb.port("dispatcher")) as s:
                    s.sendall(b"PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\nabc")
                    self.assertEqual(s.recv(10), b"abc")
                wait_until(lambda: backend.proxy_lines, message="the backend's PROXY line")
                self.assertEqual(backend.proxy_lines[0],
                                 "PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\n")
                lb.log.wait_for(r"^203\.0\.113\.7:4242 \[.*\] worker worker/app ")

    def test_the_header_carries_the_address_the_client_reached(self):
        """The PROXY header's destination is the address the client connected to, whether the
        bind names one address (taken from the bind, no getsockname) or any (0.0.0.0: asked of
        the socket)."""
        for bind in ("127.0.0.1:0", "0.0.0.0:0"):
            with EchoBackend(read_proxy=True) as backend:
                config, _, _ = two_tier(backend.port, workers=1)
                config = config.replace("    bind 127.0.0.1:0 process 1",
                                        "    bind %s process 1" % bind)
                config = config.replace("    server app 127.0.0.1:%d" % backend.port,
                                        "    server app 127.0.0.1:%d send-proxy" % backend.port)
                with Tierlb(config) as lb:
                    port = lb.port("dispatcher")
                    with connect(port) as s:
                        client_port = s.getsockname()[1]
                        s.sendall(b"where")
                        self.assertEqual(s.recv(10), b"where")
                    wait_until(lambda: backend.proxy_lines, message="the backend's PROXY line")
                    self.assertEqual(backend.proxy_lines[0],
                                     "PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n"
                                     % (client_port, port), bind)

    def test_bad_header_is_closed_logged_and_others_served(self):
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port, dispatcher_bind_options="accept-proxy")
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                with connect(port) as s:
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    s.settimeout(5)
                    self.assertEqual(s.recv(10), b"")
                # HAProxy's connection-error line, word for word.
                lb.log.wait_for(r"^127\.0\.0\.1:\d+ \[.*\] dispatcher/1: Received something "
                                r"which does not look like a PROXY protocol header$")
                with connect(port) as s:
                    s.sendall(b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\nok")
                    self.assertEqual(s.recv(10), b"ok")

    def test_split_header_is_waited_for(self):
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port, dispatcher_bind_options="accept-proxy")
            with Tierlb(config) as lb:
                with connect(lb.port("dispatcher")) as s:
                    for piece in (b"PROX", b"Y TCP4 10.9.8.7 ", b"10.0.0.2 5555 80\r", b"\nhi"):
                        s.sendall(piece)
                        time.sleep(0.05)
                    self.assertEqual(s.recv(10), b"hi")
                lb.log.wait_for(r"^10\.9\.8\.7:5555 .* worker worker/app ")


class StartUp(unittest.TestCase):
    def test_abns_name_held_by_another_process_is_exit_2(self):
        name = unique("held")
        squatter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        squatter.bind(b"\0" + name.encode() + b"\0" * (107 - len(name)))  # HAProxy's padding
        squatter.listen(1)
        try:
            with EchoBackend() as backend:
                config = ("listen l\n bind abns@%s\n timeout client 1h\n server s 127.0.0.1:%d\n"
                          % (name, backend.port))
                lb = Tierlb(config, wait_ready=False).start()
                code = lb.process.wait(10)
                self.assertEqual(code, 2)
                lb.log.wait_for(r"abns@%s is already held by another process" % name)
                lb.log.wait_for(r"tierlb.cfg:2")
        finally:
            squatter.close()

    def test_single_process_mode(self):
        with EchoBackend() as backend:
            config, _, names = two_tier(backend.port, workers=1)
            # Process 2 alone: the worker, reached directly over its abstract socket.
            lb = Tierlb(config, args=["--process", "2"], wait_ready=False).start()
            try:
                lb.log.wait_for(r"process 2 ready")
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(b"\0" + names[0].encode() + b"\0" * (107 - len(names[0])))
                    s.sendall(b"PROXY UNKNOWN\r\nworker alone")
                    s.settimeout(5)
                    self.assertEqual(s.recv(100), b"worker alone")
            finally:
                lb.stop()


class Stop(unittest.TestCase):
    def test_soft_stop_lets_established_connections_finish(self):
        import signal
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port)
            lb = Tierlb(config).start()
            try:
                s = connect(lb.port("dispatcher"))
                s.sendall(b"before")
                self.assertEqual(s.recv(10), b"before")
                lb.process.send_signal(signal.SIGUSR1)
                lb.log.wait_for(r"process 1 stopping softly")
                s.sendall(b"during")
                self.assertEqual(s.recv(10), b"during")
                self.assertIsNone(lb.process.poll())
                s.close()
                self.assertEqual(lb.process.wait(10), 0)
            finally:
                lb.stop()

    def test_hard_stop_exits_0(self):
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port)
            lb = Tierlb(config).start()
            s = connect(lb.port("dispatcher"))
            self.assertEqual(lb.stop(), 0)
            s.settimeout(5)
            try:
                self.assertEqual(s.recv(10), b"")
            except ConnectionResetError:
                pass
            s.close()


if __name__ == "__main__":
    unittest.main()
