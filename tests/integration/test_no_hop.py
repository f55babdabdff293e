"""Issue [9]: no-hop mode. `bind ... process 1-3 accept-balance leastconn`: the three processes
share the port with SO_REUSEPORT and an eBPF program loaded by the master makes the kernel
place each new connection on the process with the fewest. Real processes, real connections:
the distribution of [2] (bursts, random closes, gaps refilled one at a time), drain and
weights, a worker killed with connections in its queue and during a burst, a reload, and the
fallback to plain SO_REUSEPORT where loading the program is refused.

Where the machine forbids eBPF (no CAP_BPF/CAP_SYS_ADMIN, an old kernel, tierlb built without
clang and libbpf), the tests that need it are skipped, saying why (ctest shows them skipped);
the fallback test runs everywhere it can drop the capabilities."""

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from harness import (EchoBackend, EchoClients, Tierlb, read_text, run_tierlb, show_stat,
                     stats_command, wait_until)
from test_dispatcher import open_burst, spread

PROCESSES = (1, 2, 3)


def no_hop_config(backend_port, tmp, bind_options="", processes=PROCESSES, global_extra=()):
    """PROCESSES (three unless said) sharing 127.0.0.1:0 with accept-balance, each with its own
    stats socket on a path (a reload takes a path over; an abns@ name could not be bound
    twice)."""
    lines = ["global"]
    lines += ["    stats socket %s process %d level admin" % (stats_path(tmp, n), n)
              for n in processes]
    lines += ["    " + line for line in global_extra]
    lines += [
        "defaults",
        "    mode tcp",
        "    timeout connect 2s",
        "    timeout client 1h",
        "    timeout server 1h",
        "listen web",
        "    bind 127.0.0.1:0 process %d-%d accept-balance leastconn %s" % (
            processes[0], processes[-1], bind_options),
        "    server app 127.0.0.1:%d" % backend_port,
    ]
    return "\n".join(lines) + "\n"


def stats_path(tmp, process):
    return os.path.join(tmp, "p%d.sock" % process)


def info(tmp, process):
    text = stats_command(stats_path(tmp, process), "show info")
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def held(tmp, processes=PROCESSES):
    """{process: connections it holds}: each process's own FRONTEND scur, the ground truth."""
    counts = {}
    for n in processes:
        for row in show_stat(stats_path(tmp, n)):
            if row["pxname"] == "web" and row["svname"] == "FRONTEND":
                counts[n] = int(row["scur"])
    return counts


def slot_rows(tmp, asked=1):
    """{process: its row of the bind} as process ASKED shows the whole group (type 3 rows)."""
    return {int(row["pid"]): row for row in show_stat(stats_path(tmp, asked))
            if row["pxname"] == "web" and row["type"] == "3"}


def settled(tmp, total, processes=PROCESSES):
    """The counts once the processes hold TOTAL connections between them."""
    return wait_until(lambda: (lambda c: c if sum(c.values()) == total else None)(
        held(tmp, processes)), timeout=5.0, message="the processes to hold %d" % total)


def skip_unless_ebpf(test, tmp):
    mode = info(tmp, 1).get("AcceptBalance", "")
    if not mode.startswith("eBPF"):
        test.skipTest("eBPF not available on this machine, accept-balance runs as %r" % mode)
    return mode


class NoHopCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tierlb-nohop-")
        self.backend = EchoBackend()

    def tearDown(self):
        self.backend.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, prefix=(), bind_options="", args=()):
        lb = Tierlb(no_hop_config(self.backend.port, self.tmp, bind_options), prefix=prefix,
                    args=args)
        self.addCleanup(lb.stop)
        return lb.start()


def reload(lb, tmp, config=None, processes=PROCESSES):
    """Reloads LB (with CONFIG written first, if given) and waits for the new PROCESSES to
    answer on the stats sockets."""
    if config is not None:
        with open(lb.config_path, "w") as f:
            f.write(config)
    mark = lb.log.count()
    lb.process.send_signal(signal.SIGUSR2)
    lb.log.wait_for(r"master: reload done", start=mark)
    for n in processes:
        lb.log.wait_for(r"\(%d\) : process %d ready" % (lb.pid_of(n), n), start=mark)
    wait_until(lambda: all(info(tmp, n)["Pid"] == str(lb.pid_of(n)) for n in processes),
               message="the new processes to answer on the stats sockets")
    return mark


def slot_counts(tmp, asked=1):
    """{process: the kernel's count of its slot} (show stat's scur of the group's rows)."""
    return {n: int(r["scur"]) for n, r in slot_rows(tmp, asked).items()}


def weights(tmp, asked=1):
    return {n: int(r["weight"]) for n, r in slot_rows(tmp, asked).items()}


