"""Scenario "burst": the 9 am burst. Everyone connects at once: N TLS connections opened in
bursts of B (each burst complete before the next), every connection a full handshake and a
first echo through to the backend.

Per repetition, each system on fresh processes (the order rotates): the time until all N are
established, the handshake latency (p50/p99 and its distribution, for the plot), and the CPU
each process spent between the load generator's "opening" and "established" lines: per
handshake, and how it was split over the workers (the busiest worker's CPU over the mean: 1.00
is an even split). The OpenSSL limit (`openssl speed` signatures/s of the certificate's key on
one core × the cores the workers can use) bounds what any system could do.
"""

import json
import os
import time

from . import report, scenario_tls
from .longlived import (DESCRIPTIONS, HAPROXY1, HAPROXY2, HAPROXY_REUSEPORT, TIERLB2,
                        TIERLB_HANDOFF, TIERLB_NOHOP, TIERLB_REUSEPORT, LonglivedScenarioBase,
                        make_system, tls_setup)
from .scenario_tls import cpu_delta, cpu_of
from .systems import Unavailable

SYSTEMS = (TIERLB2, HAPROXY2, HAPROXY1, TIERLB_REUSEPORT, HAPROXY_REUSEPORT, TIERLB_HANDOFF,
           TIERLB_NOHOP)

PROFILES = {
    "quick": {"reps": 3},
    "full": {"reps": 5},
}


def add_arguments(parser):
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument("--quick", dest="profile", action="store_const", const="quick",
                         help="3 repetitions (default)")
    profile.add_argument("--full", dest="profile", action="store_const", const="full",
                         help="5 repetitions")
    parser.set_defaults(profile="quick")
    parser.add_argument("--workers", type=int, default=2,
                        help="TLS worker processes (or threads of one HAProxy) (2)")
    parser.add_argument("--reps", type=int, help="repetitions (profile)")
    parser.add_argument("--conns", type=int, default=2000, help="connections (2000)")
    parser.add_argument("--burst", type=int, default=200, help="opened at once (200)")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated, from {','.join(SYSTEMS)}")


def apply_profile(o, parser):
    o.reps = o.reps or PROFILES[o.profile]["reps"]
    for value, low, high, name in [(o.reps, 1, 50, "--reps"), (o.workers, 1, 16, "--workers"),
                                   (o.conns, 1, 9000, "--conns"), (o.burst, 1, 9000, "--burst")]:
        if not low <= value <= high:
            parser.error(f"{name} must be in [{low}, {high}]")


def figures(o, label, cores):
    f = report.Figure
    return [
        f("establish_ms", f"time until all {o.conns} are established (bursts of {o.burst}), ms",
          "lower", 0),
        f("hs_per_s", "  handshakes/s over that time", "higher", 0),
        f("hs_p50_ms", "handshake p50, ms (TCP connected → TLS handshake done)", "lower", 1),
        f("hs_p99_ms", "handshake p99, ms", "lower", 1),
        f("establish_p99_ms", "  whole opening p99, ms (connect, handshake, first echo)",
          "lower", 1),
        f("workers_us_per_hs", "workers' CPU per connection, µs (all workers together)",
          "lower", 0),
        f("disp_us_per_hs", "dispatcher CPU per connection, µs", "lower", 0),
        f("cpu_split_max", "CPU split: busiest worker / mean of the workers", "lower", 2),
        f("cpu_split_min", "  least busy worker / mean", "higher", 2),
        f("loadgen_us_per_hs", "  TLS client CPU per connection, µs (for information)", "lower",
          0),
        f("openssl_limit_ms", f"OpenSSL limit: {o.conns} {label} signatures on {cores} "
          "core(s), ms (for comparison)", "lower", 0, kind="info"),
        f("errors", "loadgen errors, all runs (should be 0)", "lower", 0, kind="total"),
    ]


