"""The processes a bench scenario starts, and the small probes it needs around them.

Every process goes through a Registry, so one finally block stops them all by pid (SIGTERM,
then SIGKILL after a deadline), even after Ctrl-C. Nothing is ever killed by name.
"""

import collections
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time


class Interrupted(Exception):
    """Raised in the driver's main thread by SIGINT/SIGTERM (see install_signal_handlers)."""


class _Critical:
    """A section during which SIGINT/SIGTERM are noted and raised only at its end."""

    def __init__(self):
        self.depth = 0
        self.pending = None

    def __enter__(self):
        self.depth += 1

    def __exit__(self, *exc):
        self.depth -= 1
        if self.depth == 0 and self.pending and exc[0] is None:
            name, self.pending = self.pending, None
            raise Interrupted(name)
        return False


CRITICAL = _Critical()


def install_signal_handlers():
    """SIGINT and SIGTERM raise Interrupted in the main thread (deferred inside CRITICAL)."""

    def handler(signum, _frame):
        name = signal.Signals(signum).name
        if CRITICAL.depth:
            CRITICAL.pending = name
            return
        raise Interrupted(name)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def ignore_signals():
    """For the final cleanup: a second Ctrl-C must not interrupt the stopping of processes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class LineTail:
    """Reads a pipe on a thread: tees each line to a log, keeps the last ones, records the
    matches of some patterns, and lets a caller wait for a condition with a deadline."""

    def __init__(self, pipe, log, patterns=None, keep=60, on_match=None):
        self.tail = collections.deque(maxlen=keep)
        self.found = {name: [] for name in (patterns or {})}
        self.found_at = {name: [] for name in (patterns or {})}  # time.monotonic() of each
        self.eof = False
        self._patterns = {name: re.compile(rx) for name, rx in (patterns or {}).items()}
        # on_match(name, groups) runs on the reader thread the moment a line matches: for
        # what must happen then, not when the driver next looks (reading CPU times at a mark).
        self._on_match = on_match
        self._log = log
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe):
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if self._log:
                self._log.write(line + "\n")
                self._log.flush()
            with self._cond:
                self.tail.append(line)
                for name, rx in self._patterns.items():
                    match = rx.search(line)
                    if match:
                        if self._on_match:
                            self._on_match(name, match.groups())
                        self.found[name].append(match.groups())
                        self.found_at[name].append(time.monotonic())
                self._cond.notify_all()
        pipe.close()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def wait(self, condition, deadline):
        """Waits until condition(self) is true, the pipe ends, or time.monotonic() > deadline.
        Returns condition(self) at that point."""
        with self._cond:
            while not condition(self) and not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.2))
            return condition(self)

    def lines(self):
        with self._cond:
            return list(self.tail)

    def join(self, timeout=2.0):
        self._thread.join(timeout)


# Popen's arguments for a child in a process group of its own (Python 3.11 has them built in).
NEW_PROCESS_GROUP = ({"process_group": 0} if sys.version_info >= (3, 11)
                     else {"preexec_fn": os.setpgrp})


class Proc:
    """One started process. stdout/stderr are teed to logs/<name>.log; either may also be
    captured as a LineTail (with patterns) for the driver to read."""

    def __init__(self, name, argv, log_path, capture_stdout=False, capture_stderr=False,
                 patterns=None, on_match=None, stdin_pipe=False):
        self.name = name
        self.argv = [str(a) for a in argv]
        self._log = open(log_path, "a", encoding="utf-8")
        self._log.write("### " + " ".join(self.argv) + "\n")
        self._log.flush()
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else self._log,
            stderr=subprocess.PIPE if capture_stderr else self._log,
            # Its own process group, so that a Ctrl-C in the terminal reaches the driver only,
            # which then stops everything in order; but the driver's session. A session of its
            # own would also be a scheduling group of its own (Linux's autogroup, on by default):
            # CPU would then be shared between sessions before threads, and a system of three
            # processes started apart (HAProxy's two tiers) would weigh three times one whose
            # processes share a session (tierlb's master and its children) on busy cores.
            **NEW_PROCESS_GROUP,
        )
        self.pid = self.popen.pid
        self.stdout = (LineTail(self.popen.stdout, self._log, patterns, on_match=on_match)
                       if capture_stdout else None)
        self.stderr = (LineTail(self.popen.stderr, self._log, patterns, on_match=on_match)
                       if capture_stderr else None)

    def alive(self):
        return self.popen.poll() is None

    def send(self, line):
        """Writes LINE and a newline to its stdin (stdin_pipe=True); False if it is gone."""
        try:
            self.popen.stdin.write(line.encode() + b"\n")
            self.popen.stdin.flush()
            return True
        except (OSError, ValueError, AttributeError):
            return False

    def signal(self, signum):
        if self.alive():
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        """Waits up to timeout seconds; returns the exit code or None if still running."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, deadline_s=5.0):
        """SIGTERM, then SIGKILL if it is still there after deadline_s. Returns the exit code."""
        if self.popen.stdin:
            try:
                self.popen.stdin.close()
            except OSError:
                pass
        if self.alive():
            self.signal(signal.SIGTERM)
            if self.wait(deadline_s) is None:
                self.signal(signal.SIGKILL)
                self.wait(5.0)
        for tail in (self.stdout, self.stderr):
            if tail:
                tail.join()
        if not self._log.closed:
            self._log.close()
        return self.popen.returncode


