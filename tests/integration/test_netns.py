"""Issue [8], beyond one machine: the dispatcher, three workers and the backend each on their
own "host" (a network namespace the test makes), joined by veth pairs; the dispatcher reaches
each worker over TCP at the address the test gave that worker's end of the link
(`server wN 10.77.N.2:7000 send-proxy-v2 check`, `bind 10.77.N.2:7000 accept-proxy`), and the
workers reach the backend through the dispatcher's host, which routes:

    client, dispatcher (host d) --veth-- worker N (host wN, 10.77.N.2), N = 2, 3, 4
                                --veth-- backend (host b, 10.77.9.2)

Each process runs alone in its host (`ip netns exec HOST tierlb -f FILE --process N`), as one
systemd unit per machine would: no master sees a worker die, so the dispatcher learns it from
its checks only. The same leastconn spread as over abns@ (test_dispatcher.Distribution), and
failover: a killed worker (connection refused) and a partitioned one (no answer at all) are
marked DOWN by checks, new connections go to the others, and each comes back UP.

Skipped, with the reason, where namespaces cannot be made (no CAP_SYS_ADMIN/CAP_NET_ADMIN). The
fixed port 7000 is safe: it is bound inside namespaces no one else uses. About 10 s in all."""

import os
import random
import signal
import socket
import tempfile
import threading
import time
import unittest

from harness import (EchoBackend, connect, echo_once, load_iterations, server_sessions,
                     show_stat, wait_until)
from netns import Hosts, TierlbIn, entered, ip
from test_dispatcher import check_leastconn_spread, open_burst
from topology import two_tier

WORKERS = (2, 3, 4)
BACKEND_HOST = "10.77.9.2"
CHECKS = "check inter 200ms rise 2 fall 2"


def worker_address(number):
    return "10.77.%d.2:7000" % number


class AcrossHosts(unittest.TestCase):
    """The hosts, the backend and the processes; each test starts from every server UP."""

    def setUp(self):
        self.hosts = Hosts().__enter__()
        self.addCleanup(self.hosts.close)  # last: the processes in them are stopped first
        self.d = self.hosts.add("d")
        self.worker_hosts = {}
        for n in WORKERS:
            self.worker_hosts[n] = self.hosts.add("w%d" % n)
            self.hosts.link(self.d, "10.77.%d.1/24" % n, self.worker_hosts[n], "10.77.%d.2/24" % n)
            self.hosts.route_via(self.worker_hosts[n], "10.77.%d.1" % n)
        backend_host = self.hosts.add("b")
        self.hosts.link(self.d, "10.77.9.1/24", backend_host, BACKEND_HOST + "/24")
        self.hosts.route_via(backend_host, "10.77.9.1")
        self.hosts.forward(self.d)
        with entered(backend_host):
            self.backend = EchoBackend(host=BACKEND_HOST)
        self.addCleanup(self.backend.close)
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.config, self.stats, _ = two_tier(
            self.backend.port, workers=len(WORKERS), stats_dir=tmp.name,
            send_proxy="send-proxy-v2", server_options=CHECKS,
            defaults_extra="timeout check 300ms\ntimeout connect 500ms",
            worker_addresses=[worker_address(n) for n in WORKERS], backend_host=BACKEND_HOST)
        self.dispatcher = self.start(self.d, 1)
        self.workers = {n: self.start(self.worker_hosts[n], n) for n in WORKERS}
        self.port = self.dispatcher.port("dispatcher")
        wait_until(lambda: all(self.row(n)["check_status"] == "L4OK" and
                               self.status(n) == "UP" for n in WORKERS), timeout=5,
                   message="every worker UP, its check passed")

    def start(self, host, number):
        process = TierlbIn(host, self.config, number)
        self.addCleanup(process.stop)
        return process.start()

    def row(self, number):
        return next(r for r in show_stat(self.stats)
                    if r["pxname"] == "dispatcher" and r["svname"] == "w%d" % number)

    def status(self, number):
        return self.row(number)["status"]

    def short_clients(self, results, stop):
        """One client after the other, from the dispatcher's host: (start time, None if its
        payload came back, else what went wrong)."""
        with entered(self.d):
            for _ in load_iterations(stop, limit=60):
                started = time.monotonic()
                payload = b"short %d" % len(results)
                try:
                    got = echo_once(self.port, payload)
                    error = None if got == payload else "echoed %r" % got
                except OSError as e:
                    error = repr(e)
                results.append((started, error))

    def fails_over(self, victim, cut, heal, reason):
        """CUT takes worker VICTIM away, HEAL brings it back; between them the dispatcher's
        checks mark it DOWN (REASON in check_status), new connections go to the others, and
        after HEAL it is UP again and takes new connections. Clients start one after the
        other throughout; every one that started after the cut is served."""
        results, stop = [], threading.Event()
        clients = threading.Thread(target=self.short_clients, args=(results, stop), daemon=True)
        clients.start()
        self.addCleanup(clients.join, 10)
        self.addCleanup(stop.set)
        wait_until(lambda: len(results) >= 20, message="traffic before the cut")
        mark = self.dispatcher.log.count()
        cut()
        cut_at = time.monotonic()  # a client that started before is in the middle of its own
        down_at = self.dispatcher.log.arrival(r"Server dispatcher/w%d is DOWN" % victim,
                                              timeout=5, start=mark)
        print("\n    worker %d cut (%s) to DOWN: %.0f ms" % (victim, reason,
                                                          (down_at - cut_at) * 1000))
        self.assertEqual(self.row(victim)["check_status"], reason)
        # While it is DOWN, connections go to the others only.
        sent_to_victim = int(self.row(victim)["stot"])
        count = len(results)
        wait_until(lambda: len(results) >= count + 20, message="traffic while DOWN")
        self.assertEqual(int(self.row(victim)["stot"]), sent_to_victim)
        mark = self.dispatcher.log.count()
        heal()
        self.dispatcher.log.wait_for(r"Server dispatcher/w%d is UP" % victim, timeout=5,
                                     start=mark)
        count = len(results)
        wait_until(lambda: len(results) >= count + 20, message="traffic after it is back")
        stop.set()
        clients.join(10)
        # Nine connections held at once: leastconn gives the worker its share. (One client at
        # a time may never reach it: after a partition, it may still count a connection the
        # cut stranded, until its own FIN gets through.)
        with entered(self.d):
            held = open_burst(self.port, 9)
        for s in held:
            s.close()
        self.assertGreater(int(self.row(victim)["stot"]), sent_to_victim,
                           "no connection went to the worker once it was back")
        failed = [error for started, error in results if started >= cut_at and error]
        self.assertEqual(failed, [], "connections started after the cut failed")
        # The only client that may fail is the one in the middle of its exchange at the cut.
        self.assertLessEqual(len([e for started, e in results if started < cut_at and e]), 1)


