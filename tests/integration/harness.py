"""Helpers for tierlb's integration tests: real tierlb processes on loopback and abstract
sockets, real clients and backends, deadlines instead of sleeps, and every process started
here stopped by its pid.

    with Tierlb(config_text) as lb:           # starts the master, waits until every process is ready
        port = lb.port("dispatcher")          # the port the kernel gave "bind 127.0.0.1:0"
        ...
"""

import atexit
import glob
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TIERLB = os.environ.get("TIERLB_BINARY") or os.path.join(ROOT, "build", "tierlb")
HAPROXY = os.environ.get("HAPROXY_BINARY") or "/usr/sbin/haproxy"


def _report_sanitizer_findings_to_files():
    """Makes every ASan, LeakSanitizer and TSan report of every tierlb this test process starts
    (under a master, daemonized, as another user, directly) a file in SANITIZER_DIR, which the
    harness reads when a Tierlb stops, after run_tierlb and at exit: a report on a stderr
    nobody reads (a worker the master restarts, a daemon on /dev/null) must still fail the
    test. Options that make every finding a report and stop there come before the caller's,
    so that the caller can change them (not where the reports go). The variables are inert
    for a binary built without sanitizers."""
    directory = tempfile.mkdtemp(prefix="tierlb-sanitizer-")
    os.chmod(directory, 0o1777)  # a process that dropped root writes its report here too
    report = "log_path=" + os.path.join(directory, "report")
    suppressions = os.path.join(ROOT, "tests", "sanitizers")
    ours = {
        # ASan and LeakSanitizer (part of it): stop at the first error.
        "ASAN_OPTIONS": ["halt_on_error=1", "detect_leaks=1"],
        # -fno-sanitize-recover=all already stops UBSan at its first report; with its stack.
        "UBSAN_OPTIONS": ["halt_on_error=1", "print_stacktrace=1"],
        # TSan reports every race of a run, and exits 66 at the end when it found any.
        "TSAN_OPTIONS": ["halt_on_error=0", "second_deadlock_stack=1"],
        "LSAN_OPTIONS": [],
    }
    for variable, flags in ours.items():
        name = variable.split("_")[0].lower()
        supp = os.path.join(suppressions, name + ".supp")
        if os.path.exists(supp):
            flags.append("suppressions=" + supp)
        caller = os.environ.get(variable)
        os.environ[variable] = ":".join(flags + ([caller] if caller else []) + [report])
    return directory


SANITIZER_DIR = _report_sanitizer_findings_to_files()


def take_sanitizer_reports():
    """The text of each sanitizer report written since the last call (then removed)."""
    reports = []
    for path in sorted(glob.glob(os.path.join(SANITIZER_DIR, "report.*"))):
        reports.append("%s:\n%s" % (os.path.basename(path), read_text(path)))
        os.unlink(path)
    return reports


# The first line of each sanitizer's report. UBSan's go to stderr even with log_path (g++'s
# runtime, combined with ASan, ignores it), so the harness also looks for them there.
SANITIZER_REPORT = re.compile(r"runtime error: |ERROR: (Address|Leak|Thread|UndefinedBehavior)"
                              r"Sanitizer|WARNING: ThreadSanitizer")


def check_no_sanitizer_report(stderr_lines=()):
    """Fails with every report tierlb's processes wrote to their files since the last check,
    or to STDERR_LINES."""
    reports = take_sanitizer_reports()
    flagged = [i for i, line in enumerate(stderr_lines) if SANITIZER_REPORT.search(line)]
    if flagged:
        reports.append("on stderr:\n" + "\n".join(stderr_lines[flagged[0]:flagged[0] + 40]))
    if reports:
        raise AssertionError("sanitizer reports from tierlb:\n" + "\n".join(reports))


