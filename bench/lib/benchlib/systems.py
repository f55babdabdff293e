"""Systems under test: two-tier load balancers in front of one backend.

Each system starts an Instance for a given backend port; the instance knows its dispatcher's
port and pid and its workers' pids, tells whether it is still alive, and stops by pid.
A system that cannot start raises Unavailable with the reason (the last lines it printed).
"""

import os
import socket
import subprocess
import time

from . import procs

READY_DEADLINE_S = 15.0
PROBE_DEADLINE_S = 5.0

# Both systems: the timeouts of the brief; no logging; nothing pinned.
DEFAULTS = """defaults
    mode tcp
{maxconn}    timeout connect 5s
    timeout client 1h
    timeout server 1h
"""


class Unavailable(Exception):
    """The system could not be started or did not become ready; str() says why."""


def probe_kind(backend_mode):
    """What an end-to-end probe can check through a proxy in front of that backend."""
    return backend_mode if backend_mode in ("echo", "source") else "connect"


class TlsSetup:
    """What the TLS workers terminate with: the PEM (certificate and key), the ALPN list
    offered (None: none), HAProxy's shared ticket-keys file (None: each process its own; tierlb
    shares its own keys between workers without a file), and the name the probe sends."""

    def __init__(self, crt, server_name, alpn=None, haproxy_ticket_keys=None):
        self.crt = crt
        self.server_name = server_name
        self.alpn = alpn
        self.haproxy_ticket_keys = haproxy_ticket_keys

    # On every bind that takes the clients' TCP connections, the same for all systems
    # (HAProxy's keyword, tierlb takes it too): TLS clients speak first, so the kernel hands
    # a connection over with its ClientHello. Without it a hand-off worker often gets the
    # socket before the ClientHello and waits once more for it (one more wake-up per
    # handshake: ~8% of the rate with OpenSSL's client, 2026-11-27); HAProxy's two tiers
    # gain nothing measurable from it.
    CLIENT_BIND_OPTIONS = " defer-accept"

    def bind_options(self, haproxy):
        text = f" ssl crt {self.crt}"
        if self.alpn:
            text += f" alpn {self.alpn}"
        if haproxy and self.haproxy_ticket_keys:
            text += f" tls-ticket-keys {self.haproxy_ticket_keys}"
        return text


def client_options(tls):
    """The options of a bind that takes the clients' connections (TlsSetup's)."""
    return TlsSetup.CLIENT_BIND_OPTIONS if tls else ""


def probe(port, backend_mode, tls):
    """One end-to-end probe through the system, in TLS when its workers terminate TLS."""
    if tls:
        return procs.probe_tls(port, probe_kind(backend_mode), tls.server_name)
    return procs.probe_tcp(port, probe_kind(backend_mode))


def tail_text(lines, count=6):
    kept = [line for line in lines if line.strip()][-count:]
    return " | ".join(kept) if kept else "(no output)"


class Instance:
    def __init__(self, system, registry, port, dispatcher_pid, worker_pids, procs_started,
                 foreign=False):
        self.system = system
        self.registry = registry
        self.port = port
        self.dispatcher_pid = dispatcher_pid  # None: no dispatcher tier (one process)
        self.worker_pids = worker_pids
        self.procs = procs_started
        self.foreign = foreign  # workers are children of a master, not ours
        # abns@ names of each worker's own stats socket (systems started with stats=True), and
        # the section whose FRONTEND row counts the worker's connections.
        self.worker_stats = []
        self.stats_section = "worker"
        self._deaths_seen = 0
        self._dead_reported = set()

    def alive(self):
        if not all(p.alive() for p in self.procs):
            return False
        if self.foreign:
            return all(procs.pid_matches(pid, "tierlb")
                       for pid in [self.dispatcher_pid] + self.worker_pids if pid is not None)
        return True

    def refresh_pids(self):
        """A tierlb master restarts a process that dies: take the pids it announced last (and
        remember them for reaping). Nothing to do for processes we started ourselves."""
        if not self.foreign:
            return
        tail = self.procs[0].stderr
        pids = {n: int(pid) for n, pid in tail.found["started"]}
        for pid in pids.values():
            if pid != self.dispatcher_pid and pid not in self.worker_pids:
                self.registry.watch_foreign(pid, "tierlb")
        dispatcher = self.system.dispatcher_process  # None: every process is a worker
        if dispatcher in pids:
            self.dispatcher_pid = pids[dispatcher]
        self.worker_pids = [pids[n] for n in sorted(pids, key=int) if n != dispatcher]

    def await_restarts(self, deadline_s=5.0):
        """After deaths, waits until the tierlb master has restarted as many processes as died
        and they say they are ready (or the deadline passes), then takes their pids. Returns
        whether they all came back."""
        if not self.foreign:
            return True
        tail = self.procs[0].stderr
        wanted = len({n for n, _ in tail.found["started"]}) + len(tail.found["died"])

        def restarted(t):
            return len(t.found["started"]) >= wanted and len(t.found["ready"]) >= wanted

        back = tail.wait(restarted, time.monotonic() + deadline_s)
        self.refresh_pids()
        return back

    def new_deaths(self):
        """Processes that died since the last call, as (time.monotonic(), text): the master's
        own lines for tierlb (it restarts them), processes found gone for HAProxy."""
        found = []
        if self.foreign:
            tail = self.procs[0].stderr
            died = list(zip(tail.found_at["died"], tail.found["died"]))
            found = [(at, groups[0]) for at, groups in died[self._deaths_seen:]]
            self._deaths_seen = len(died)
        else:
            for p in self.procs:
                if not p.alive() and p.name not in self._dead_reported:
                    self._dead_reported.add(p.name)
                    found.append((time.monotonic(),
                                  f"{p.name} exited with code {p.popen.returncode}"))
        return found

    def last_words(self):
        lines = []
        for p in self.procs:
            tail = p.stderr or p.stdout
            if tail:
                lines += [f"{p.name}: {line}" for line in tail.lines()]
        return tail_text(lines)

    def stop(self):
        # Reverse order: the dispatcher (last started) goes first, then the workers.
        for p in reversed(self.procs):
            self.registry.stop(p, deadline_s=10.0)
        if self.foreign:
            self.registry.reap_foreign()