class Distribution(AcrossHosts):
    def test_leastconn_spread_across_hosts(self):
        with entered(self.d):
            check_leastconn_spread(self, self.port, self.stats, random.Random(3))
        self.assertGreaterEqual(self.backend.accepted, 90)


class Failover(AcrossHosts):
    def test_killed_worker_is_down_by_checks_and_back_up_once_restarted(self):
        """Its host refuses connections (RST) once it is gone: L4CON. Its long-lived
        connections end with it; those on the other hosts go on."""
        with entered(self.d):
            long_lived = [connect(self.port) for _ in range(6)]
        for s in long_lived:
            self.addCleanup(s.close)
            self.assertTrue(still_echoes(s))
        self.assertEqual(server_sessions(self.stats, "dispatcher"), {"w2": 2, "w3": 2, "w4": 2})
        victim = self.workers[2]

        def kill():
            os.kill(victim.process.pid, signal.SIGKILL)
            victim.process.wait(5)

        def restart():
            self.workers[2] = self.start(self.worker_hosts[2], 2)

        self.fails_over(2, kill, restart, "L4CON")
        alive = [s for s in long_lived if still_echoes(s)]
        self.assertEqual(len(alive), 4, "the connections on the other workers go on")


class Partition(AcrossHosts):
    def test_unreachable_worker_is_down_by_check_timeouts_and_back_up_once_reachable(self):
        """Its host stops answering the dispatcher's host (replies dropped by a blackhole
        route, as when a link or a firewall drops packets): connects time out, L4TOUT."""
        host, gateway = self.worker_hosts[3], "10.77.3.1/32"
        self.fails_over(3, lambda: ip("-n", host, "route", "add", "blackhole", gateway),
                        lambda: ip("-n", host, "route", "del", "blackhole", gateway), "L4TOUT")


def still_echoes(sock):
    try:
        sock.settimeout(5)
        sock.sendall(b"still there")
        return sock.recv(100) == b"still there"
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main()
