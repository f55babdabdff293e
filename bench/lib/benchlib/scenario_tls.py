"""Scenario "tls": TLS termination, tierlb's two tiers vs HAProxy 2.6's two tiers vs one HAProxy.

Per repetition, in one run, each system (the order rotates between repetitions, so that each
takes every position once in as many repetitions as there are systems):
  - echo backend:   idle memory per TLS connection (fresh processes), full handshakes per
                    second, resumed handshakes per second
  - source backend: TLS bulk MB/s down
  - sink backend:   TLS bulk MB/s up
The CPU time of every process (dispatcher, each worker, the load generator) is read when the
load generator says its measured window starts and ends, and divided by the handshakes or bytes
counted in that window: on 2 noisy cores, CPU per handshake and per GB are the steadier figures.
Every figure is summarised as the median (min-max) of the repetitions.
"""

import base64
import json
import os
import re
import subprocess
import time

from . import procs
from . import report
from .report import Figure
from .scenario_base import ScenarioBase, parse_result
from .systems import (HaproxyOneProc, HaproxyTwoTier, TierlbHandoff, TierlbTwoTier, TlsSetup,
                      Unavailable)
from .systems_reuseport import TierlbNohop

PROFILES = {
    "quick": {"reps": 3, "duration": 3.0, "warmup": 1.0},
    "full": {"reps": 5, "duration": 12.0, "warmup": 2.0},
}

HAPROXY2 = HaproxyTwoTier.name
HAPROXY1 = HaproxyOneProc.name
TIERLB = TierlbTwoTier.name
HANDOFF = TierlbHandoff.name
NOHOP = TierlbNohop.name
SYSTEMS = (HAPROXY2, HAPROXY1, TIERLB, HANDOFF, NOHOP)
SERVER_NAME = "bench.tierlb.test"

KEYS = {
    # --key: (openssl req's key options, openssl speed's algorithm, label)
    "ec": (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"], "ecdsap256",
           "ECDSA P-256"),
    "rsa": (["-newkey", "rsa:2048"], "rsa2048", "RSA 2048"),
}


def figures(o, cores_used):
    label = KEYS[o.key][2]
    return [
        Figure("hs_per_s", f"full TLS handshakes/s ({o.rate_concurrency} concurrent; each a new "
               f"connection, {o.size} B echo, close)", "higher", 0),
        Figure("hs_p50_ms", "  handshake p50, ms (TCP connected → TLS handshake done)", "lower",
               2),
        Figure("hs_p99_ms", "  handshake p99, ms", "lower", 2),
        Figure("conn_p50_ms", "  whole connection p50, ms (connect + handshake + echo)", "lower",
               2),
        Figure("disp_us_per_hs", "dispatcher CPU per handshake, µs", "lower", 1),
        Figure("workers_us_per_hs", "workers' CPU per handshake (all workers together), µs",
               "lower", 1),
        Figure("system_us_per_hs", "  dispatcher + workers, µs", "lower", 1),
        Figure("loadgen_us_per_hs", "  TLS client (bench_loadgen) CPU per handshake, µs "
               "(for information)", "lower", 1),
        Figure("loadgen_busy_pct", "  TLS client's CPU over the run, % of one core (near 100 × "
               "its threads: the rate is the client's limit, whatever the servers cost)",
               "lower", 0, kind="info"),
        Figure("hs_light_per_s", "full TLS handshakes/s with the light client (--light: a TLS "
               "1.3 client that neither decodes the certificate nor checks its signature, so "
               "that the servers, not the client, fill the cores)", "higher", 0),
        Figure("workers_us_per_hs_light", "  workers' CPU per handshake, light client, µs",
               "lower", 1),
        Figure("system_us_per_hs_light", "  dispatcher + workers, light client, µs", "lower", 1),
        Figure("loadgen_us_per_hs_light", "  light client CPU per handshake, µs "
               "(for information)", "lower", 1),
        Figure("loadgen_busy_pct_light", "  light client's CPU over the run, % of one core",
               "lower", 0, kind="info"),
        Figure("res_per_s", "resumed handshakes/s (--resume: the client offers its latest "
               "ticket)", "higher", 0),
        Figure("res_share_pct", "  share of connections resumed, %", "higher", 1),
        Figure("workers_us_per_res", "  workers' CPU per resumed handshake, µs", "lower", 1),
        Figure("bulk_down_mbps", f"TLS bulk down, MB/s ({o.bulk_conns} conns, source backend)",
               "higher", 0),
        Figure("bulk_up_mbps", f"TLS bulk up, MB/s ({o.bulk_conns} conns, sink backend)",
               "higher", 0),
        Figure("workers_ms_per_gb_down", "workers' CPU per GB, ms (bulk down)", "lower", 0),
        Figure("workers_ms_per_gb_up", "workers' CPU per GB, ms (bulk up)", "lower", 0),
        Figure("disp_ms_per_gb_down", "dispatcher CPU per GB, ms (bulk down)", "lower", 0),
        Figure("disp_idle_bytes", f"dispatcher memory per idle TLS connection, bytes "
               f"({o.idle_conns} conns)", "lower", 0),
        Figure("workers_idle_bytes", "workers' memory per idle TLS connection, bytes "
               "(all workers together)", "lower", 0),
        Figure("idle_establish_ms", f"  time to establish the {o.idle_conns} (bursts of "
               f"{o.idle_burst}), ms", "lower", 0),
        Figure("others_pct", "CPU taken by other processes during the measured windows, % of "
               "the machine (noise)", "lower", 1, kind="info"),
        Figure("openssl_limit", f"OpenSSL limit: {label} signs/s on 1 core × {cores_used} "
               "(for comparison)", "higher", 0, kind="info"),
        Figure("deaths", "processes that died, all runs (should be 0)", "lower", 0,
               kind="total"),
        Figure("errors", "loadgen errors, all runs (should be 0)", "lower", 0, kind="total"),
    ]