class Distribution(NoHopCase):
    def test_bursts_random_closes_and_gaps_filled_one_by_one(self):
        """90 long-lived connections in bursts of 30 (the SYNs of a burst arrive together), 40
        closed at random, then new connections one at a time: every process within one of the
        others after each burst, and each new connection on a process with the fewest. The
        rows of show stat count what the processes hold."""
        rng = random.Random(9)
        lb = self.start()
        skip_unless_ebpf(self, self.tmp)
        port = lb.port("web")
        socks = []
        for total in (30, 60, 90):
            socks += open_burst(port, 30)
            counts = settled(self.tmp, total)
            self.assertLessEqual(spread(counts), 1, counts)
        rows = slot_rows(self.tmp, asked=2)
        self.assertEqual({n: int(r["scur"]) for n, r in rows.items()}, counts)
        self.assertEqual({r["status"] for r in rows.values()}, {"UP"})
        self.assertEqual(sum(int(r["lbtot"]) for r in rows.values()), 90)

        for s in rng.sample(socks, 40):
            socks.remove(s)
            s.close()
        counts = settled(self.tmp, 50)
        # The processes take the ended connections off their slots.
        wait_until(lambda: {n: int(r["scur"]) for n, r in slot_rows(self.tmp).items()} ==
                   counts, timeout=3.0, message="the slots to follow the closes")
        refills = 0
        while spread(counts) > 1:
            fewest = min(counts.values())
            socks += open_burst(port, 1)
            after = settled(self.tmp, sum(counts.values()) + 1)
            grown = [n for n in after if after[n] == counts[n] + 1]
            self.assertEqual(len(grown), 1, (counts, after))
            self.assertEqual(counts[grown[0]], fewest,
                             "a new connection went to a process without the fewest")
            counts = after
            refills += 1
            self.assertLess(refills, 40)
        for s in socks:
            s.close()
        settled(self.tmp, 0)

    def test_segments_that_open_nothing_are_not_counted(self):
        """Bare ACKs and RSTs that match no connection (what a mass close leaves behind) reach
        the listener lookup, so the program runs for them; only a SYN opens a connection, so
        they must not count in any slot, or the next connections would avoid that process."""
        lb = self.start()
        skip_unless_ebpf(self, self.tmp)
        port = lb.port("web")
        try:
            before = resets_sent()
            send_stray_segments(port, 0x10, 30)
            send_stray_segments(port, 0x04, 30)
        except PermissionError:
            self.skipTest("no raw sockets here (CAP_NET_RAW)")
        wait_until(lambda: resets_sent() >= before + 30, timeout=3.0,
                   message="the kernel to answer the bare ACKs (they reached the listener)")
        rows = slot_rows(self.tmp)
        self.assertEqual({n: r["scur"] for n, r in rows.items()}, {1: "0", 2: "0", 3: "0"})
        socks = open_burst(port, 9)
        self.assertEqual(settled(self.tmp, 9), {1: 3, 2: 3, 3: 3})
        for s in socks:
            s.close()


def checksum(data):
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def send_stray_segments(port, flags, count):
    """COUNT bare TCP segments with FLAGS (0x10 ACK, 0x04 RST) to 127.0.0.1:PORT from ports
    no connection uses, through a raw socket: each finds no connection, so the kernel looks
    the listener up for it (and answers an ACK with a RST)."""
    address = socket.inet_aton("127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as raw:
        for i in range(count):
            header = struct.pack("!HHIIBBHHH", 61000 + i, port, 1000 + i, 2000 + i, 5 << 4,
                                 flags, 1024, 0, 0)
            pseudo = struct.pack("!4s4sBBH", address, address, 0, socket.IPPROTO_TCP,
                                 len(header))
            header = header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]
            raw.sendto(header, ("127.0.0.1", 0))


def resets_sent():
    """The kernel's count of RSTs it sent (/proc/net/snmp, Tcp OutRsts)."""
    rows = [line.split() for line in read_text("/proc/net/snmp").splitlines()
            if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("OutRsts")])


