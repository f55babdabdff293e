"""Scenario "dispatcher": tierlb's two tiers vs HAProxy 2.6's two tiers, plain-TCP workers.

Per repetition, in one run: the backend measured directly (the reference), then each system
(their order alternates between repetitions, so neither always runs on a warmer machine):
  - echo backend:   idle memory (fresh processes), latency, connection rate
  - source backend: bulk MB/s down
  - sink backend:   bulk MB/s up
Every figure is summarised as the median (min-max) of the repetitions.
"""

import json
import os
import time

from . import procs
from . import report
from .report import Figure
from .scenario_base import ScenarioBase, parse_result
from .systems import HaproxyTwoTier, TierlbTwoTier, Unavailable

PROFILES = {
    "quick": {"reps": 3, "duration": 3.0, "warmup": 1.0},
    "full": {"reps": 5, "duration": 12.0, "warmup": 2.0},
}

DIRECT = "direct"
HAPROXY = HaproxyTwoTier.name
TIERLB = TierlbTwoTier.name


def figures(o):
    return [
        Figure("rate_cps", f"connection rate, conn/s ({o.rate_concurrency} workers, "
               f"connect + {o.size} B echo + close)", "higher", 0),
        Figure("rate_p50_ms", "  connect+exchange p50, ms", "lower", 3),
        Figure("rate_p99_ms", "  connect+exchange p99, ms", "lower", 3),
        Figure("bulk_down_mbps", f"bulk down, MB/s ({o.bulk_conns} conns, source backend)",
               "higher", 0),
        Figure("bulk_up_mbps", f"bulk up, MB/s ({o.bulk_conns} conns, sink backend)",
               "higher", 0),
        Figure("disp_cpu_us_per_conn", "dispatcher CPU per connection, µs (rate run)", "lower", 1),
        Figure("disp_cpu_ms_per_gb", "dispatcher CPU per GB relayed, ms (bulk down run)",
               "lower", 0),
        Figure("lat_p50_ms", f"round trip p50, ms ({o.latency_conns} conns, {o.size} B "
               f"every {o.latency_interval:g} ms)", "lower", 3),
        Figure("lat_p99_ms", "  round trip p99, ms", "lower", 3),
        Figure("lat_added_p50_ms", "  added by the proxies, p50, ms", "lower", 3),
        Figure("lat_added_p99_ms", "  added by the proxies, p99, ms", "lower", 3),
        Figure("disp_idle_bytes", f"dispatcher memory per idle connection, bytes "
               f"({o.idle_conns} conns)", "lower", 0),
        Figure("workers_idle_bytes", "  all workers' memory per idle connection, bytes "
               "(for information)", "lower", 0),
        Figure("idle_establish_ms", f"  time to establish the {o.idle_conns} (bursts of "
               f"{o.idle_burst}), ms", "lower", 0),
        Figure("errors", "loadgen errors, all runs (should be 0)", "lower", 0, kind="total"),
    ]


