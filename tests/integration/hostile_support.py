"""Hostile clients and backends for test_hostile.py, and the well-behaved client that must be
served by the same processes meanwhile. Standard library only."""

import os
import select
import socket
import struct
import threading
import time

from harness import EchoBackend, load_iterations, wait_until
from tls_support import tls_round_trip

TCP_REPAIR = 19  # linux/tcp.h: a socket in repair mode closes without a FIN or a reset


# --- the well-behaved client ---------------------------------------------------------------

class WellBehaved:
    """A client served while a hostile one does its worst: one connection kept open (made by
    OPEN_KEPT, else OPEN) and, with FRESH, a new one each round (OPEN), every 50 ms, each
    exchange timed, from the with block's start to its end (and three rounds at least).
    check() then fails TEST on an error or on an exchange slower than LATENCY seconds."""

    MINIMUM_ROUNDS = 3

    def __init__(self, test, open_connection, latency=0.5, open_kept=None, fresh=True):
        self.test = test
        self.open = open_connection
        self.latency = latency
        self.fresh = fresh
        self.kept = (open_kept or open_connection)()
        self.rounds = []  # (seconds on the kept connection, seconds for a new one) or an error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        # At least a few rounds, whatever the hostile client took: if it was quick, they run
        # right after it, with whatever it left behind.
        wait_until(lambda: len(self.rounds) >= self.MINIMUM_ROUNDS or
                   not self._thread.is_alive(), timeout=10,
                   message="%d rounds of the well-behaved client" % self.MINIMUM_ROUNDS)
        self._stop.set()
        self._thread.join(10)
        self.kept.close()

    @staticmethod
    def _exchange(sock, payload):
        started = time.monotonic()
        got = tls_round_trip(sock, payload)
        if got != payload:
            raise AssertionError("%r came back for %r" % (got, payload))
        return time.monotonic() - started

    def _run(self):
        n = 0
        for _ in load_iterations(self._stop, limit=60):
            n += 1
            try:
                kept = self._exchange(self.kept, b"kept %d" % n)
                new = 0.0
                if self.fresh:
                    started = time.monotonic()
                    with self.open() as s:
                        self._exchange(s, b"fresh %d" % n)
                    new = time.monotonic() - started
                self.rounds.append((kept, new))
            except (OSError, AssertionError) as e:
                self.rounds.append("round %d: %r" % (n, e))
            self._stop.wait(0.05)

    def check(self):
        """After the with block: every round succeeded, in time, and there were enough."""
        errors = [r for r in self.rounds if isinstance(r, str)]
        self.test.assertEqual(errors, [], "the well-behaved client was not served")
        self.test.assertGreaterEqual(len(self.rounds), self.MINIMUM_ROUNDS, self.rounds)
        slowest = max(max(r) for r in self.rounds)
        self.test.assertLess(slowest, self.latency,
                             "the well-behaved client waited %.3fs" % slowest)


# --- hostile clients -----------------------------------------------------------------------

def trickle(open_connection, count, pieces, interval=0.1, timeout=5.0):
    """COUNT slow clients (slowloris): each sends PIECES (a list of byte strings) one per
    INTERVAL and never more. Returns how long each stayed open until the server closed it, in
    seconds (None: still open after TIMEOUT)."""
    clients = []
    for _ in range(count):
        s = open_connection()
        s.setblocking(False)
        clients.append({"sock": s, "opened": time.monotonic(), "sent": 0, "lifetime": None})
    deadline = time.monotonic() + timeout
    next_tick = time.monotonic()
    try:
        while time.monotonic() < deadline:
            live = [c for c in clients if c["lifetime"] is None]
            if not live:
                break
            now = time.monotonic()
            if now >= next_tick:
                next_tick += interval
                for c in live:
                    if c["sent"] < len(pieces):
                        try:
                            c["sock"].sendall(pieces[c["sent"]])
                            c["sent"] += 1
                        except BlockingIOError:
                            pass
                        except OSError:
                            c["lifetime"] = now - c["opened"]
            live = [c for c in live if c["lifetime"] is None]
            ready, _, _ = select.select([c["sock"] for c in live], [], [],
                                        max(0.0, next_tick - time.monotonic()))
            for c in live:
                if c["sock"] in ready and not _still_open(c["sock"]):
                    c["lifetime"] = time.monotonic() - c["opened"]
    finally:
        for c in clients:
            c["sock"].close()
    return [c["lifetime"] for c in clients]