class Admin(NoHopCase):
    def test_drain_maint_and_weights(self):
        """`set accept-balance` on any process of the group: a drained process, one in
        maintenance and one of weight 0 get no new connection; back to ready, a process gets
        the new ones until it has caught up; weight 2 takes twice the connections."""
        lb = self.start()
        skip_unless_ebpf(self, self.tmp)
        port = lb.port("web")
        socks = open_burst(port, 6)
        settled(self.tmp, 6)

        def command(text, asked=3):
            self.assertEqual(stats_command(stats_path(self.tmp, asked), text), "\n", text)

        for state in ("state drain", "state maint", "weight 0"):
            before = settled(self.tmp, len(socks))
            command("set accept-balance web/sock-1@p2 %s" % state)
            self.assertIn(slot_rows(self.tmp)[2]["status"], ("DRAIN", "MAINT"))
            socks += open_burst(port, 6)
            after = settled(self.tmp, len(socks))
            self.assertEqual(after[2], before[2], "%s: process 2 got connections" % state)
            command("set accept-balance web/sock-1@p2 state ready")
            command("set accept-balance web/sock-1@p2 weight 1")
        # Back in service with the fewest: the next ones go to process 2 until it catches up.
        counts = settled(self.tmp, len(socks))
        behind = max(counts.values()) - counts[2]
        socks += open_burst(port, behind)
        after = settled(self.tmp, len(socks))
        self.assertEqual(after[2], counts[2] + behind, (counts, after))
        # Weight 2 on process 1: of 40 new connections it takes about twice the others' share.
        command("set accept-balance web/sock-1@p1 weight 2", asked=2)
        counts = settled(self.tmp, len(socks))
        for _ in range(4):
            socks += open_burst(port, 10)
        after = settled(self.tmp, len(socks))
        gained = {n: after[n] - counts[n] for n in PROCESSES}
        self.assertGreaterEqual(gained[1], gained[2] + gained[3] - 4, gained)
        self.assertEqual(slot_rows(self.tmp)[1]["weight"], "2")
        for s in socks:
            s.close()


class Weights(NoHopCase):
    WEIGHTED = "accept-weight 1:0 accept-weight 2:1 accept-weight 3:3"

    def test_configured_weights_place_connections_in_proportion(self):
        """accept-weight 1:0 2:1 3:3: of 40 connections, in bursts of 10, process 1 gets none,
        processes 2 and 3 share them 1:3 (10 and 30, within one), and show stat's weight
        column has the configured weights in every process."""
        lb = self.start(bind_options=self.WEIGHTED)
        skip_unless_ebpf(self, self.tmp)
        for asked in PROCESSES:
            self.assertEqual(weights(self.tmp, asked), {1: 0, 2: 1, 3: 3})
        socks = []
        for _ in range(4):
            socks += open_burst(lb.port("web"), 10)
        counts = settled(self.tmp, 40)
        self.assertEqual(counts[1], 0, counts)
        self.assertLessEqual(abs(counts[2] - 10), 1, counts)
        self.assertLessEqual(abs(counts[3] - 30), 1, counts)
        for s in socks:
            s.close()

    def test_a_reload_applies_the_weights_the_file_changed(self):
        """A reload that keeps the group applies the weights the file changed (process 2: 1
        to 3, process 3: 3 to accept-weight's default 1) and keeps a weight set at run time
        where the file did not change it (process 1: 0 in the file, 2 by the stats socket)."""
        lb = self.start(bind_options=self.WEIGHTED)
        skip_unless_ebpf(self, self.tmp)
        self.assertEqual(stats_command(stats_path(self.tmp, 2),
                                       "set accept-balance web/sock-1@p1 weight 2"), "\n")
        self.assertEqual(weights(self.tmp), {1: 2, 2: 1, 3: 3})
        reload(lb, self.tmp, no_hop_config(self.backend.port, self.tmp,
                                                  "accept-weight 1:0 accept-weight 2:3"))
        self.assertEqual(weights(self.tmp, asked=3), {1: 2, 2: 3, 3: 1})
        self.assertEqual(len(lb.log.find_all(r"reload: process 2's accept-weight is 3 "
                                             r"\(it was 1\)")), 1)
        self.assertEqual(len(lb.log.find_all(r"reload: process 3's accept-weight is 1 "
                                             r"\(it was 3\)")), 1)
        self.assertEqual([m for m in lb.log.find_all(r"accept-weight is")
                          if "process 1's" in m.string], [])
        # And they are the ones the kernel uses: 2:3:1 over 24 new connections.
        socks = open_burst(lb.port("web"), 12) + open_burst(lb.port("web"), 12)
        counts = settled(self.tmp, 24)
        for n, share in ((1, 8), (2, 12), (3, 4)):
            self.assertLessEqual(abs(counts[n] - share), 1, counts)
        for s in socks:
            s.close()

    def test_configuration_errors_name_the_line(self):
        """tierlb -c: a process outside the bind's, a weight out of range, accept-weight
        without accept-balance: exit 1, FILE:LINE and the reason."""
        for options, reason in (
                ("accept-balance leastconn accept-weight 4:2",
                 "'accept-weight 4:2': process 4 is not among the bind's processes (1-3)"),
                ("accept-balance leastconn accept-weight 2:300",
                 "'accept-weight 2:300': weight: "),
                ("accept-weight 2:2", "'accept-weight' needs 'accept-balance leastconn'")):
            text = no_hop_config(self.backend.port, self.tmp).replace(
                "accept-balance leastconn ", options + " ")
            path = os.path.join(self.tmp, "bad.cfg")
            with open(path, "w") as f:
                f.write(text)
            line = text.splitlines().index(
                [x for x in text.splitlines() if x.strip().startswith("bind ")][0]) + 1
            code, _, err = run_tierlb(["-c", "-f", path])
            self.assertEqual(code, 1, err)
            self.assertIn("%s:%d: " % (path, line), err)
            self.assertIn(reason, err)