class Scenario(ScenarioBase):
    def __init__(self, o, registry, out_dir, tools):
        super().__init__(o, registry, out_dir, tools)
        self.latest_latency = {}  # (column, rep) -> latency RESULT, for the added latency
        self.systems = []
        for name in o.systems:
            if name == HAPROXY:
                self.systems.append(HaproxyTwoTier(tools["haproxy"], o.workers,
                                                   o.haproxy_nbthread, registry,
                                                   self.config_dir))
            elif name == TIERLB:
                self.systems.append(TierlbTwoTier(tools["tierlb"], o.workers, registry,
                                                  self.config_dir))

    def loadgen(self, column, rep, figure, port, mode_args, cpu_pid=None):
        """Runs one timed loadgen; returns its RESULT as a dict, or None (noted). With
        CPU_PID, the result also gets "cpu_s": that process's CPU time over the run."""
        argv = self.loadgen_argv(port, mode_args)
        cpu_before = procs.cpu_seconds(cpu_pid) if cpu_pid else None
        proc = self.registry.start("loadgen", argv, capture_stdout=True)
        code = proc.wait(self.o.duration + 60)
        cpu_after = procs.cpu_seconds(cpu_pid) if cpu_pid else None
        if code is None:
            self.note(f"{column} rep {rep} {figure}: loadgen overran, stopped")
        self.registry.stop(proc)
        result = parse_result(proc.stdout.lines())
        if result is not None and cpu_before is not None and cpu_after is not None:
            result["cpu_s"] = cpu_after - cpu_before
        self.record(scenario="dispatcher", column=column, rep=rep, figure=figure,
                    argv=[str(a) for a in argv], exit=proc.popen.returncode, result=result)
        if result is None:
            self.note(f"{column} rep {rep} {figure}: no RESULT line (exit "
                      f"{proc.popen.returncode}; see logs/loadgen.log)")
            return None
        errors = result.get("errors", 0)
        self.add(column, "errors", errors)
        if errors:
            self.note(f"{column} rep {rep} {figure}: {errors} errors "
                      f"{json.dumps(result.get('error_kinds', {}))}")
        return result

    # -- measurements -----------------------------------------------------------------------

    def timed_set(self, column, rep, port, which, cpu_pid=None):
        """The timed measurements against `port`; `which` is a subset of rate/latency/down/up.
        CPU_PID (the dispatcher) gets its CPU time per connection and per GB measured."""
        o = self.o
        d = str(o.duration)
        # The CPU time covers the whole run, warm-up included: scale the work done to match.
        # The warm-up the loadgen really leaves out: a quarter of a run shorter than twice it.
        warmup = float(o.warmup) if float(o.warmup) * 2 <= float(o.duration) else o.duration / 4
        whole_run = float(o.duration) / max(float(o.duration) - warmup, 0.001)
        if "latency" in which:
            r = self.loadgen(column, rep, "latency", port, [
                "latency", "--connections", o.latency_conns, "--duration", d, "--size", o.size,
                "--interval", o.latency_interval])
            if r:
                self.add(column, "lat_p50_ms", r["p50_ms"])
                self.add(column, "lat_p99_ms", r["p99_ms"])
                self.say(f"  {column}: latency p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms")
                self.latest_latency[(column, rep)] = r
                direct = self.latest_latency.get((DIRECT, rep))
                if column != DIRECT and direct:
                    self.add(column, "lat_added_p50_ms", r["p50_ms"] - direct["p50_ms"])
                    self.add(column, "lat_added_p99_ms", r["p99_ms"] - direct["p99_ms"])
        if "rate" in which:
            r = self.loadgen(column, rep, "rate", port, [
                "rate", "--concurrency", o.rate_concurrency, "--duration", d, "--size", o.size],
                cpu_pid=cpu_pid)
            if r and "cpu_s" in r and r.get("conns"):
                self.add(column, "disp_cpu_us_per_conn",
                         r["cpu_s"] * 1e6 / (r["conns"] * whole_run))
            if r:
                self.add(column, "rate_cps", r["conns_per_s"])
                self.add(column, "rate_p50_ms", r["p50_ms"])
                self.add(column, "rate_p99_ms", r["p99_ms"])
                self.say(f"  {column}: rate {r['conns_per_s']:,.0f} conn/s")
        for direction in ("down", "up"):
            if direction in which:
                r = self.loadgen(column, rep, f"bulk_{direction}", port, [
                    "bulk", "--connections", o.bulk_conns, "--duration", d, "--direction",
                    direction], cpu_pid=cpu_pid)
                if r and direction == "down" and "cpu_s" in r and r.get("mb_per_s"):
                    gigabytes = r["mb_per_s"] * float(r.get("seconds", o.duration)) * whole_run / 1000
                    self.add(column, "disp_cpu_ms_per_gb", r["cpu_s"] * 1000 / gigabytes)
                if r:
                    self.add(column, f"bulk_{direction}_mbps", r["mb_per_s"])
                    self.say(f"  {column}: bulk {direction} {r['mb_per_s']:,.0f} MB/s")

    def idle_memory(self, column, rep, instance):
        """RSS of the dispatcher (and workers) before and after N idle connections."""
        o = self.o
        time.sleep(o.settle)
        before = procs.rss_bytes(instance.dispatcher_pid)
        workers_before = [procs.rss_bytes(pid) for pid in instance.worker_pids]
        argv = self.loadgen_argv(instance.port, [
            "idle", "--connections", o.idle_conns, "--burst", o.idle_burst, "--hold", 300])
        proc = self.registry.start("loadgen", argv, capture_stdout=True,
                                   patterns={"established": r"^established (\d+) in (\d+) ms$"})
        got = proc.stdout.wait(lambda t: t.found["established"], time.monotonic() + 120)
        after = workers_after = None
        if got:
            time.sleep(o.settle)
            after = procs.rss_bytes(instance.dispatcher_pid)
            workers_after = [procs.rss_bytes(pid) for pid in instance.worker_pids]
        self.registry.stop(proc, deadline_s=15.0)
        result = parse_result(proc.stdout.lines())
        established = int(got[0][0]) if got else 0
        entry = dict(scenario="dispatcher", column=column, rep=rep, figure="idle_memory",
                     argv=[str(a) for a in argv], result=result, established=established,
                     dispatcher_rss_before=before, dispatcher_rss_after=after,
                     workers_rss_before=workers_before, workers_rss_after=workers_after)
        if result:
            self.add(column, "errors", result.get("errors", 0))
            self.add(column, "idle_establish_ms", result.get("establish_ms"))
            if result.get("errors") or result.get("dropped"):
                self.note(f"{column} rep {rep} idle: {result.get('errors')} errors, "
                          f"{result.get('dropped')} dropped while held")
        if not got or established == 0 or before is None or after is None:
            self.note(f"{column} rep {rep} idle: no measurement (established {established})")
            self.record(**entry)
            return
        per_conn = (after - before) / established
        entry["dispatcher_bytes_per_conn"] = per_conn
        self.add(column, "disp_idle_bytes", per_conn)
        if None not in workers_before and None not in workers_after:
            workers_per_conn = (sum(workers_after) - sum(workers_before)) / established
            entry["workers_bytes_per_conn"] = workers_per_conn
            self.add(column, "workers_idle_bytes", workers_per_conn)
        self.record(**entry)
        self.say(f"  {column}: idle {established} conns, dispatcher {per_conn:,.0f} B/conn")

    def with_instance(self, system, rep, backend_mode, work):
        """Starts `system` in front of the backend, runs work(instance), stops it. Marks the
        system unavailable for the rest of the run if it does not start or dies meanwhile."""
        _, backend_port = self.backends[backend_mode]
        self.instances += 1
        prefix = f"bench-{os.getpid()}-{self.instances}-"
        try:
            instance = system.start(backend_port, backend_mode, prefix)
        except Unavailable as e:
            self.unavailable[system.name] = f"not available: {e}"
            self.say(f"  {system.name}: not available: {e}")
            return
        try:
            work(instance)
            if not instance.alive():
                self.unavailable[system.name] = (f"died during the {backend_mode}-backend "
                                                 f"measurements: {instance.last_words()}")
                self.note(f"{system.name}: {self.unavailable[system.name]}")
        finally:
            instance.stop()

    def run_system(self, system, rep):
        column = system.name

        def echo_set(instance):
            self.idle_memory(column, rep, instance)
            self.timed_set(column, rep, instance.port, {"latency", "rate"},
                           cpu_pid=instance.dispatcher_pid)

        self.with_instance(system, rep, "echo", echo_set)
        for mode, direction in (("source", "down"), ("sink", "up")):
            if system.name in self.unavailable:
                return
            self.with_instance(system, rep, mode,
                               lambda inst, d=direction: self.timed_set(
                                   column, rep, inst.port, {d}, cpu_pid=inst.dispatcher_pid))

    def run(self):
        o = self.o
        self.start_backends()
        for rep in range(1, o.reps + 1):
            self.say(f"[rep {rep}/{o.reps}] direct (no proxy)")
            self.timed_set(DIRECT, rep, self.backends["echo"][1], {"latency", "rate"})
            self.timed_set(DIRECT, rep, self.backends["source"][1], {"down"})
            self.timed_set(DIRECT, rep, self.backends["sink"][1], {"up"})
            order = self.systems if rep % 2 == 1 else list(reversed(self.systems))
            for system in order:
                if system.name in self.unavailable:
                    continue
                self.say(f"[rep {rep}/{o.reps}] {system.name}")
                self.run_system(system, rep)
                self.check_backends()

    # -- report -----------------------------------------------------------------------------

    def report_markdown(self, machine_pairs, started, elapsed_s, interrupted):
        o = self.o
        columns = [DIRECT] + [s.name for s in self.systems]
        ratio = (TIERLB, HAPROXY) if {TIERLB, HAPROXY} <= set(o.systems) else None
        status = []
        for s in self.systems:
            status.append(f"- **{s.name}**: " + (self.unavailable.get(s.name) or "ok"))
        lines = [
            "# Dispatcher tier: tierlb vs HAProxy 2.6, two tiers, plain-TCP workers",
            "",
            f"Run {started} ({o.profile}{', INTERRUPTED' if interrupted else ''}): "
            f"{o.reps} repetitions, {o.workers} workers, timed runs of {o.duration:g} s "
            f"(first {o.warmup:g} s left out), loadgen --threads {o.loadgen_threads}; "
            f"took {elapsed_s / 60:.1f} min.",
            "",
            "Each cell: median (min–max) over the repetitions; the last column is the ratio of "
            "the medians. *direct* is the loadgen against the backend with no proxy.",
            "",
            report.table(figures(o), columns, self.samples, self.unavailable, ratio),
            "",
            "## Systems",
            "",
            f"- **{DIRECT}**: bench_backend (echo, source, sink), no proxy",
            *status,
            "",
            "## Machine",
            "",
            report.machine_markdown(machine_pairs),
            "",
            "## Caveats",
            "",
            "- The load generator, the proxies and the backend all share the same cores "
            f"({machine_pairs[0][1]}); nothing is pinned. Every process of the chain competes "
            "for CPU, so these figures compare the systems with each other in one run, they are "
            "not the systems' capacity.",
            "- Loopback only (127.0.0.1, abstract unix sockets between the tiers): no NIC, no "
            "network latency; the kernel's TCP cost is a large share of every figure.",
            "- Medians of several repetitions taken in the same run, systems alternating order; "
            "the machine is noisy, so compare the min–max ranges before trusting a small ratio. "
            "With 2 cores for W+3 busy processes, throughput also depends on where the "
            "scheduler puts them: an A/A check (two identical HAProxy setups, see "
            "bench/README.md) gave a 0.78× rate ratio, so only differences well outside that "
            "deserve a conclusion (use --full).",
            f"- HAProxy: W+1 separate processes with `nbthread {o.haproxy_nbthread}` and "
            "`no strict-limits` (the descriptor hard limit may be lower than maxconn 30000 asks "
            "for, and 2.6 refuses to start otherwise); no logging.",
            "- Memory per idle connection: VmRSS delta of the process across the idle run, "
            f"read {o.settle:g} s after the connections were established (each proven by a "
            "1-byte echo through both tiers), divided by the connections established; page "
            "granularity and allocator caches make it approximate.",
            "- Latency is not corrected for coordinated omission (paced sends, a late reply "
            "delays the next send of that connection only).",
        ]
        if self.notes:
            lines += ["", "## Notes from this run", ""] + [f"- {n}" for n in self.notes]
        lines += ["", "Raw results: `raw.jsonl` (one JSON object per loadgen run); process "
                  "output: `logs/`; the last configurations used: `configs/`.", ""]
        return "\n".join(lines)
