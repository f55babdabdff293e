"""Hosts for the integration tests: Linux network namespaces joined by veth pairs, made and
removed by the test (`ip netns`, `ip link`), so that the dispatcher, the workers and the
backend each have their own network stack and reach each other over TCP at the addresses the
test gave them. Traffic never leaves these namespaces.

    with Hosts() as hosts:                       # skips the test without the privilege
        d, w = hosts.add("d"), hosts.add("w2")
        hosts.link(d, "10.77.2.1/24", w, "10.77.2.2/24")
        with entered(d):                         # this thread's sockets are in d
            ...
"""

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import unittest

from harness import TIERLB, LineCollector, Tierlb, unique

CLONE_NEWNET = 0x40000000
PREFIX = "tlbns"  # every namespace these tests make: PREFIX-PID-RANDOM-HOST
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args):
    """Runs `ip ARGS`; an error names the command and what ip said."""
    p = subprocess.run(["ip"] + list(args), capture_output=True, timeout=20)
    if p.returncode != 0:
        raise OSError("ip %s: %s" % (" ".join(args), p.stderr.decode().strip()))
    return p.stdout.decode()


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, "setns: " + os.strerror(error))


@contextlib.contextmanager
def entered(namespace):
    """The calling thread (only it: setns is per thread) in NAMESPACE until the block ends:
    the sockets it creates meanwhile belong there and keep working from any thread."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open("/run/netns/" + namespace, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def _remove_leftovers():
    """Namespaces of a test process that died without cleaning up (killed by ctest's
    timeout): the processes still in them are stopped, then the namespaces go."""
    for line in ip("netns", "list").splitlines():
        m = re.match(r"(%s-(\d+)-\S+)" % PREFIX, line)
        if not m or os.path.exists("/proc/" + m.group(2)):
            continue
        for pid in ip("netns", "pids", m.group(1)).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", m.group(1)], capture_output=True, timeout=20)


class Hosts:
    """Network namespaces ("hosts") and the veth pairs between them, all removed on close().
    Entering raises unittest.SkipTest, with the reason, where namespaces or veth pairs cannot
    be made (no CAP_SYS_ADMIN/CAP_NET_ADMIN, no veth driver, no ip command)."""

    def __init__(self):
        self.tag = unique(PREFIX)
        self.namespaces = []
        self._links = 0

    def __enter__(self):
        try:
            _remove_leftovers()
            a, b = self.add("probe-a"), self.add("probe-b")
            self.link(a, "192.0.2.1/30", b, "192.0.2.2/30")
        except (OSError, subprocess.SubprocessError) as e:
            self.close()
            raise unittest.SkipTest("cannot make network namespaces joined by veth pairs "
                                    "(needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN): %s" % e)
        for name in (a, b):
            ip("netns", "del", name)
            self.namespaces.remove(name)
        return self

    def __exit__(self, *exc):
        self.close()

    def add(self, host):
        """A new namespace for HOST, its loopback up; returns its name."""
        name = "%s-%s" % (self.tag, host)
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def link(self, a, a_address, b, b_address):
        """A veth pair between namespaces A and B, each end up with its ADDRESS (CIDR)."""
        self._links += 1
        a_end, b_end = "veth%da" % self._links, "veth%db" % self._links
        ip("-n", a, "link", "add", a_end, "type", "veth", "peer", "name", b_end, "netns", b)
        for namespace, end, address in ((a, a_end, a_address), (b, b_end, b_address)):
            ip("-n", namespace, "addr", "add", address, "dev", end)
            ip("-n", namespace, "link", "set", end, "up")

    def route_via(self, namespace, gateway):
        """NAMESPACE's default route goes through GATEWAY (an address on one of its links)."""
        ip("-n", namespace, "route", "add", "default", "via", gateway)

    def forward(self, namespace):
        """NAMESPACE routes packets between its links (a router between the other hosts)."""
        subprocess.run(["ip", "netns", "exec", namespace, "sysctl", "-qw",
                        "net.ipv4.ip_forward=1"], check=True, capture_output=True, timeout=20)

    def close(self):
        """Removes every namespace (their veth ends go with them). The processes in them must
        have been stopped first: a namespace lives on while a process is inside."""
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        self.namespaces = []


class TierlbIn(Tierlb):
    """One tierlb process alone (`--process N`, no master) inside a namespace, started with
    `ip netns exec`, which execs tierlb: the pid it has is tierlb's own."""

    def __init__(self, namespace, config, process):
        super().__init__(config, args=["--process", str(process)], wait_ready=False)
        self.namespace = namespace
        self.number = process

    def start(self):
        command = ["ip", "netns", "exec", self.namespace, TIERLB, "-f", self.config_path]
        self.process = subprocess.Popen(command + self.args, stderr=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, env=self.env)
        self.log = LineCollector(self.process.stderr)
        self.log.wait_for(r"\(%d\) : process %d ready" % (self.process.pid, self.number))
        return self