def read_echo(s, length, timeout=5.0):
    """The LENGTH bytes a connection's echo sends back (fewer if it closed first)."""
    s.settimeout(timeout)
    with s.makefile("rb") as f:
        return f.read(length)


class WorkerLoss(NoHopCase):
    def test_connections_queued_on_a_killed_worker_go_to_the_others(self):
        """Process 2 stops (SIGSTOP) with 10 connections; of 15 new ones, the kernel queues 5
        on its socket. It is killed: its slot goes down, and (where the kernel migrates) the
        5 queued connections are served by processes 1 and 3 at once, not at its restart.
        Restarted, process 2 joins again with no connection and gets the next ones."""
        lb = self.start()
        mode = skip_unless_ebpf(self, self.tmp)
        migrates = "wait for a restart" not in mode
        port = lb.port("web")
        socks = open_burst(port, 30)
        self.assertEqual(settled(self.tmp, 30), {1: 10, 2: 10, 3: 10})
        victim = lb.pid_of(2)
        os.kill(victim, signal.SIGSTOP)
        queued = []
        for i in range(15):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"queued %d" % i)
            queued.append(s)
        # Processes 1 and 3 take 10 of them; 5 wait in the stopped process's queue.
        self.assertEqual(settled(self.tmp, 30, (1, 3)), {1: 15, 3: 15})
        mark = lb.log.count()
        os.kill(victim, signal.SIGKILL)
        lb.log.wait_for(r"process 2 was killed by signal 9", start=mark)
        if migrates:
            moved = lb.log.wait_for(r"'web', bind .*: process 2 is gone, (\d+) connections "
                                    r"queued for it went to the other processes", start=mark)
            self.assertEqual(int(moved.group(1)), 5)
            # Served now, by the two others (leastconn between them), not at the restart.
            self.assertEqual(sorted(settled(self.tmp, 35, (1, 3)).values()), [17, 18])
        for i, s in enumerate(queued):
            self.assertEqual(read_echo(s, len(b"queued %d" % i)), b"queued %d" % i)
        lb.log.wait_for(r"process 2 started \(pid (?!%d\))" % victim, start=mark)
        restarted = lb.pid_of(2)
        lb.log.wait_for(r"\(%d\) : process 2 ready" % restarted, start=mark)
        counts = settled(self.tmp, 35 if migrates else 40)
        self.assertEqual(counts[2], 0 if migrates else 5)
        self.assertEqual(slot_rows(self.tmp)[2]["status"], "UP")
        # It has the fewest: the next connections, one at a time, are its own.
        for _ in range(5):
            queued += open_burst(port, 1)
        self.assertEqual(settled(self.tmp, sum(counts.values()) + 5)[2], counts[2] + 5)
        for s in socks + queued:
            s.close()

    def test_worker_killed_during_a_burst_fails_no_new_connection(self):
        """Clients connect one after the other (connect, echo, close) while process 2 is
        killed: every connection that starts after the kill is served (the dead slot is
        skipped, connections the kernel placed on it before the master noticed are moved or
        wait for the restart); at most the one in the middle of its exchange with the killed
        process fails."""
        lb = self.start()
        skip_unless_ebpf(self, self.tmp)
        with EchoClients(lb.port("web")) as clients:
            results = clients.results
            wait_until(lambda: len(results) >= 30, message="traffic before the kill")
            victim = lb.pid_of(2)
            mark = lb.log.count()
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            lb.log.wait_for(r"process 2 started \(pid (?!%d\))" % victim, start=mark)
            lb.log.wait_for(r"\(%d\) : process 2 ready" % lb.pid_of(2), start=mark)
            count = len(results)
            wait_until(lambda: len(results) >= count + 30, message="traffic after the restart")
        after = [ok for started, ok in results if started >= killed_at]
        before = [ok for started, ok in results if started < killed_at]
        self.assertTrue(all(after), "%d of %d new connections failed" %
                        (after.count(False), len(after)))
        self.assertLessEqual(before.count(False), 1)


