"""Issue [2]: the rules of a backend with real processes: queueing at server maxconn,
redispatch away from a server that refuses, balance source, administrative states from the
stats socket, several threads, every address form a listener can take, running out of file
descriptors, and daemon mode."""

import os
import resource
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (EchoBackend, Tierlb, TIERLB, connect, echo_once, read_text, server_sessions,
                     show_stat, stats_command, unique, wait_until)
from topology import two_tier


def one_tier(backend_ports, binds, stats=None, extra="", server_options="", global_extra="",
             stats_level="admin"):
    """A single process: BINDS on a listen section balancing over the echo BACKEND_PORTS."""
    lines = ["global", "    log stderr format raw local0 info"]
    if stats:
        lines.append("    stats socket %s level %s" % (stats, stats_level))
    lines += ["    " + l for l in global_extra.splitlines() if l.strip()]
    lines += ["defaults", "    mode tcp", "    log global", "    option tcplog",
              "    timeout connect 2s", "    timeout client 1h", "    timeout server 1h",
              "listen app"]
    lines += ["    bind %s" % b for b in binds]
    lines += ["    " + l for l in extra.splitlines() if l.strip()]
    for i, port in enumerate(backend_ports):
        lines.append("    server s%d 127.0.0.1:%d %s" % (i + 1, port, server_options))
    return "\n".join(lines) + "\n"