class HaproxyTwoTier:
    """W+1 separate `haproxy -f CFG -db` processes (2.6 has no nbproc): one dispatcher
    (leastconn over abns@ sockets with send-proxy) and W workers (accept-proxy)."""

    name = "haproxy-2tier"

    def __init__(self, haproxy, workers, nbthread, registry, config_dir, tls=None, stats=False):
        self.haproxy = haproxy
        self.workers = workers
        self.nbthread = nbthread
        self.registry = registry
        self.config_dir = config_dir
        self.tls = tls  # a TlsSetup: the workers terminate TLS
        self.stats = stats  # give each worker its own stats socket (abns@PREFIXstatsN)

    def _global(self, stats_name=None):
        return (
            "global\n"
            "    maxconn 30000\n"
            f"    nbthread {self.nbthread}\n"
            "    # maxconn 30000 wants 60014 descriptors; where the hard limit is lower (20000\n"
            "    # here, no CAP_SYS_RESOURCE) HAProxy 2.6 refuses to start unless this is off.\n"
            "    no strict-limits\n"
        ) + (f"    stats socket abns@{stats_name} level admin\n" if stats_name else "")

    def _stats_name(self, prefix, i):
        return f"{prefix}stats{i}" if self.stats else None

    def configs(self, port, backend_port, prefix):
        defaults = DEFAULTS.format(maxconn="    maxconn 30000\n")
        dispatcher = self._global() + defaults + (
            "listen dispatcher\n"
            f"    bind 127.0.0.1:{port}{client_options(self.tls)}\n"
            "    balance leastconn\n"
        ) + "".join(f"    server w{i} abns@{prefix}w{i} send-proxy\n"
                    for i in range(1, self.workers + 1))
        workers = [
            self._global(self._stats_name(prefix, i)) + defaults + (
                "listen worker\n"
                f"    bind abns@{prefix}w{i} accept-proxy{self._tls_options()}\n"
                f"    server app 127.0.0.1:{backend_port}\n"
            )
            for i in range(1, self.workers + 1)
        ]
        return dispatcher, workers

    def _tls_options(self):
        return self.tls.bind_options(haproxy=True) if self.tls else ""

    def start(self, backend_port, backend_mode, prefix):
        port = procs.free_port()
        dispatcher_cfg, worker_cfgs = self.configs(port, backend_port, prefix)
        started = []
        instance = Instance(self, self.registry, port, None, [], started)
        try:
            # Workers first, so the dispatcher's servers exist when it takes traffic.
            for i, text in enumerate(worker_cfgs, start=1):
                path = self._write(f"haproxy-worker{i}.cfg", text)
                started.append(self.registry.start(
                    f"haproxy-w{i}", [self.haproxy, "-f", path, "-db"],
                    log_name=f"haproxy-worker{i}", capture_stderr=True))
            path = self._write("haproxy-dispatcher.cfg", dispatcher_cfg)
            dispatcher = self.registry.start(
                "haproxy-dispatcher", [self.haproxy, "-f", path, "-db"],
                log_name="haproxy-dispatcher", capture_stderr=True)
            started.append(dispatcher)
            instance.dispatcher_pid = dispatcher.pid
            instance.worker_pids = [p.pid for p in started[:-1]]
            if self.stats:
                instance.worker_stats = [self._stats_name(prefix, i)
                                         for i in range(1, self.workers + 1)]
            self._wait_ready(instance, port, prefix, backend_mode)
        except BaseException:
            instance.stop()
            raise
        return instance

    def _write(self, name, text):
        path = os.path.join(self.config_dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def _wait_ready(self, instance, port, prefix, backend_mode):
        def listening():
            if not instance.alive():
                return "dead"
            if not procs.probe_connect(socket.AF_INET, ("127.0.0.1", port)):
                return None
            for i in range(1, self.workers + 1):
                if not procs.probe_connect(socket.AF_UNIX, procs.abns_address(f"{prefix}w{i}")):
                    return None
            return "ok"

        state = procs.poll_until(listening, READY_DEADLINE_S)
        if state != "ok":
            why = "exited" if state == "dead" else "not listening after %.0f s" % READY_DEADLINE_S
            raise Unavailable(f"{why}: {instance.last_words()}")
        if not procs.poll_until(lambda: probe(port, backend_mode, self.tls), PROBE_DEADLINE_S):
            raise Unavailable(f"end-to-end probe failed: {instance.last_words()}")


class HaproxyOneProc(HaproxyTwoTier):
    """One `haproxy -f CFG -db` terminating TLS itself on 127.0.0.1:PORT with `nbthread N`:
    the usual single-tier deployment, for comparison with the two tiers."""

    name = "haproxy-1proc"

    def __init__(self, haproxy, threads, registry, config_dir, tls):
        super().__init__(haproxy, 0, threads, registry, config_dir, tls)

    def config(self, port, backend_port):
        return self._global() + DEFAULTS.format(maxconn="    maxconn 30000\n") + (
            "listen tls\n"
            f"    bind 127.0.0.1:{port}{self._tls_options()}{client_options(self.tls)}\n"
            f"    server app 127.0.0.1:{backend_port}\n"
        )

    def start(self, backend_port, backend_mode, prefix):
        port = procs.free_port()
        path = self._write("haproxy-1proc.cfg", self.config(port, backend_port))
        started = []
        # The one process terminates TLS: it counts as the workers, there is no dispatcher.
        instance = Instance(self, self.registry, port, None, [], started)
        try:
            proc = self.registry.start("haproxy-1proc", [self.haproxy, "-f", path, "-db"],
                                       log_name="haproxy-1proc", capture_stderr=True)
            started.append(proc)
            instance.worker_pids = [proc.pid]
            self._wait_ready(instance, port, prefix, backend_mode)
        except BaseException:
            instance.stop()
            raise
        return instance


class TierlbTwoTier:
    """One `tierlb -f CFG` master: it starts the dispatcher as process 1 and the workers as
    processes 2..W+1, and says so on stderr ("process N started (pid P)", "process N ready")."""

    name = "tierlb-2tier"
    STARTED = r"process (\d+) started \(pid (\d+)\)"
    READY = r"process (\d+) ready"
    # A process that ended on its own; the master restarts it ("...; restarting it in 100 ms").
    DIED = r"(process \d+ .*; restarting .*)$"
    # Everything it warns or alerts about, for the report's notes.
    WARNED = r"^\[(?:WARNING|ALERT)\] +\(\d+\) : (.*)$"

    dispatcher_process = "1"  # the process number of the dispatcher (None: no dispatcher)
    config_name = "tierlb.cfg"

    def __init__(self, tierlb, workers, registry, config_dir, tls=None, stats=False):
        self.tierlb = tierlb
        self.workers = workers
        self.registry = registry
        self.config_dir = config_dir
        self.tls = tls  # a TlsSetup: the workers terminate TLS
        self.stats = stats  # give each worker process its own stats socket

    def worker_processes(self):
        """The process numbers of the workers."""
        return list(range(2, self.workers + 2))

    def stats_names(self, prefix):
        return [f"{prefix}stats{n}" for n in self.worker_processes()] if self.stats else []

    def _global(self, prefix):
        text = "global\n    maxconn 30000\n"
        for name, n in zip(self.stats_names(prefix), self.worker_processes()):
            text += f"    stats socket abns@{name} process {n} level admin\n"
        return text

    def config(self, port, backend_port, prefix):
        text = self._global(prefix) + DEFAULTS.format(maxconn="") + (
            "listen dispatcher\n"
            f"    bind 127.0.0.1:{port} process 1{client_options(self.tls)}\n"
            "    balance leastconn\n"
        )
        text += "".join(f"    server w{i} abns@{prefix}w{i} send-proxy\n"
                        for i in range(1, self.workers + 1))
        text += "listen worker\n"
        tls = self.tls.bind_options(haproxy=False) if self.tls else ""
        text += "".join(f"    bind abns@{prefix}w{i} process {i + 1} accept-proxy{tls}\n"
                        for i in range(1, self.workers + 1))
        text += f"    server app 127.0.0.1:{backend_port}\n"
        return text

    def start(self, backend_port, backend_mode, prefix):
        port = procs.free_port()
        path = os.path.join(self.config_dir, self.config_name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.config(port, backend_port, prefix))
        master = self.registry.start(
            "tierlb-master", [self.tierlb, "-f", path], log_name="tierlb", capture_stderr=True,
            patterns={"started": self.STARTED, "ready": self.READY, "died": self.DIED,
                      "warned": self.WARNED})
        instance = Instance(self, self.registry, port, None, [], [master], foreign=True)
        instance.worker_stats = self.stats_names(prefix)
        try:
            self._wait_ready(instance, master, port, backend_mode)
        except BaseException:
            instance.stop()
            raise
        return instance

    def _wait_ready(self, instance, master, port, backend_mode):
        numbers = self.worker_processes()
        numbers += [int(self.dispatcher_process)] if self.dispatcher_process else []
        wanted = {str(n) for n in numbers}

        def ready(tail):
            return wanted <= {groups[0] for groups in tail.found["ready"]}

        tail = master.stderr
        tail.wait(lambda t: ready(t) or not master.alive(), time.monotonic() + READY_DEADLINE_S)
        # Whatever happened, remember the children it announced, so stop() can reap them.
        pids = {n: int(pid) for n, pid in tail.found["started"]}
        for pid in pids.values():
            self.registry.watch_foreign(pid, "tierlb")
        if not master.alive():
            code = master.wait(1.0)
            raise Unavailable(f"tierlb exited with code {code}: {tail_text(tail.lines())}")
        if not ready(tail):
            raise Unavailable(f"not ready after {READY_DEADLINE_S:.0f} s: "
                              f"{tail_text(tail.lines())}")
        if not wanted <= set(pids):
            raise Unavailable(f"no 'process N started (pid P)' line for every process: "
                              f"{tail_text(tail.lines())}")
        instance.refresh_pids()
        if not procs.poll_until(lambda: probe(port, backend_mode, self.tls), PROBE_DEADLINE_S):
            raise Unavailable(f"ready but the end-to-end probe failed: "
                              f"{tail_text(tail.lines())}")


class TierlbHandoff(TierlbTwoTier):
    """tierlb's hand-off mode (INTERFACE.md section 6): the dispatcher passes each accepted
    socket to the chosen worker (`server wN abns@... handoff`, `bind abns@... accept-handoff`)
    and leaves the data path. Until that lands, `tierlb -c` or the start refuses it: the
    system is then reported not available with tierlb's own words."""

    name = "tierlb-handoff"
    config_name = "tierlb-handoff.cfg"

    def config(self, port, backend_port, prefix):
        text = self._global(prefix) + DEFAULTS.format(maxconn="") + (
            "listen dispatcher\n"
            f"    bind 127.0.0.1:{port} process 1{client_options(self.tls)}\n"
            "    balance leastconn\n"
        )
        text += "".join(f"    server w{i} abns@{prefix}w{i} handoff\n"
                        for i in range(1, self.workers + 1))
        text += "listen worker\n"
        tls = self.tls.bind_options(haproxy=False) if self.tls else ""
        text += "".join(f"    bind abns@{prefix}w{i} process {i + 1} accept-handoff{tls}\n"
                        for i in range(1, self.workers + 1))
        text += f"    server app 127.0.0.1:{backend_port}\n"
        return text

    def start(self, backend_port, backend_mode, prefix):
        check_config(self.tierlb, self.config_dir, "tierlb-handoff-check.cfg",
                     self.config(procs.free_port(), backend_port, prefix), "hand-off")
        try:
            return super().start(backend_port, backend_mode, prefix)
        except Unavailable as e:
            raise Unavailable(f"hand-off refused at start-up ({e})") from None


def check_config(tierlb, config_dir, name, text, what):
    """Runs `tierlb -c` on TEXT (written to CONFIG_DIR/NAME); raises Unavailable with its
    message if tierlb refuses it."""
    path = os.path.join(config_dir, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    try:
        out = subprocess.run([tierlb, "-c", "-f", path], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Unavailable(f"tierlb -c failed to run: {e}") from None
    if out.returncode != 0:
        said = tail_text((out.stderr + out.stdout).splitlines(), 3)
        raise Unavailable(f"tierlb -c refuses the {what} configuration: {said}")