class Registry:
    """Every process the driver started, stopped in reverse order by stop_all()."""

    def __init__(self, logs_dir):
        self.logs_dir = logs_dir
        self._procs = []
        self._foreign = []  # (pid, expected word in its command line): children of our children

    def start(self, name, argv, log_name=None, **kwargs):
        # A Ctrl-C between the fork and the registration would leak the process, so the
        # driver's handler defers it until then. (Blocking the signals instead would not do:
        # children inherit the signal mask and would then ignore our SIGTERM.)
        with CRITICAL:
            log_path = os.path.join(self.logs_dir, (log_name or name) + ".log")
            proc = Proc(name, argv, log_path, **kwargs)
            self._procs.append(proc)
        return proc

    def stop(self, proc, deadline_s=5.0):
        code = proc.stop(deadline_s)
        if proc in self._procs:
            self._procs.remove(proc)
        return code

    def watch_foreign(self, pid, expect):
        """Remembers a process we did not start ourselves (a tierlb worker) to kill if its
        parent leaves it behind; `expect` must appear in its command line, against pid reuse."""
        self._foreign.append((pid, expect))

    def reap_foreign(self, deadline_s=2.0):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end and any(pid_matches(p, w) for p, w in self._foreign):
            time.sleep(0.05)
        for pid, expect in self._foreign:
            if pid_matches(pid, expect):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._foreign.clear()

    def stop_all(self):
        for proc in reversed(list(self._procs)):
            self.stop(proc)
        self.reap_foreign()


def pid_matches(pid, expect):
    """True if pid is alive (not a zombie) and its command line contains `expect`."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z" and expect in cmdline


def cpu_seconds(pid):
    """User + system CPU time of pid so far, in seconds, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields after the command: state is [0], utime [11], stime [12] (proc(5) numbers 14, 15).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds():
    """CPU time the whole machine has spent busy (all cores, every process and the kernel),
    in seconds since boot, from /proc/stat; None if unreadable."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    values = [int(v) for v in fields[1:9]]
    busy = sum(values) - values[3] - values[4]
    return busy / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid):
    """VmRSS of pid in bytes, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def abns_address(name):
    """HAProxy's abns@NAME: a leading NUL, the name, zero-filled to the whole sun_path."""
    raw = b"\0" + name.encode()
    return raw + b"\0" * (108 - len(raw))


def probe_connect(family, address, timeout=0.5):
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(address)
        return True
    except OSError:
        return False


def probe_tcp(port, expect, timeout=1.0):
    """An end-to-end check through whatever listens on 127.0.0.1:port. expect is "echo" (a byte
    comes back), "source" (bytes arrive unasked) or "connect" (the connect succeeds)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            if expect == "echo":
                s.sendall(b"p")
                return s.recv(1) == b"p"
            if expect == "source":
                return len(s.recv(1)) == 1
            return True
    except OSError:
        return False


def probe_tls(port, expect, server_name=None, timeout=2.0):
    """probe_tcp through a TLS listener: the handshake (no verification: the benchmark's
    certificate is self-signed), then the same check inside TLS."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=server_name) as s:
                if expect == "echo":
                    s.sendall(b"p")
                    return s.recv(1) == b"p"
                if expect == "source":
                    return len(s.recv(1)) == 1
                return True
    except (OSError, ssl.SSLError):
        return False


def poll_until(check, deadline_s, interval_s=0.05):
    """Calls check() until it returns true or deadline_s passes; returns the last result."""
    end = time.monotonic() + deadline_s
    while True:
        result = check()
        if result or time.monotonic() >= end:
            return result
        time.sleep(interval_s)