class Scenario(LonglivedScenarioBase):
    def __init__(self, o, registry, out_dir, tools):
        super().__init__(o, registry, out_dir, tools)
        self.tls = tls_setup(out_dir, o.key)
        self.system_names = list(o.systems)
        self.cores_used = min(o.workers, len(os.sched_getaffinity(0)))
        self.speed = {}
        self.cdfs = {}  # system -> [(establish_ms, [[quantile, ms], ...]) per repetition]
        self.tls_info = None

    def measure(self, column, rep, instance):
        o = self.o
        instance.refresh_pids()
        disp = [instance.dispatcher_pid] if instance.dispatcher_pid else []
        workers = list(instance.worker_pids)
        marks = {}
        pid = {}

        def on_match(name, _groups):
            # On the reader thread, as the line arrives: the edges of the burst.
            if name in ("opening", "established"):
                pids = disp + workers + ([pid["loadgen"]] if "loadgen" in pid else [])
                marks[name] = cpu_of(pids)

        client = self.longlived(instance.port, [
            "--connections", o.conns, "--burst", o.burst, "--interval", 60, "--duration", 300,
            "--progress", 5], on_match=on_match)
        pid["loadgen"] = client.proc.pid
        got = client.wait_established(240)
        result = client.finish()
        entry = dict(scenario="burst", column=column, rep=rep, argv=client.argv, result=result,
                     pids={"dispatcher": disp, "workers": workers})
        if got is None or result is None:
            self.note(f"{column} rep {rep}: the burst did not finish "
                      f"({' | '.join(client.lines()[-3:])})")
            self.record(**entry)
            return
        established = result.get("established_initial", 0)
        errors = result.get("errors", 0)
        self.add(column, "errors", errors)
        if errors or established != o.conns:
            self.note(f"{column} rep {rep}: {established}/{o.conns} established, {errors} errors "
                      f"{json.dumps(result.get('error_kinds', {}))}")
        if self.tls_info is None and result.get("tls_info"):
            self.tls_info = result["tls_info"]
        ms = result["establish_ms"]
        self.add(column, "establish_ms", ms)
        self.add(column, "hs_per_s", established / (ms / 1000) if ms > 0 else None)
        self.add(column, "hs_p50_ms", result["handshake_p50_ms"])
        self.add(column, "hs_p99_ms", result["handshake_p99_ms"])
        self.add(column, "establish_p99_ms", result.get("establish", {}).get("p99_ms"))
        self.cdfs.setdefault(column, []).append((ms, result.get("handshake_cdf_ms", [])))
        if "opening" in marks and "established" in marks and established:
            self._cpu(column, marks, disp, workers, pid["loadgen"], established, entry)
        self.record(**entry)
        self.say(f"  {column}: {established} established in {ms:,.0f} ms, handshake p50 "
                 f"{result['handshake_p50_ms']:.1f} p99 {result['handshake_p99_ms']:.1f} ms")

    def _cpu(self, column, marks, disp, workers, loadgen_pid, established, entry):
        start, end = marks["opening"], marks["established"]
        per_worker = [cpu_delta(start, end, [p]) for p in workers]
        entry["cpu_s"] = {"workers": per_worker, "dispatcher": cpu_delta(start, end, disp),
                          "loadgen": cpu_delta(start, end, [loadgen_pid])}
        if None in per_worker or not per_worker:
            self.note(f"{column}: a worker was gone when the burst ended: no CPU figures")
            return
        total = sum(per_worker)
        self.add(column, "workers_us_per_hs", total * 1e6 / established)
        if disp:
            self.add(column, "disp_us_per_hs", entry["cpu_s"]["dispatcher"] * 1e6 / established)
        if entry["cpu_s"]["loadgen"] is not None:
            self.add(column, "loadgen_us_per_hs", entry["cpu_s"]["loadgen"] * 1e6 / established)
        mean = total / len(per_worker)
        if mean > 0 and len(per_worker) > 1:
            self.add(column, "cpu_split_max", max(per_worker) / mean)
            self.add(column, "cpu_split_min", min(per_worker) / mean)

    def median_cdf(self, column):
        """The handshake distribution of the repetition whose burst took the median time."""
        runs = sorted(self.cdfs.get(column, []), key=lambda run: run[0])
        return runs[(len(runs) - 1) // 2][1] if runs else None

    def run(self):
        o = self.o
        algorithm = scenario_tls.KEYS[o.key][1]
        self.say(f"openssl speed -seconds 1 {algorithm} (one core)")
        self.speed = scenario_tls.openssl_speed(algorithm)
        self.record(scenario="burst", figure="openssl_speed", algorithm=algorithm,
                    cores_used=self.cores_used, result=self.speed)
        if "sign_per_s" in self.speed:
            limit_ms = o.conns / (self.speed["sign_per_s"] * self.cores_used) * 1000
            for name in self.system_names:
                self.add(name, "openssl_limit_ms", limit_ms)
        else:
            self.note(f"openssl speed {algorithm}: {self.speed.get('error')}")
        self.start_backends(("echo",))
        backend, backend_port = self.backends["echo"]
        self.current_backend_pid = backend.pid
        for rep in range(1, o.reps + 1):
            shift = (rep - 1) % max(len(self.system_names), 1)
            order = self.system_names[shift:] + self.system_names[:shift]
            for name in order:
                if name in self.unavailable:
                    continue
                self.say(f"[burst rep {rep}/{o.reps}] {name}")
                self.run_system(name, rep, backend_port)
                self.check_backends()

    def run_system(self, name, rep, backend_port):
        system = make_system(name, self.tools, self.o.workers, self.registry, self.config_dir,
                             self.tls)
        self.instances += 1
        prefix = f"bench-{os.getpid()}-{self.instances}-"
        try:
            instance = system.start(backend_port, "echo", prefix)
        except OSError as e:  # e.g. the executable is being rebuilt: skip this start only
            self.note(f"{name} rep {rep}: could not start: {e}")
            return
        except Unavailable as e:
            self.unavailable[name] = f"not available: {e}"
            self.say(f"  {name}: not available: {e}")
            return
        try:
            time.sleep(0.3)  # let the start-up probe's connection go before reading CPU
            self.measure(name, rep, instance)
            if not instance.alive():
                self.note(f"{name} rep {rep}: a process died: {instance.last_words()}")
        finally:
            instance.stop()

    def report_markdown(self, machine_pairs, started, elapsed_s, interrupted):
        o = self.o
        label = scenario_tls.KEYS[o.key][2]
        ratios = [(TIERLB2, other) for other in (HAPROXY2, HAPROXY1, HAPROXY_REUSEPORT)
                  if other in self.system_names and TIERLB2 in self.system_names]
        if TIERLB_NOHOP in self.system_names and HAPROXY2 in self.system_names:
            ratios.append((TIERLB_NOHOP, HAPROXY2))
        info = self.tls_info or {}
        negotiated = ", ".join(f"{k} {v}" for k, v in info.items()
                               if k in ("version", "cipher", "group") and v)
        if "sign_per_s" in self.speed:
            speed = (f"`openssl speed -seconds 1 {scenario_tls.KEYS[o.key][1]}`: "
                     f"{self.speed['sign_per_s']:,.0f} signs/s on one core × {self.cores_used} "
                     f"= {self.speed['sign_per_s'] * self.cores_used:,.0f}/s, so {o.conns} "
                     f"handshakes cannot take less than "
                     f"{o.conns / (self.speed['sign_per_s'] * self.cores_used) * 1000:,.0f} ms "
                     "of signing alone.")
        else:
            speed = f"`openssl speed` failed: {self.speed.get('error')}"
        status = [f"- **{s}**: {DESCRIPTIONS[s].replace('W ', f'{o.workers} ')}; "
                  + (self.unavailable.get(s) or "ok") for s in self.system_names]
        lines = [
            "# The 9 am burst: TLS connections all at once",
            "",
            f"Run {started} ({o.profile}{', INTERRUPTED' if interrupted else ''}): {o.reps} "
            f"repetitions, {o.conns} connections in bursts of {o.burst}, {o.workers} TLS "
            f"workers, {label} certificate ({negotiated or 'no handshake completed'}); took "
            f"{elapsed_s / 60:.1f} min.",
            "",
            "Each cell: median (min–max) over the repetitions, fresh processes each time. CPU: "
            "user+system time of each process between the load generator's `opening` and "
            "`established` lines, divided by the connections established.",
            "",
            report.table(figures(o, label, self.cores_used), self.system_names, self.samples,
                         self.unavailable, ratios),
            "",
            f"OpenSSL on this machine: {speed}",
            "",
            "## Systems",
            "",
            *status,
            "",
            "## Caveats",
            "",
            "- The TLS client (one thread) does as much public-key work per handshake as the "
            "server and shares the same cores: the time to establish is the whole machine's, "
            "not a proxy's capacity; CPU per connection and the CPU split are the figures "
            "to compare.",
        ]
        if self.notes:
            lines += ["", "## Notes from this run", ""] + [f"- {n}" for n in self.notes]
        lines += ["", "Raw results: `raw.jsonl` (`scenario: burst`).", ""]
        return "\n".join(lines)
