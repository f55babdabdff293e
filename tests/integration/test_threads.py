"""Issue [8]: both tiers with two threads per process (nbthread 2), where work crosses
threads: connections counted for leastconn from every thread, health checks, hand-off close
reports read on one thread for connections of another, and a reload that stops the
listeners of every thread while established connections go on. Short enough for CI to run
under TSan (ctest -L threads), where a data race in any process fails the test through the
harness."""

import random
import signal
import tempfile
import threading
import unittest

from harness import EchoBackend, Tierlb, server_sessions, wait_until
from test_dispatcher import open_burst, spread
from test_handoff import handoff_two_tier
from tls_support import tls_round_trip
from topology import two_tier


def concurrent_bursts(port, clients, each):
    """CLIENTS threads open EACH connections at once; every one crossed both tiers."""
    opened = [[] for _ in range(clients)]
    errors = []

    def client(i):
        try:
            opened[i] = open_burst(port, each)
        except Exception as e:  # re-raised below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    if errors:
        raise errors[0]
    return [s for socks in opened for s in socks]


def echoes(sock):
    return tls_round_trip(sock, b"still here") == b"still here"  # any socket, TLS or not


class ThreadedTiers(unittest.TestCase):
    def exercise(self, config, stats):
        """60 connections from 4 client threads, half closed at random, a reload with the
        other half established, then new ones on the new processes; the counts stay exact
        and the previous processes end once their last connection has."""
        with Tierlb(config) as lb:
            port = lb.port("dispatcher")
            socks = concurrent_bursts(port, clients=4, each=15)
            counts = server_sessions(stats, "dispatcher")
            self.assertEqual(sum(counts.values()), 60, counts)
            self.assertLessEqual(spread(counts), 1, counts)
            for s in random.Random(8).sample(socks, 30):
                s.close()
                socks.remove(s)
            wait_until(lambda: sum(server_sessions(stats, "dispatcher").values()) == 30,
                       timeout=10, message="the closes to be counted")

            mark = lb.log.count()
            lb.process.send_signal(signal.SIGUSR2)
            lb.log.wait_for(r"master: reload done", start=mark, timeout=30)
            self.assertTrue(all(echoes(s) for s in socks), "a connection was cut by the reload")
            more = concurrent_bursts(port, clients=2, each=10)
            self.assertTrue(all(echoes(s) for s in more))
            for s in socks + more:
                s.close()
            lb.log.wait_for(r"process 1 stopped: every connection has ended", start=mark,
                            timeout=30)

    def test_proxy_mode_with_checks(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = two_tier(backend.port, workers=2, stats_dir=tmp,
                                        global_extra="nbthread 2",
                                        server_options="check inter 200ms")
            self.exercise(config, stats)

    def test_handoff_mode_with_checks(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = handoff_two_tier(backend.port, tmp, workers=2,
                                                server_options="check inter 200ms")
            config = config.replace("global\n", "global\n    nbthread 2\n", 1)
            self.exercise(config, stats)


if __name__ == "__main__":
    unittest.main()