def make_certificate(out_dir, key):
    """A self-signed certificate for SERVER_NAME and its key, in one PEM (HAProxy's and
    tierlb's `crt`), made for this run in OUT_DIR/tls/. Returns its path."""
    tls_dir = os.path.join(out_dir, "tls")
    os.makedirs(tls_dir, exist_ok=True)
    cert = os.path.join(tls_dir, "cert.pem")
    key_path = os.path.join(tls_dir, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", *KEYS[key][0], "-nodes", "-keyout", key_path, "-out", cert,
         "-days", "7", "-subj", f"/CN={SERVER_NAME}",
         "-addext", f"subjectAltName=DNS:{SERVER_NAME}"],
        check=True, capture_output=True, timeout=60)
    site = os.path.join(tls_dir, "site.pem")
    with open(site, "w", encoding="ascii") as out:
        for part in (cert, key_path):
            with open(part, encoding="ascii") as f:
                out.write(f.read())
    os.chmod(site, 0o600)
    os.chmod(key_path, 0o600)
    return site


def make_ticket_keys(out_dir):
    """HAProxy's tls-ticket-keys file: three AES-256 keys (80 bytes, base64), one per line."""
    path = os.path.join(out_dir, "tls", "tickets.keys")
    with open(path, "w", encoding="ascii") as f:
        for _ in range(3):
            f.write(base64.b64encode(os.urandom(80)).decode() + "\n")
    os.chmod(path, 0o600)
    return path