class Queue(unittest.TestCase):
    def test_server_maxconn_queues_then_serves_in_order(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            stats = os.path.join(tmp, "s.sock")
            config = one_tier([backend.port], ["127.0.0.1:0"], stats=stats,
                              server_options="maxconn 1", extra="timeout queue 5s")
            with Tierlb(config) as lb:
                port = lb.port("app")
                first = connect(port)
                first.sendall(b"1")
                self.assertEqual(first.recv(1), b"1")
                second = connect(port)
                second.sendall(b"2")
                time.sleep(0.3)
                rows = {r["svname"]: r for r in show_stat(stats) if r["pxname"] == "app"}
                self.assertEqual(rows["BACKEND"]["qcur"], "1")  # waiting in the queue
                self.assertEqual(rows["s1"]["scur"], "1")
                first.close()
                second.settimeout(5)
                self.assertEqual(second.recv(1), b"2")  # served once the slot freed
                second.close()
                lb.log.wait_for(r" app app/s1 [1-9]\d*/")  # a Tw above 0: it waited

    def test_queue_timeout_closes_with_sQ(self):
        with EchoBackend() as backend:
            config = one_tier([backend.port], ["127.0.0.1:0"], server_options="maxconn 1",
                              extra="timeout queue 300ms")
            with Tierlb(config) as lb:
                port = lb.port("app")
                holder = connect(port)
                holder.sendall(b"x")
                self.assertEqual(holder.recv(1), b"x")
                waiter = connect(port)
                waiter.settimeout(5)
                self.assertEqual(waiter.recv(10), b"")
                lb.log.wait_for(r" app app/<NOSRV> .* sQ ")
                holder.close()
                waiter.close()


class Redispatch(unittest.TestCase):
    def test_a_refusing_server_is_skipped_at_once(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            # A port nobody listens on: take one and close it.
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            dead_port = probe.getsockname()[1]
            probe.close()
            stats = os.path.join(tmp, "s.sock")
            config = one_tier([dead_port, backend.port], ["127.0.0.1:0"], stats=stats,
                              extra="balance roundrobin\noption redispatch\nretries 3")
            with Tierlb(config) as lb:
                port = lb.port("app")
                for i in range(10):
                    self.assertEqual(echo_once(port, b"r%d" % i), b"r%d" % i)
                rows = {r["svname"]: r for r in show_stat(stats) if r["pxname"] == "app"}
                self.assertGreaterEqual(int(rows["s1"]["econ"]), 5)
                self.assertGreaterEqual(int(rows["s1"]["wredis"]), 5)
                self.assertEqual(int(rows["s2"]["stot"]) >= 10, True)
                lb.log.wait_for(r" app app/s2 .*/\+1 ")  # %rc: one retry, redispatched

    def test_without_redispatch_the_client_sees_the_failure(self):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
        probe.close()
        config = one_tier([dead_port], ["127.0.0.1:0"], extra="retries 1\ntimeout connect 200ms")
        with Tierlb(config) as lb:
            with connect(lb.port("app")) as s:
                s.settimeout(5)
                self.assertEqual(s.recv(10), b"")
            lb.log.wait_for(r" app app/s1 .* SC ")


class Balance(unittest.TestCase):
    def test_source_keeps_a_client_on_one_server(self):
        with EchoBackend() as b1, EchoBackend() as b2, EchoBackend() as b3:
            config = one_tier([b1.port, b2.port, b3.port], ["127.0.0.1:0"],
                              extra="balance source")
            with Tierlb(config) as lb:
                port = lb.port("app")
                for _ in range(12):
                    echo_once(port)
                counts = sorted([b1.accepted, b2.accepted, b3.accepted])
                self.assertEqual(counts, [0, 0, 12])  # always the same server for 127.0.0.1

    def test_first_fills_servers_in_order(self):
        with EchoBackend() as b1, EchoBackend() as b2, tempfile.TemporaryDirectory() as tmp:
            stats = os.path.join(tmp, "s.sock")
            config = one_tier([b1.port, b2.port], ["127.0.0.1:0"], stats=stats,
                              extra="balance first", server_options="maxconn 2")
            with Tierlb(config) as lb:
                held = [connect(lb.port("app")) for _ in range(3)]
                for s in held:
                    s.sendall(b"f")
                    self.assertEqual(s.recv(1), b"f")
                self.assertEqual(server_sessions(stats, "app"), {"s1": 2, "s2": 1})
                for s in held:
                    s.close()


class Admin(unittest.TestCase):
    def test_drain_and_maint_from_the_stats_socket(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = two_tier(backend.port, workers=2, stats_dir=tmp)
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                held = [connect(port) for _ in range(2)]
                for s in held:
                    s.sendall(b"a")
                    self.assertEqual(s.recv(1), b"a")
                self.assertEqual(server_sessions(stats, "dispatcher"), {"w2": 1, "w3": 1})
                self.assertEqual(stats_command(stats, "set server dispatcher/w2 state drain"),
                                 "\n")
                more = [connect(port) for _ in range(4)]
                for s in more:
                    s.sendall(b"b")
                    self.assertEqual(s.recv(1), b"b")
                # Drain: nothing new, what was there stays.
                self.assertEqual(server_sessions(stats, "dispatcher"), {"w2": 1, "w3": 5})
                rows = {r["svname"]: r for r in show_stat(stats) if r["pxname"] == "dispatcher"}
                self.assertEqual(rows["w2"]["status"], "DRAIN")
                stats_command(stats, "disable server dispatcher/w2")
                rows = {r["svname"]: r for r in show_stat(stats) if r["pxname"] == "dispatcher"}
                self.assertEqual(rows["w2"]["status"], "MAINT")
                stats_command(stats, "enable server dispatcher/w2")
                extra = [connect(port) for _ in range(4)]
                for s in extra:
                    s.sendall(b"c")
                    self.assertEqual(s.recv(1), b"c")
                # Back in service: leastconn fills the gap first.
                self.assertEqual(server_sessions(stats, "dispatcher"), {"w2": 5, "w3": 5})
                for s in held + more + extra:
                    s.close()

    def test_state_changes_need_level_admin(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            stats = os.path.join(tmp, "op.sock")
            config = one_tier([backend.port], ["127.0.0.1:0"], stats=stats,
                              stats_level="operator")
            with Tierlb(config):
                answer = stats_command(stats, "disable server app/s1")
                self.assertIn("Permission denied", answer)


class Threads(unittest.TestCase):
    def test_leastconn_stays_exact_across_threads(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = two_tier(backend.port, workers=2, stats_dir=tmp,
                                        global_extra="nbthread 2")
            with Tierlb(config) as lb:
                port = lb.port("dispatcher")
                socks = []
                lock = threading.Lock()

                def opener():
                    for _ in range(25):
                        s = connect(port)
                        s.sendall(b"t")
                        assert s.recv(1) == b"t"
                        with lock:
                            socks.append(s)

                threads = [threading.Thread(target=opener, daemon=True) for _ in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                counts = server_sessions(stats, "dispatcher")
                self.assertEqual(sum(counts.values()), 100)
                self.assertLessEqual(max(counts.values()) - min(counts.values()), 1, counts)
                for s in socks:
                    s.close()


class Addresses(unittest.TestCase):
    def test_every_listener_form(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            abns, abnsz = unique("abns"), unique("abnsz")
            path = os.path.join(tmp, "l.sock")
            binds = ["127.0.0.1:0", "[::1]:0", "abns@" + abns, "abnsz@" + abnsz,
                     "unix@" + path]
            config = one_tier([backend.port], binds)
            with Tierlb(config) as lb:
                self.assertEqual(echo_once(lb.port("app", 0)), b"ping")
                with socket.create_connection(("::1", lb.port("app", 1)), timeout=5) as s:
                    s.sendall(b"v6")
                    self.assertEqual(s.recv(10), b"v6")
                targets = [b"\0" + abns.encode() + b"\0" * (107 - len(abns)),  # padded
                           b"\0" + abnsz.encode(),  # short, as socat and curl
                           path]
                for target in targets:
                    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                        s.settimeout(5)
                        s.connect(target)
                        s.sendall(b"unix")
                        self.assertEqual(s.recv(10), b"unix")
                lb.log.wait_for(r"^unix:\d+ \[")  # a unix client logs as unix:<bind id>


class Descriptors(unittest.TestCase):
    def test_running_out_of_descriptors_pauses_accepting_without_spinning(self):
        with EchoBackend() as backend:
            config = one_tier([backend.port], ["127.0.0.1:0"],
                              global_extra="maxconn 1000")

            def low_limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

            lb = Tierlb(config, args=["--process", "1"], wait_ready=False)
            lb.process = subprocess.Popen([TIERLB, "-f", lb.config_path, "--process", "1"],
                                          stderr=subprocess.PIPE, preexec_fn=low_limit)
            from harness import LineCollector
            lb.log = LineCollector(lb.process.stderr)
            try:
                lb.log.wait_for(r"process 1 ready")
                port = int(lb.log.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1))
                socks = []
                for _ in range(40):  # two descriptors each: past the limit of 48
                    s = socket.create_connection(("127.0.0.1", port), timeout=5)
                    socks.append(s)
                lb.log.wait_for(r"accept: Too many open files; pausing")
                # Paused, not spinning: under 20% of a core over a second.
                def cpu():
                    with open("/proc/%d/stat" % lb.process.pid) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                before = cpu()
                time.sleep(1.0)
                self.assertLess(cpu() - before, 0.2)
                self.assertEqual(len(lb.log.find_all(r"pausing until a connection closes")), 1)
                for s in socks:
                    s.close()
                # It recovers: a new client is served.
                wait_until(lambda: echo_once(port, b"again") == b"again", timeout=10,
                           message="service after the descriptors came back")
            finally:
                lb.process.send_signal(signal.SIGTERM)
                lb.process.wait(10)


class Daemon(unittest.TestCase):
    def test_daemon_mode_writes_the_pid_file_and_stops_on_sigterm(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            pidfile = os.path.join(tmp, "tierlb.pid")
            config_path = os.path.join(tmp, "d.cfg")
            with open(config_path, "w") as f:
                f.write(one_tier([backend.port], ["127.0.0.1:0"]))
            started = subprocess.run([TIERLB, "-D", "-p", pidfile, "-f", config_path],
                                     capture_output=True, timeout=10)
            self.assertEqual(started.returncode, 0)  # the foreground part returns at once
            master = int(wait_until(lambda: read_text(pidfile).strip()
                                    if os.path.exists(pidfile) else None))
            try:
                os.kill(master, 0)  # alive
            finally:
                os.kill(master, signal.SIGTERM)
            wait_until(lambda: not os.path.exists("/proc/%d" % master) or
                       read_text("/proc/%d/stat" % master).split()[2] == "Z",
                       message="the daemon to stop")


if __name__ == "__main__":
    unittest.main()