def _still_open(sock):
    """False once the peer has closed SOCK (a readable non-blocking socket)."""
    try:
        return bool(sock.recv(4096))
    except BlockingIOError:
        return True
    except OSError:
        return False


def bytewise(data):
    return [data[i:i + 1] for i in range(len(data))]


class Flood:
    """COUNT clients connecting at once to 127.0.0.1:PORT, each sending one byte and waiting
    for its echo. Each is "connecting", "waiting" (sent, no answer yet), "served" (echoed) or
    "closed" (by the server, without an answer); run() advances them."""

    def __init__(self, port, count):
        self.poll = select.poll()
        self.clients = {}
        for _ in range(count):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            self.clients[s.fileno()] = [s, "connecting"]
            self.poll.register(s, select.POLLOUT)

    def run(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for fd, events in self.poll.poll(left * 1000):
                client = self.clients[fd]
                if client[1] == "connecting":
                    self._send(fd, client)
                elif client[1] == "waiting":
                    self._receive(fd, client)

    def _send(self, fd, client):
        try:
            client[0].send(b"x")
            client[1] = "waiting"
            self.poll.modify(fd, select.POLLIN)
        except OSError:
            self._closed(fd, client)

    def _receive(self, fd, client):
        try:
            data = client[0].recv(16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data == b"x":
            client[1] = "served"
            self.poll.unregister(fd)
        else:
            self._closed(fd, client)

    def _closed(self, fd, client):
        client[1] = "closed"
        self.poll.unregister(fd)

    def ports(self, state):
        """The local ports of the clients in STATE."""
        return [c[0].getsockname()[1] for c in self.clients.values() if c[1] == state]

    def count(self, state):
        return sum(1 for c in self.clients.values() if c[1] == state)

    def close(self, state=None):
        """Closes the clients in STATE (every one when None)."""
        for fd, client in list(self.clients.items()):
            if state is None or client[1] == state:
                if client[1] in ("connecting", "waiting"):
                    self.poll.unregister(fd)
                client[0].close()
                del self.clients[fd]


def vanish(sock):
    """Closes SOCK without a FIN or a reset, as a client whose machine lost power: the server
    hears nothing more. Needs CAP_NET_ADMIN (TCP repair mode); False without it."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    except PermissionError:
        return False
    sock.close()
    return True


# --- hostile backends ----------------------------------------------------------------------

class HostileBackend(EchoBackend):
    """A TCP server on 127.0.0.1 that misbehaves as BEHAVIOUR says: "silent" reads and never
    answers nor closes; "holding" too, and even after the proxy ended its side it keeps its
    own open (until close()); "ending" answers "bye" to the first bytes and ends its side at
    once, then waits; "reset" resets each connection once its first bytes arrived;
    "reset_at_once" resets it as soon as it is accepted. `ended` records, per connection, the
    seconds from its accept until the proxy ended its side (all but the resets)."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.ended = []
        self._closing = threading.Event()
        super().__init__()

    def _serve(self, conn):
        accepted = time.monotonic()
        conn.settimeout(30)
        try:
            if self.behaviour != "reset_at_once":
                conn.recv(4096)
            if self.behaviour.startswith("reset"):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if self.behaviour == "ending":
                conn.sendall(b"bye")
                conn.shutdown(socket.SHUT_WR)
            while conn.recv(4096):
                pass  # reads whatever comes, answers nothing
            with self._lock:
                self.ended.append(time.monotonic() - accepted)
            if self.behaviour == "holding":
                self._closing.wait(30)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self._closing.set()
        super().close()


# --- processes -----------------------------------------------------------------------------

def cpu_seconds(pids):
    """User plus system CPU time PIDS have used so far, in seconds (/proc/PID/stat)."""
    ticks = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_share(pids, seconds):
    """The share of one core PIDS used over the next SECONDS (a measurement window: the one
    place where these tests wait a fixed time)."""
    before, started = cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pids) - before) / (time.monotonic() - started)


def tierlb_pids(lb):
    """The master's pid and those of the processes it started."""
    return [lb.process.pid] + [lb.pid_of(n) for n in lb.started_processes()]