def openssl_speed(algorithm):
    """`openssl speed -seconds 1 ALGORITHM` on one core: {"sign_per_s", "verify_per_s", "line"}
    or {"error"}. The columns are read from the header, which differs between versions."""
    try:
        out = subprocess.run(["openssl", "speed", "-seconds", "1", algorithm],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": str(e)}
    lines = out.stdout.splitlines()
    for i, line in enumerate(lines):
        if "sign/s" not in line:
            continue
        header = line.split()
        for row in lines[i + 1:]:
            values = row.split()
            if len(values) < len(header):
                continue
            tail = values[-len(header):]
            try:
                result = {"sign_per_s": float(tail[header.index("sign/s")]),
                          "verify_per_s": float(tail[header.index("verify/s")]),
                          "line": re.sub(r"\s+", " ", row.strip())}
            except ValueError:
                continue
            return result
    return {"error": f"no sign/s figure in the output (exit {out.returncode})"}


def cpu_of(pids):
    return {pid: procs.cpu_seconds(pid) for pid in pids}


def cpu_delta(start, end, pids):
    """CPU seconds the PIDS spent between two readings; None if one of them was gone."""
    if not pids:
        return None
    total = 0.0
    for pid in pids:
        a, b = start.get(pid), end.get(pid)
        if a is None or b is None:
            return None
        total += b - a
    return total


class Scenario(ScenarioBase):
    def __init__(self, o, registry, out_dir, tools):
        super().__init__(o, registry, out_dir, tools)
        self.crt = make_certificate(out_dir, o.key)
        tls = TlsSetup(self.crt, SERVER_NAME, alpn=o.alpn,
                       haproxy_ticket_keys=make_ticket_keys(out_dir))
        self.tls_info = None
        self.speed = {}
        self.current_backend_pid = None
        self.cores_used = min(o.workers, len(os.sched_getaffinity(0)))
        self.systems = []
        for name in o.systems:
            if name == HAPROXY2:
                self.systems.append(HaproxyTwoTier(tools["haproxy"], o.workers, 1, registry,
                                                   self.config_dir, tls))
            elif name == HAPROXY1:
                self.systems.append(HaproxyOneProc(tools["haproxy"], o.workers, registry,
                                                   self.config_dir, tls))
            elif name == TIERLB:
                self.systems.append(TierlbTwoTier(tools["tierlb"], o.workers, registry,
                                                  self.config_dir, tls))
            elif name == HANDOFF:
                self.systems.append(TierlbHandoff(tools["tierlb"], o.workers, registry,
                                                  self.config_dir, tls))
            elif name == NOHOP:
                self.systems.append(TierlbNohop(tools["tierlb"], o.workers, registry,
                                                self.config_dir, tls))

    def tls_args(self):
        args = ["--tls", "--sni", SERVER_NAME]
        return args + (["--alpn", self.o.alpn] if self.o.alpn else [])

    # -- one loadgen run --------------------------------------------------------------------

    def loadgen(self, column, rep, figure, instance, mode_args):
        """Runs one timed TLS loadgen against INSTANCE. Returns (RESULT dict or None, cpu)
        where cpu maps "dispatcher", "workers", "loadgen" to the CPU seconds each spent in the
        measured window (None where a process was gone or the window was not announced)."""
        argv = self.loadgen_argv(instance.port, self.tls_args() + mode_args)
        instance.refresh_pids()
        roles = {
            "dispatcher": [instance.dispatcher_pid] if instance.dispatcher_pid else [],
            "workers": list(instance.worker_pids),
            "backend": [self.current_backend_pid],
        }
        watched = roles["dispatcher"] + roles["workers"] + roles["backend"]
        marks = {}
        loadgen_pid = {}

        def on_match(_name, groups):
            # On the reader thread, as the line arrives: the window's edge, give or take the
            # pipe's latency, which is the same at both ends.
            pids = watched + ([loadgen_pid["pid"]] if "pid" in loadgen_pid else [])
            readings = cpu_of(pids)
            readings["machine"] = procs.machine_busy_seconds()
            marks[groups[0]] = (time.monotonic(), readings, time.time())

        proc = self.registry.start("loadgen", argv, capture_stdout=True,
                                   patterns={"window": r"^window (start|end)$"},
                                   on_match=on_match)
        loadgen_pid["pid"] = proc.pid
        code = proc.wait(self.o.duration + 60)
        if code is None:
            self.note(f"{column} rep {rep} {figure}: loadgen overran, stopped")
        self.registry.stop(proc)
        result = parse_result(proc.stdout.lines())
        cpu = {"dispatcher": None, "workers": None, "loadgen": None}
        if "start" in marks and "end" in marks:
            start, end = marks["start"][1], marks["end"][1]
            for role, pids in roles.items():
                cpu[role] = cpu_delta(start, end, pids)
            cpu["loadgen"] = cpu_delta(start, end, [proc.pid])
            # What the rest of the machine took meanwhile (other users, builds): the noise.
            machine = cpu_delta(start, end, ["machine"])
            ours = [cpu[k] for k in ("dispatcher", "workers", "backend", "loadgen")]
            wall = marks["end"][2] - marks["start"][2]
            if machine is not None and None not in ours[1:] and wall > 0:
                cpu["others"] = max(0.0, machine - sum(v or 0 for v in ours))
                cpu["wall"] = wall
                self.add(column, "others_pct",
                         100 * cpu["others"] / (wall * len(os.sched_getaffinity(0))))
        deaths = self.deaths(column, rep, figure, instance, marks.get("end", (None,))[0])
        self.record(scenario="tls", column=column, rep=rep, figure=figure,
                    argv=[str(a) for a in argv], exit=proc.popen.returncode, result=result,
                    cpu_window_s=cpu, pids=roles, deaths=deaths)
        if result is None:
            self.note(f"{column} rep {rep} {figure}: no RESULT line (exit "
                      f"{proc.popen.returncode}; see logs/loadgen.log)")
            return None, cpu
        if self.tls_info is None and result.get("tls_info"):
            self.tls_info = result["tls_info"]
        errors = result.get("errors", 0) + result.get("connect_errors", 0)
        self.add(column, "errors", errors)
        if errors:
            self.note(f"{column} rep {rep} {figure}: {errors} errors "
                      f"{json.dumps(result.get('error_kinds', {}))}")
        if cpu["workers"] is None:
            self.note(f"{column} rep {rep} {figure}: no CPU figures (a process was gone when "
                      "the window ended, or the window was not announced)")
        return result, cpu

    def deaths(self, column, rep, figure, instance, window_end):
        """Notes (and counts) the processes that died since the last look, saying whether
        that happened before the end of the measured window or after it."""
        found = instance.new_deaths()
        self.add(column, "deaths", len(found))
        texts = []
        for at, text in found:
            if window_end is None:
                when = "before any measurement"
            elif at <= window_end:
                when = "inside the measured window"
            else:
                when = f"{at - window_end:.2f} s after the measured window ended"
            texts.append(f"{text} ({when})")
            self.note(f"{column} rep {rep} {figure}: {text} ({when})")
        if found and not instance.await_restarts():
            self.note(f"{column} rep {rep} {figure}: the master did not restart every process "
                      "within 5 s")
        return texts

    # -- measurements -----------------------------------------------------------------------

    def handshakes(self, column, rep, instance):
        o = self.o
        d = str(o.duration)
        r, cpu = self.loadgen(column, rep, "rate_full", instance, [
            "rate", "--concurrency", o.rate_concurrency, "--duration", d, "--size", o.size])
        if r:
            stages = r.get("stages", {})
            self.add(column, "hs_per_s", r["handshakes_per_s"])
            self.add(column, "hs_p50_ms", stages.get("handshake_p50_ms"))
            self.add(column, "hs_p99_ms", stages.get("handshake_p99_ms"))
            self.add(column, "conn_p50_ms", r["p50_ms"])
            if r.get("resumed"):
                self.note(f"{column} rep {rep} rate_full: {r['resumed']} connections resumed "
                          "although the client offered no session")
            conns = r.get("conns") or 0
            self.add_cpu_per_handshake(column, cpu, conns, "", ("disp", "workers", "loadgen"))
            self.add_client_busy(column, r, cpu, conns, "")
            self.say(f"  {column}: {r['handshakes_per_s']:,.0f} full handshakes/s, p50 "
                     f"{stages.get('handshake_p50_ms', 0):.2f} ms p99 "
                     f"{stages.get('handshake_p99_ms', 0):.2f} ms; workers "
                     f"{fmt_us(cpu['workers'], conns)} µs/handshake")
        self.light_handshakes(column, rep, instance)
        if o.skip_resume:
            return
        r, cpu = self.loadgen(column, rep, "rate_resume", instance, [
            "--resume", "rate", "--concurrency", o.rate_concurrency, "--duration", d,
            "--size", o.size])
        if r:
            self.add(column, "res_per_s", r["handshakes_per_s"])
            self.add(column, "res_share_pct", r.get("resumed_share", 0) * 100)
            conns = r.get("conns") or 0
            if conns and cpu["workers"] is not None:
                self.add(column, "workers_us_per_res", cpu["workers"] * 1e6 / conns)
            self.say(f"  {column}: {r['handshakes_per_s']:,.0f} handshakes/s with --resume, "
                     f"{r.get('resumed_share', 0) * 100:.1f}% resumed")

    def add_client_busy(self, column, r, cpu, conns, suffix):
        """The client's CPU while it ran at R's rate, in % of one core: its CPU per handshake
        times the handshakes per second."""
        if conns and cpu["loadgen"] is not None:
            self.add(column, f"loadgen_busy_pct{suffix}",
                     cpu["loadgen"] / conns * r["handshakes_per_s"] * 100)

    def add_cpu_per_handshake(self, column, cpu, conns, suffix, figures):
        """CPU per handshake, µs, of the roles FIGURES names (disp, workers, loadgen) as
        <name>_us_per_hs<SUFFIX>, and of dispatcher + workers as system_us_per_hs<SUFFIX>."""
        if not conns:
            return
        per = {role: (None if cpu[role] is None else cpu[role] * 1e6 / conns) for role in cpu}
        roles = {"disp": "dispatcher", "workers": "workers", "loadgen": "loadgen"}
        for name in figures:
            self.add(column, f"{name}_us_per_hs{suffix}", per[roles[name]])
        if per["workers"] is not None:
            self.add(column, f"system_us_per_hs{suffix}",
                     per["workers"] + (per["dispatcher"] or 0))

    def light_handshakes(self, column, rep, instance):
        """The full-handshake rate again with bench_loadgen's light client: the OpenSSL client
        costs more per handshake than a TLS server, which squeezes every ratio toward 1 on 2
        cores shared with the servers."""
        o = self.o
        r, cpu = self.loadgen(column, rep, "rate_light", instance, [
            "--light", "rate", "--concurrency", o.rate_concurrency, "--duration",
            str(o.duration), "--size", o.size])
        if not r:
            return
        self.add(column, "hs_light_per_s", r["handshakes_per_s"])
        conns = r.get("conns") or 0
        self.add_cpu_per_handshake(column, cpu, conns, "_light", ("workers", "loadgen"))
        self.add_client_busy(column, r, cpu, conns, "_light")
        self.say(f"  {column}: {r['handshakes_per_s']:,.0f} full handshakes/s with the light "
                 f"client; workers {fmt_us(cpu['workers'], conns)} µs/handshake")

    def bulk(self, column, rep, instance, direction):
        o = self.o
        r, cpu = self.loadgen(column, rep, f"bulk_{direction}", instance, [
            "bulk", "--connections", o.bulk_conns, "--duration", str(o.duration),
            "--direction", direction])
        if not r:
            return
        self.add(column, f"bulk_{direction}_mbps", r["mb_per_s"])
        gigabytes = r.get(f"bytes_{direction}", 0) / 1e9
        if gigabytes > 0:
            if cpu["workers"] is not None:
                self.add(column, f"workers_ms_per_gb_{direction}",
                         cpu["workers"] * 1000 / gigabytes)
            if direction == "down" and cpu["dispatcher"] is not None:
                self.add(column, "disp_ms_per_gb_down", cpu["dispatcher"] * 1000 / gigabytes)
        self.say(f"  {column}: TLS bulk {direction} {r['mb_per_s']:,.0f} MB/s")

    def idle_memory(self, column, rep, instance):
        """RSS of the dispatcher and of the workers before and after N idle TLS connections."""
        o = self.o
        time.sleep(o.settle)
        instance.refresh_pids()
        disp = [instance.dispatcher_pid] if instance.dispatcher_pid else []
        workers = list(instance.worker_pids)

        def rss(pids):
            values = [procs.rss_bytes(pid) for pid in pids]
            return None if not pids or None in values else sum(values)

        disp_before, workers_before = rss(disp), rss(workers)
        argv = self.loadgen_argv(instance.port, self.tls_args() + [
            "idle", "--connections", o.idle_conns, "--burst", o.idle_burst, "--hold", 300])
        proc = self.registry.start("loadgen", argv, capture_stdout=True,
                                   patterns={"established": r"^established (\d+) in (\d+) ms$"})
        got = proc.stdout.wait(lambda t: t.found["established"], time.monotonic() + 120)
        disp_after = workers_after = None
        if got:
            time.sleep(o.settle)
            disp_after, workers_after = rss(disp), rss(workers)
        held_until = time.monotonic()
        self.registry.stop(proc, deadline_s=15.0)
        result = parse_result(proc.stdout.lines())
        established = int(got[0][0]) if got else 0
        deaths = self.deaths(column, rep, "idle", instance, held_until)
        entry = dict(scenario="tls", column=column, rep=rep, figure="idle_memory",
                     argv=[str(a) for a in argv], result=result, established=established,
                     dispatcher_rss_before=disp_before, dispatcher_rss_after=disp_after,
                     workers_rss_before=workers_before, workers_rss_after=workers_after,
                     pids={"dispatcher": disp, "workers": workers}, deaths=deaths)
        if result:
            self.add(column, "errors", result.get("errors", 0))
            self.add(column, "idle_establish_ms", result.get("establish_ms"))
            if result.get("errors") or result.get("dropped"):
                self.note(f"{column} rep {rep} idle: {result.get('errors')} errors "
                          f"{json.dumps(result.get('error_kinds', {}))}, "
                          f"{result.get('dropped')} dropped while held")
        if not got or established == 0 or workers_before is None or workers_after is None:
            self.note(f"{column} rep {rep} idle: no measurement (established {established})")
            self.record(**entry)
            return
        per_conn = (workers_after - workers_before) / established
        entry["workers_bytes_per_conn"] = per_conn
        self.add(column, "workers_idle_bytes", per_conn)
        text = f"workers {per_conn:,.0f} B/conn"
        if disp_before is not None and disp_after is not None:
            disp_per_conn = (disp_after - disp_before) / established
            entry["dispatcher_bytes_per_conn"] = disp_per_conn
            self.add(column, "disp_idle_bytes", disp_per_conn)
            text = f"dispatcher {disp_per_conn:,.0f} B/conn, " + text
        self.record(**entry)
        self.say(f"  {column}: idle {established} TLS conns, {text}")

    def with_instance(self, system, rep, backend_mode, work):
        """Starts `system` in front of the backend, runs work(instance), stops it. A system
        that does not start, or whose processes are gone (a tierlb master, any HAProxy
        process), is marked unavailable for the rest of the run; a tierlb process that dies
        and is restarted by its master is noted and counted, and the run goes on."""
        backend, backend_port = self.backends[backend_mode]
        self.current_backend_pid = backend.pid
        self.instances += 1
        prefix = f"bench-{os.getpid()}-{self.instances}-"
        try:
            instance = system.start(backend_port, backend_mode, prefix)
        except Unavailable as e:
            self.unavailable[system.name] = f"not available: {e}"
            self.say(f"  {system.name}: not available: {e}")
            return
        try:
            # A process killed by the start-up probe (see deaths) is reported a moment later.
            time.sleep(0.3)
            self.deaths(system.name, rep, f"start-up probe ({backend_mode} backend)", instance,
                        None)
            work(instance)
            if not all(p.alive() for p in instance.procs):
                self.unavailable[system.name] = (f"died during the {backend_mode}-backend "
                                                 f"measurements: {instance.last_words()}")
                self.note(f"{system.name}: {self.unavailable[system.name]}")
        finally:
            instance.stop()
            self.note_warnings(system.name, rep, backend_mode, instance)

    # The warning every process of a tierlb configured like HAProxy's `maxconn 30000` prints
    # where the descriptor limit is 20000 (expected here, see bench/README.md).
    EXPECTED_WARNING = re.compile(r"maxconn \d+ needs about \d+ file descriptors")

    def note_warnings(self, column, rep, backend_mode, instance):
        """tierlb's warnings and alerts during this instance's life, each distinct text once
        with its count (process deaths are already noted where they happened)."""
        tail = instance.procs[0].stderr if instance.foreign else None
        if tail is None or "warned" not in tail.found:
            return
        counts = {}
        for (text,) in tail.found["warned"]:
            if self.EXPECTED_WARNING.search(text) or "restarting" in text:
                continue
            key = re.sub(r"\b\d+\b", "N", text)  # one entry whatever the pids and numbers
            counts.setdefault(key, [0, text])[0] += 1
        for count, text in counts.values():
            times = f" ({count} times)" if count > 1 else ""
            self.note(f"{column} rep {rep} ({backend_mode} backend): tierlb said: {text}{times}")

    def run_system(self, system, rep):
        column = system.name

        def echo_set(instance):
            self.idle_memory(column, rep, instance)
            self.handshakes(column, rep, instance)

        self.with_instance(system, rep, "echo", echo_set)
        for mode, direction in (("source", "down"), ("sink", "up")):
            if system.name in self.unavailable:
                return
            self.with_instance(system, rep, mode,
                               lambda inst, d=direction: self.bulk(column, rep, inst, d))

    def run(self):
        o = self.o
        algorithm = KEYS[o.key][1]
        self.say(f"openssl speed -seconds 1 {algorithm} (one core)")
        self.speed = openssl_speed(algorithm)
        self.record(scenario="tls", figure="openssl_speed", algorithm=algorithm,
                    cores_used=self.cores_used, result=self.speed)
        if "sign_per_s" in self.speed:
            self.say(f"  {self.speed['sign_per_s']:,.0f} signs/s, "
                     f"{self.speed['verify_per_s']:,.0f} verifies/s")
            for system in self.systems:
                self.add(system.name, "openssl_limit",
                         self.speed["sign_per_s"] * self.cores_used)
        else:
            self.note(f"openssl speed {algorithm}: {self.speed.get('error')}")
        self.start_backends()
        for rep in range(1, o.reps + 1):
            shift = (rep - 1) % max(len(self.systems), 1)
            order = self.systems[shift:] + self.systems[:shift]
            for system in order:
                if system.name in self.unavailable:
                    continue
                self.say(f"[rep {rep}/{o.reps}] {system.name}")
                self.run_system(system, rep)
                self.check_backends()

    # -- report -----------------------------------------------------------------------------

    def report_markdown(self, machine_pairs, started, elapsed_s, interrupted):
        o = self.o
        names = [s.name for s in self.systems]
        ratios = [(ours, other) for ours in (TIERLB, HANDOFF, NOHOP)
                  for other in (HAPROXY2, HAPROXY1) if ours in names and other in names]
        status = [f"- **{s.name}**: " + (self.unavailable.get(s.name) or "ok")
                  for s in self.systems]
        label = KEYS[o.key][2]
        info = self.tls_info or {}
        negotiated = ", ".join(f"{k} {v}" for k, v in info.items()
                               if k in ("version", "cipher", "group", "alpn") and v)
        if "sign_per_s" in self.speed:
            speed = (f"`openssl speed -seconds 1 {KEYS[o.key][1]}` on one core: "
                     f"{self.speed['sign_per_s']:,.0f} signs/s and "
                     f"{self.speed['verify_per_s']:,.0f} verifies/s (`{self.speed['line']}`); "
                     f"× {self.cores_used} cores used by the TLS workers = "
                     f"{self.speed['sign_per_s'] * self.cores_used:,.0f} signatures/s, the "
                     "ceiling if signing were all a handshake cost.")
        else:
            speed = f"`openssl speed` failed: {self.speed.get('error')}"
        lines = [
            "# TLS termination: tierlb vs HAProxy 2.6 (two tiers, and one process)",
            "",
            f"Run {started} ({o.profile}{', INTERRUPTED' if interrupted else ''}): "
            f"{o.reps} repetitions, {o.workers} TLS workers, {label} certificate, timed runs "
            f"of {o.duration:g} s (first {o.warmup:g} s left out), loadgen --threads "
            f"{o.loadgen_threads}; took {elapsed_s / 60:.1f} min.",
            "",
            "Each cell: median (min–max) over the repetitions; the last columns are ratios of "
            "the medians (above 1× is better for `higher` rows, worse for `lower` rows). CPU "
            "figures are the processes' user+system time inside each run's measured window "
            "divided by the handshakes or bytes counted in that window.",
            "",
            report.table(figures(o, self.cores_used), names, self.samples, self.unavailable,
                         ratios),
            "",
            f"OpenSSL on this machine: {speed}",
            "",
            "## Systems",
            "",
            f"- TLS as negotiated: {negotiated or 'unknown (no handshake completed)'}; the "
            f"client sends SNI `{SERVER_NAME}`"
            + (f" and ALPN `{o.alpn}`" if o.alpn else "") + "; certificate "
            f"`{os.path.relpath(self.crt, self.out_dir)}` (self-signed, made for this run, "
            "not verified by the client).",
            f"- **{HAPROXY2}**: {o.workers}+1 `haproxy -f CFG -db` processes, `nbthread 1` each: "
            "a dispatcher (`balance leastconn`, `server wN abns@... send-proxy`) and "
            f"{o.workers} workers (`bind abns@... accept-proxy ssl crt site.pem "
            "tls-ticket-keys tickets.keys`), `no strict-limits`, no logging.",
            f"- **{HAPROXY1}**: one `haproxy` with `nbthread {o.workers}` terminating TLS itself "
            "(`bind 127.0.0.1:PORT ssl crt site.pem`); its figures are in the workers' rows, "
            "it has no dispatcher.",
            f"- **{TIERLB}**: one `tierlb -f CFG` master, dispatcher in process 1 (leastconn, "
            f"send-proxy over `abns@`), {o.workers} TLS workers (`bind abns@... process N "
            "accept-proxy ssl crt site.pem`); session-ticket keys made by the master and "
            "shared by the workers.",
            f"- **{NOHOP}**: one `tierlb -f CFG` master, {o.workers} TLS processes sharing "
            f"`bind 127.0.0.1:PORT process 1-{o.workers} ssl crt site.pem accept-balance "
            "leastconn`: no dispatcher, an eBPF program makes the kernel place each connection "
            "on the process with the fewest (its figures are in the workers' rows).",
            "- Every system's bind for the clients (the dispatchers', the single processes') "
            "has `defer-accept` (HAProxy's keyword; tierlb's too): a connection is accepted "
            "with its ClientHello.",
            *status,
            "",
            "## Machine",
            "",
            report.machine_markdown(machine_pairs),
            "",
            "## Caveats",
            "",
            f"- Everything shares the same {machine_pairs[0][1]} cores, nothing pinned: the TLS "
            "client (bench_loadgen, one thread) does as much public-key work per handshake as "
            "the server it measures (see its CPU row), plus the backend and every proxy "
            "process. Handshakes/s and MB/s are what this machine gives the whole chain, not a "
            "proxy's capacity; CPU per handshake and per GB of each process are the figures "
            "to compare.",
            "- OpenSSL 3.0 (the same library for HAProxy, tierlb and the client, see Machine) "
            "spends much of a handshake outside the cryptography (provider look-ups, locks, "
            "allocations): a full handshake costs several times what `openssl speed` would "
            "suggest, so the OpenSSL limit row is a ceiling, far from reach.",
            "- Full handshakes: the client offers no session, but the servers still issue "
            "TLS 1.3 session tickets after every handshake (part of what is measured). The "
            "client sends close_notify and closes without waiting for the server's.",
            "- Resumption: HAProxy's two tiers get one `tls-ticket-keys` file shared by their "
            "workers, made by the suite (without it each worker has its own keys and "
            "a resumption works only when the dispatcher happens to pick the same worker); "
            "one HAProxy process shares its keys between its threads.",
            "- Loopback only (127.0.0.1, abstract unix sockets between the tiers); the "
            "backend speaks plain TCP.",
            "- Medians of the repetitions of one run, the systems' order rotating; the machine "
            "is noisy (load average under Machine), so compare the min–max ranges before "
            "trusting a small ratio; use --full for more repetitions of longer runs.",
            "- Memory per idle TLS connection: VmRSS delta of the process(es) across the idle "
            f"run, read {o.settle:g} s after the {o.idle_conns} connections were established "
            "(each proven by a 1-byte echo through TLS), divided by the connections "
            "established; page granularity and allocator caches make it approximate.",
            "- CPU time is read from /proc (clock ticks, 10 ms) at the window's edges as the "
            "load generator announces them: with windows of a few seconds and thousands of "
            "handshakes, ±1 tick is well under 1%.",
        ]
        if self.notes:
            lines += ["", "## Notes from this run", ""] + [f"- {n}" for n in self.notes]
        lines += ["", "Raw results: `raw.jsonl` (one JSON object per loadgen run, with the CPU "
                  "seconds of each role in the window); process output: `logs/`; the last "
                  "configurations used: `configs/`; certificate and ticket keys: `tls/`.", ""]
        return "\n".join(lines)


def fmt_us(seconds, count):
    if seconds is None or not count:
        return "–"
    return f"{seconds * 1e6 / count:,.0f}"