class Reload(NoHopCase):
    def test_a_reload_keeps_the_group(self):
        """After a reload the new processes join the same group (their sockets are the same
        ones): still eBPF, new connections spread within one over the new processes, and the
        previous ones' connections are left to them."""
        lb = self.start()
        skip_unless_ebpf(self, self.tmp)
        port = lb.port("web")
        old = open_burst(port, 9)
        settled(self.tmp, 9)
        mark = lb.log.count()
        lb.process.send_signal(signal.SIGUSR2)
        lb.log.wait_for(r"master: reload done", start=mark)
        for n in PROCESSES:
            lb.log.wait_for(r"\(%d\) : process %d ready" % (lb.pid_of(n), n), start=mark)
        wait_until(lambda: all(info(self.tmp, n)["Pid"] == str(lb.pid_of(n)) for n in PROCESSES),
                   message="the new processes to answer on the stats sockets")
        self.assertTrue(info(self.tmp, 2)["AcceptBalance"].startswith("eBPF"))
        new = open_burst(port, 12)
        counts = settled(self.tmp, 12)
        self.assertLessEqual(spread(counts), 1, counts)
        self.assertEqual(lb.log.find_all(r"\[(WARNING|ALERT)\]"), [])
        for s in old + new:
            s.close()


def stays(test, probe, expected, seconds):
    """PROBE() equals EXPECTED at every look for SECONDS (more than two drift checks)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        test.assertEqual(probe(), expected)
        time.sleep(0.1)


class CarriedCounts(NoHopCase):
    def test_the_previous_generations_connections_stay_counted(self):
        """Process 3 drained, 12 connections go to 1 and 2; back to ready, a reload: the slots
        still count the previous processes' connections (6, 6, 0) and the drift checks of
        both generations leave them be, so the next 6 connections all go to the new process
        3. The previous processes' connections closing lower the counts, and the next ones
        fill processes 1 and 2 again."""
        lb = self.start()
        skip_unless_ebpf(self, self.tmp)
        port = lb.port("web")
        self.assertEqual(stats_command(stats_path(self.tmp, 1),
                                       "set accept-balance web/sock-1@p3 state drain"), "\n")
        old = open_burst(port, 12)
        self.assertEqual(settled(self.tmp, 12), {1: 6, 2: 6, 3: 0})
        self.assertEqual(stats_command(stats_path(self.tmp, 1),
                                       "set accept-balance web/sock-1@p3 state ready"), "\n")
        reload(lb, self.tmp)
        self.assertEqual(slot_counts(self.tmp), {1: 6, 2: 6, 3: 0})
        stays(self, lambda: slot_counts(self.tmp), {1: 6, 2: 6, 3: 0}, 2.5)
        new = []
        for _ in range(6):
            new += open_burst(port, 1)
        # The new processes hold them: all on process 3, where the total was lowest.
        self.assertEqual(settled(self.tmp, 6), {1: 0, 2: 0, 3: 6})
        self.assertEqual(slot_counts(self.tmp), {1: 6, 2: 6, 3: 6})
        stays(self, lambda: slot_counts(self.tmp, asked=2), {1: 6, 2: 6, 3: 6}, 2.5)
        for s in old:
            s.close()
        wait_until(lambda: slot_counts(self.tmp) == {1: 0, 2: 0, 3: 6}, timeout=5.0,
                   message="the previous generation's closed connections to leave the counts")
        for _ in range(6):
            new += open_burst(port, 1)
        self.assertEqual(settled(self.tmp, 12), {1: 3, 2: 3, 3: 6})
        stays(self, lambda: slot_counts(self.tmp), {1: 3, 2: 3, 3: 6}, 2.5)
        for s in new:
            s.close()

    def test_a_previous_process_killed_with_connections_leaves_no_count_behind(self):
        """After a reload, the previous process 1 is killed with its 4 connections open: once
        the master has reaped it, the connections it declared leave process 1's count (the new
        process 1's drift check takes them off), and new connections go there again."""
        lb = self.start()
        skip_unless_ebpf(self, self.tmp)
        port = lb.port("web")
        old = open_burst(port, 12)
        self.assertEqual(settled(self.tmp, 12), {1: 4, 2: 4, 3: 4})
        previous = lb.pid_of(1)
        reload(lb, self.tmp)
        self.assertEqual(slot_counts(self.tmp), {1: 4, 2: 4, 3: 4})
        mark = lb.log.count()
        os.kill(previous, signal.SIGKILL)
        lb.log.wait_for(r"process 1 of the previous configuration \(pid %d\) was killed" %
                        previous, start=mark)
        wait_until(lambda: slot_counts(self.tmp) == {1: 0, 2: 4, 3: 4}, timeout=5.0,
                   message="the killed process's connections to leave process 1's count")
        new = []
        for _ in range(4):
            new += open_burst(port, 1)
        self.assertEqual(settled(self.tmp, 4), {1: 4, 2: 0, 3: 0})
        for s in old + new:
            s.close()