@atexit.register
def _fail_on_late_sanitizer_reports():
    """Reports no Tierlb.stop() or run_tierlb() saw (a daemon, a process started directly)
    fail the test process: printed, then exit code 1 whatever unittest said."""
    reports = take_sanitizer_reports()
    shutil.rmtree(SANITIZER_DIR, ignore_errors=True)
    if reports:
        sys.stdout.flush()
        sys.stderr.write("sanitizer reports from tierlb:\n" + "\n".join(reports) + "\n")
        sys.stderr.flush()
        os._exit(1)


def unique(prefix="t"):
    """A name no other test run uses: abstract socket names are global to the namespace."""
    return "%s-%d-%d" % (prefix, os.getpid(), random.randrange(1 << 30))


def wait_until(predicate, timeout=10.0, interval=0.02, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, message))
        time.sleep(interval)


class LineCollector:
    """Reads a process's stderr in a thread; lines can be waited for by regular expression."""

    def __init__(self, stream, echo=False):
        self.lines = []
        self.times = []  # time.monotonic() at which each line arrived
        self._cond = threading.Condition()
        self._echo = echo or os.environ.get("TIERLB_TEST_ECHO") == "1"
        self._stream = stream
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if self._echo:
                print("    | " + line, flush=True)
            with self._cond:
                self.lines.append(line)
                self.times.append(time.monotonic())
                self._cond.notify_all()

    def wait_for(self, pattern, timeout=10.0, start=0):
        """The first match of PATTERN in lines from START on, waiting up to TIMEOUT."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    m = regex.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no line matching %r within %.1fs; last lines:\n%s" %
                                         (pattern, timeout, "\n".join(self.lines[-20:])))
                self._cond.wait(left)

    def arrival(self, pattern, timeout=10.0, start=0):
        """The time.monotonic() at which the first line matching PATTERN arrived."""
        match = self.wait_for(pattern, timeout, start)
        with self._cond:
            return self.times[self.lines.index(match.string, start)]

    def find_all(self, pattern):
        regex = re.compile(pattern)
        with self._cond:
            return [m for m in (regex.search(l) for l in self.lines) if m]

    def count(self):
        with self._cond:
            return len(self.lines)

    def close(self, timeout=5.0):
        """Once every writer is gone: the last lines are read, then the pipe is closed."""
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._stream.close()


class Tierlb:
    """A tierlb master started on CONFIG (text, written to a temporary file)."""

    def __init__(self, config, args=(), wait_ready=True, env=None, prefix=()):
        """PREFIX: a command that execs tierlb in its own place (setpriv ...), so that the
        pid started is the master's."""
        self.dir = tempfile.mkdtemp(prefix="tierlb-test-")
        self.prefix = list(prefix)
        self.config_path = os.path.join(self.dir, "tierlb.cfg")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.process = None
        self.log = None
        self._wait_ready = wait_ready

    def start(self):
        command = self.prefix + [TIERLB, "-f", self.config_path] + self.args
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, env=self.env)
        self.log = LineCollector(self.process.stderr)
        if self._wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0):
        """Waits until every process the master started says it is ready."""
        wait_until(lambda: self.log.find_all(r"master: \d+ processes started") or
                   self.process.poll() is not None, timeout, message="processes to start")
        if self.process.poll() is not None:
            raise AssertionError("tierlb exited with %d:\n%s" %
                                 (self.process.returncode, "\n".join(self.log.lines)))
        for number in self.started_processes():
            self.log.wait_for(r"\(%d\) : process %d ready" % (self.pid_of(number), number),
                              timeout)

    def started_processes(self):
        return sorted({int(m.group(1)) for m in self.log.find_all(r"process (\d+) started")})

    def pid_of(self, process):
        """The pid of the latest instance of process PROCESS."""
        found = self.log.find_all(r"process %d started \(pid (\d+)\)" % process)
        if not found:
            raise AssertionError("process %d was not started" % process)
        return int(found[-1].group(1))

    def address(self, proxy, index=0):
        found = self.log.find_all(r"proxy %s: bind .* listening on (\S+) for process" %
                                  re.escape(proxy))
        return found[index].group(1)

    def port(self, proxy, index=0):
        return int(self.address(proxy, index).rsplit(":", 1)[1])

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Stops the master by its pid, then makes sure no process it started is left."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for m in self.log.find_all(r"process \d+ started \(pid (\d+)\)"):
            try:
                os.kill(int(m.group(1)), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        check_no_sanitizer_report(self.log.lines)
        return self.process.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run_tierlb(args, timeout=20.0, env=None):
    """Runs tierlb to completion (e.g. -c); returns (exit code, stdout, stderr)."""
    p = subprocess.run([TIERLB] + list(args), capture_output=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    check_no_sanitizer_report(p.stderr.decode("utf-8", "replace").splitlines())
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class EchoBackend:
    """A TCP echo server on HOST (127.0.0.1; another host's address in a network namespace),
    port chosen by the kernel. It answers each client until the client ends its side, then
    ends its own (half-close aware). With read_proxy=True it first reads a PROXY v1 line and
    records it."""

    def __init__(self, read_proxy=False, host="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.read_proxy = read_proxy
        self.proxy_lines = []
        self.accepted = 0
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.read_proxy:
                line = b""
                while not line.endswith(b"\r\n") and len(line) < 108:
                    b = conn.recv(1)
                    if not b:
                        return
                    line += b
                with self._lock:
                    self.proxy_lines.append(line.decode())
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self._stop = True
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_iterations(stop, limit=120.0):
    """Iterations of a load loop: until the event STOP is set, for LIMIT seconds at most (a
    test that fails before setting it must not leave a thread spinning)."""
    deadline = time.monotonic() + limit
    while not stop.is_set() and time.monotonic() < deadline:
        yield


def read_text(path):
    """The whole text of PATH, the file closed again."""
    with open(path) as f:
        return f.read()


def connect(port, host="127.0.0.1", timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def round_trip(s, payload=b"ping"):
    """Sends PAYLOAD on the connected socket S and reads as many bytes back (fewer at EOF)."""
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def echo_once(port, payload=b"ping", timeout=5.0):
    """One round trip through the proxy: connect, send, read the echo back, close."""
    with connect(port, timeout=timeout) as s:
        return round_trip(s, payload)


class EchoClients:
    """Clients one after the other against PORT (connect, echo, close) in a thread, from
    `with` to its end: `results` holds (time.monotonic() at its start, served) for each."""

    def __init__(self, port):
        self.port = port
        self.results = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for i, _ in enumerate(load_iterations(self._stop)):
            payload = b"client %d" % i
            started = time.monotonic()
            try:
                served = echo_once(self.port, payload) == payload
            except OSError:
                served = False
            self.results.append((started, served))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


def stats_command(address, command, timeout=5.0):
    """Sends COMMAND to a stats socket ("/path", "abns@name") and returns the whole answer."""
    if address.startswith("abns@"):
        name = address[5:].encode()
        target = b"\0" + name + b"\0" * (107 - len(name))
    else:
        target = address
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(target)
        s.sendall(command.encode() + b"\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out.decode()


def show_stat(address):
    """`show stat` as a list of dicts, one per line, keyed by HAProxy's column names."""
    text = stats_command(address, "show stat")
    lines = [l for l in text.splitlines() if l]
    if not lines or not lines[0].startswith("# "):
        raise AssertionError("not a show stat answer: %r" % text[:200])
    names = lines[0][2:].split(",")
    return [dict(zip(names, l.split(","))) for l in lines[1:]]


def server_sessions(address, backend):
    """{server name: scur} for BACKEND from `show stat`."""
    return {row["svname"]: int(row["scur"]) for row in show_stat(address)
            if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")}


class HAProxy:
    """An HAProxy 2.6 process (foreground, -db) on a configuration text."""

    def __init__(self, config):
        self.dir = tempfile.mkdtemp(prefix="haproxy-test-")
        self.config_path = os.path.join(self.dir, "haproxy.cfg")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen([HAPROXY, "-db", "-f", self.config_path],
                                        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.log = LineCollector(self.process.stderr)
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