class ReloadChanges(NoHopCase):
    def test_a_reload_that_adds_a_process_makes_the_group_anew(self):
        """Processes 1-3, then a reload to 1-4 while clients connect one after the other: no
        connection fails during the reload, the master makes a group of four (process 4 with
        its accept-weight), and new connections spread over the four by weight, process 4
        included; the previous processes' connections are not in the new group's counts."""
        lb = self.start()
        skip_unless_ebpf(self, self.tmp)
        port = lb.port("web")
        old = open_burst(port, 6)
        settled(self.tmp, 6)
        four = (1, 2, 3, 4)
        with EchoClients(port) as clients:
            wait_until(lambda: len(clients.results) >= 20, message="traffic before the reload")
            mark = reload(lb, self.tmp, no_hop_config(self.backend.port, self.tmp,
                                                      "accept-weight 4:2", processes=four),
                          processes=four)
            count = len(clients.results)
            wait_until(lambda: len(clients.results) >= count + 20,
                       message="traffic after the reload")
        failed = [started for started, ok in clients.results if not ok]
        self.assertEqual(failed, [], "%d of %d connections failed" % (len(failed),
                                                                      len(clients.results)))
        made = lb.log.find_all(r"'web', bind '127.0.0.1:0' .*: accept-balance leastconn: the "
                               r"kernel places each connection")
        self.assertEqual(len([m for m in made if lb.log.lines.index(m.string) >= mark]), 1)
        for n in four:
            self.assertTrue(info(self.tmp, n)["AcceptBalance"].startswith("eBPF"))
        self.assertEqual(weights(self.tmp, asked=4), {1: 1, 2: 1, 3: 1, 4: 2})
        wait_until(lambda: slot_counts(self.tmp) == {1: 0, 2: 0, 3: 0, 4: 0}, timeout=5.0,
                   message="the new group to count no connection (the clients' have ended)")
        new = []
        for _ in range(5):
            new += open_burst(port, 1)
        self.assertEqual(settled(self.tmp, 5, four), {1: 1, 2: 1, 3: 1, 4: 2})
        self.assertEqual(slot_counts(self.tmp, asked=4), {1: 1, 2: 1, 3: 1, 4: 2})
        for s in old + new:
            s.close()

    def test_a_refused_reload_leaves_the_groups_as_they_were(self):
        """An invalid file (accept-weight for a process the bind has not): the reload is
        refused, and the group goes on as it was: the same processes, counts, weights (from
        the file and set at run time) and distribution."""
        lb = self.start(bind_options="accept-weight 1:2")
        skip_unless_ebpf(self, self.tmp)
        port = lb.port("web")
        self.assertEqual(stats_command(stats_path(self.tmp, 1),
                                       "set accept-balance web/sock-1@p3 weight 0"), "\n")
        socks = open_burst(port, 9)
        self.assertEqual(settled(self.tmp, 9), {1: 6, 2: 3, 3: 0})
        pids = {n: lb.pid_of(n) for n in PROCESSES}
        with open(lb.config_path, "w") as f:
            f.write(no_hop_config(self.backend.port, self.tmp, "accept-weight 7:2"))
        mark = lb.log.count()
        lb.process.send_signal(signal.SIGUSR2)
        lb.log.wait_for(r"master: reload refused: the new configuration has 1 error", start=mark)
        self.assertEqual({n: lb.pid_of(n) for n in PROCESSES}, pids)
        self.assertEqual(weights(self.tmp), {1: 2, 2: 1, 3: 0})
        stays(self, lambda: slot_counts(self.tmp), {1: 6, 2: 3, 3: 0}, 2.5)
        socks += open_burst(port, 6)
        self.assertEqual(settled(self.tmp, 15), {1: 10, 2: 5, 3: 0})
        for s in socks:
            s.close()

    def test_a_reload_undone_gives_back_counts_and_weights(self):
        """A reload whose process 3 cannot start (its new abns@ stats socket is taken) is
        undone after the others started: the weight it changed (process 2: 1 to 3) is back,
        the previous processes count their connections as before (their drift checks agree
        with the counts), and new connections go by the previous weights."""
        cli = os.path.join(self.tmp, "master.sock")
        lb = self.start(args=["-S", cli])
        skip_unless_ebpf(self, self.tmp)
        port = lb.port("web")
        socks = open_burst(port, 9)
        self.assertEqual(settled(self.tmp, 9), {1: 3, 2: 3, 3: 3})
        pids = {n: lb.pid_of(n) for n in PROCESSES}

        # The new processes took the stats sockets' paths over: the master CLI reaches the
        # processes it serves with.
        def rows(n):
            text = stats_command(cli, "@%d show stat" % n)
            lines = [line for line in text.splitlines() if line]
            names = lines[0][2:].split(",")
            return [dict(zip(names, line.split(","))) for line in lines[1:]
                    if line.startswith("web,")]

        def held_by_previous():
            return {n: int(r["scur"]) for n in PROCESSES for r in rows(n)
                    if r["svname"] == "FRONTEND"}

        def group(column):
            return {int(r["pid"]): int(r[column]) for r in rows(2) if r["type"] == "3"}

        taken = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(taken.close)
        name = "tierlb-nohop-%d-%d" % (os.getpid(), time.monotonic_ns())
        taken.bind("\0" + name)
        with open(lb.config_path, "w") as f:
            f.write(no_hop_config(self.backend.port, self.tmp, "accept-weight 2:3",
                                  global_extra=["stats socket abnsz@%s process 3" % name]))
        mark = lb.log.count()
        lb.process.send_signal(signal.SIGUSR2)
        lb.log.wait_for(r"master: reload failed: process 3 of the new configuration could "
                        r"not start", start=mark)
        for n in PROCESSES:
            self.assertTrue(os.path.exists("/proc/%d" % pids[n]))
            self.assertIn("\nPid: %d\n" % pids[n], "\n" + stats_command(cli, "@%d show info" % n))
        self.assertEqual(group("weight"), {1: 1, 2: 1, 3: 1})
        stays(self, lambda: group("scur"), {1: 3, 2: 3, 3: 3}, 2.5)
        socks += open_burst(port, 6)
        wait_until(lambda: sum(held_by_previous().values()) == 15, timeout=5.0,
                   message="the previous processes to hold 15 connections")
        self.assertEqual(held_by_previous(), {1: 5, 2: 5, 3: 5})
        self.assertEqual(group("scur"), {1: 5, 2: 5, 3: 5})
        for s in socks:
            s.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Alone(NoHopCase):
    """`tierlb -f FILE --process N` for each process, no master (one systemd unit each): the
    group's program and maps are pinned in bpffs (a private mount here, through
    TIERLB_BPF_PIN_DIR), made by the first process and opened by the others."""

    def setUp(self):
        super().setUp()
        self.bpffs = os.path.join(self.tmp, "bpffs")
        os.mkdir(self.bpffs)
        mounted = subprocess.run(["mount", "-t", "bpf", "bpf", self.bpffs], capture_output=True)
        if mounted.returncode != 0:
            self.skipTest("cannot mount a bpffs here: %s" % mounted.stderr.decode().strip())
        self.addCleanup(subprocess.run, ["umount", self.bpffs], capture_output=True)
        self.port = free_port()
        self.config = no_hop_config(self.backend.port, self.tmp).replace(
            "bind 127.0.0.1:0 ", "bind 127.0.0.1:%d " % self.port)

    def start_alone(self, numbers, root=None):
        """Starts the processes NUMBERS at once, each alone; returns {number: Tierlb}."""
        env = {"TIERLB_BPF_PIN_DIR": os.path.join(root or self.bpffs, "tierlb")}
        started = {}
        for n in numbers:
            lb = Tierlb(self.config, args=["--process", str(n)], wait_ready=False, env=env)
            self.addCleanup(lb.stop)
            started[n] = lb.start()
        for n, lb in started.items():
            lb.log.wait_for(r"\(%d\) : process %d ready" % (lb.process.pid, n))
        return started

    def test_processes_alone_share_one_group_through_bpffs(self):
        """Three processes started together (the first makes the group, the others open it):
        leastconn over the three; process 2 killed: its row is DOWN and the next connections
        go to the others; started again, it starts its slot afresh and gets the next ones."""
        alone = self.start_alone(PROCESSES)
        mode = info(self.tmp, 1)["AcceptBalance"]
        if "built without eBPF" in mode or "CAP_BPF" in mode:
            self.skipTest("eBPF not available on this machine: %s" % mode)
        for n in PROCESSES:
            self.assertTrue(info(self.tmp, n)["AcceptBalance"].startswith("eBPF leastconn"))
        groups = os.listdir(os.path.join(self.bpffs, "tierlb"))
        self.assertEqual(len(groups), 1, groups)
        self.assertEqual(sorted(os.listdir(os.path.join(self.bpffs, "tierlb", groups[0]))),
                         ["program", "sockets", "table"])
        socks = []
        for total in (15, 30):
            socks += open_burst(self.port, 15)
            self.assertEqual(settled(self.tmp, total), {1: total // 3, 2: total // 3,
                                                        3: total // 3})
        self.assertEqual({n: r["status"] for n, r in slot_rows(self.tmp, 3).items()},
                         {1: "UP", 2: "UP", 3: "UP"})
        self.assertEqual(slot_counts(self.tmp, 3), {1: 10, 2: 10, 3: 10})

        # Process 2 stopped: of 6 new connections, 2 wait in its socket's queue. Killed, its
        # socket closes: the kernel takes it out of the array and (SELECT_OR_MIGRATE) places
        # its queue on the others, with no master.
        os.kill(alone[2].process.pid, signal.SIGSTOP)
        queued = []
        for i in range(6):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"queued %d" % i)
            queued.append(s)
        self.assertEqual(settled(self.tmp, 24, (1, 3)), {1: 12, 3: 12})
        alone[2].process.kill()
        alone[2].process.wait(5)
        wait_until(lambda: slot_rows(self.tmp, 1)[2]["status"] == "DOWN", timeout=5.0,
                   message="process 2's row to be DOWN")
        if "wait for a restart" not in info(self.tmp, 1)["AcceptBalance"]:
            self.assertEqual(settled(self.tmp, 26, (1, 3)), {1: 13, 3: 13})
            for i, s in enumerate(queued):
                self.assertEqual(read_echo(s, len(b"queued %d" % i)), b"queued %d" % i)
        socks += queued

        self.start_alone([2])
        self.assertEqual(slot_rows(self.tmp, 1)[2]["status"], "UP")
        self.assertEqual(slot_counts(self.tmp, 2)[2], 0)
        for _ in range(6):
            socks += open_burst(self.port, 1)
        self.assertEqual(settled(self.tmp, 32), {1: 13, 2: 6, 3: 13})
        for s in socks:
            s.close()

    def test_without_bpffs_a_process_alone_says_why_and_runs_plain_reuseport(self):
        """TIERLB_BPF_PIN_DIR on a file system that is not bpffs: one warning per process
        naming the reason, show info says SO_REUSEPORT, and connections are served."""
        plain = os.path.join(self.tmp, "plain")
        os.mkdir(plain)
        alone = self.start_alone(PROCESSES, root=plain)
        if "built without eBPF" in info(self.tmp, 1)["AcceptBalance"]:
            self.skipTest("tierlb was built without eBPF support")
        for n in PROCESSES:
            mode = info(self.tmp, n)["AcceptBalance"]
            self.assertIn("is not on a bpffs file system", mode)
            self.assertTrue(mode.startswith("SO_REUSEPORT ("), mode)
            warnings = alone[n].log.find_all(r"\[WARNING\].*accept-balance")
            self.assertEqual(len(warnings), 1, alone[n].log.lines)
        socks = open_burst(self.port, 9)
        settled(self.tmp, 9)
        for s in socks:
            s.close()


class Fallback(NoHopCase):
    def test_refused_program_warns_once_and_runs_plain_reuseport(self):
        """The master runs without CAP_BPF and CAP_SYS_ADMIN (setpriv): loading the program is
        refused, one warning says so and why, show info says SO_REUSEPORT in every process,
        and connections are served all the same."""
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            self.skipTest("setpriv (util-linux) is not installed")
        drop = [setpriv, "--bounding-set", "-bpf,-sys_admin", "--inh-caps", "-bpf,-sys_admin",
                "--"]
        probe = subprocess.run(drop + ["true"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("cannot drop capabilities here: %s" % probe.stderr.decode().strip())
        lb = self.start(prefix=drop)
        if "built without eBPF" in info(self.tmp, 1)["AcceptBalance"]:
            self.skipTest("tierlb was built without eBPF support: there is no load to refuse")
        for n in PROCESSES:
            mode = info(self.tmp, n)["AcceptBalance"]
            self.assertTrue(mode.startswith("SO_REUSEPORT ("), mode)
            self.assertIn("CAP_BPF", mode)
        warnings = lb.log.find_all(r"\[WARNING\].*accept-balance")
        self.assertEqual(len(warnings), 1, lb.log.lines)
        self.assertRegex(warnings[0].string, r"accept-balance leastconn: the kernel refused the "
                         r"eBPF program: .*'web', bind '127.0.0.1:0'.* will run on plain "
                         r"SO_REUSEPORT")
        socks = open_burst(lb.port("web"), 30)
        counts = settled(self.tmp, 30)
        self.assertEqual(set(counts), set(PROCESSES))
        self.assertEqual(slot_rows(self.tmp), {})  # no group, no rows
        for s in socks:
            s.close()


if __name__ == "__main__":
    unittest.main()
