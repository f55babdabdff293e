"""Scenario "distribution": how evenly each system spreads long-lived TLS connections over its
W workers, when they arrive and as random closes open gaps.

For each W, each system is started once (fresh processes); then per repetition and per N:
  1. `bench_loadgen longlived --control` opens N TLS connections in bursts; once every worker's
     stats socket (`show stat`, FRONTEND scur) adds up to N, the counts are read: the
     distribution after arrivals.
  2. Rounds of churn: close K = N x fraction random connections, wait until the workers have
     seen it (the gap the closes opened), then open new ones one at a time, reading the counts
     after each, until the busiest worker is at most one above the least busy (the gap closed);
     the rest of the K in one batch. Counted: the new connections the gap took, against the
     fewest that could close it (sum over workers of max(0, max - 1 - count)).
  3. Over the run: max/mean and min/mean of every reading taken after an event (arrivals,
     closes, each reopening), the states the system went through one event at a time.
The first repetition at the plotted N also holds a moment after each phase while a thread
samples every worker's count every few tens of ms: the plot of connections per worker over
time.
"""

import json
import os
import statistics
import time

from . import report, stats
from .longlived import (DESCRIPTIONS, HAPROXY2, HAPROXY_REUSEPORT, TIERLB2, TIERLB_HANDOFF,
                        TIERLB_NOHOP, TIERLB_REUSEPORT, LonglivedScenarioBase, make_system,
                        tls_setup)
from .systems import Unavailable

SYSTEMS = (TIERLB2, HAPROXY2, TIERLB_REUSEPORT, HAPROXY_REUSEPORT, TIERLB_HANDOFF,
           TIERLB_NOHOP)

PROFILES = {
    "quick": {"workers_list": [2, 4], "conns": [40, 100, 1000], "reps": 2, "rounds": 2,
              "sample_interval": 0.05},
    "full": {"workers_list": [2, 3, 4], "conns": [40, 100, 1000], "reps": 5, "rounds": 4,
             "sample_interval": 0.05},
}

SETTLE_S = 10.0  # how long the workers may take to report what the client did
PLOT_HOLD_S = 0.5  # the plotted run's pause after each phase, so the plot shows plateaus


def add_arguments(parser):
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument("--quick", dest="profile", action="store_const", const="quick",
                         help="W = 2, 4; 3 repetitions, 2 churn rounds (default)")
    profile.add_argument("--full", dest="profile", action="store_const", const="full",
                         help="W = 2, 3, 4; 5 repetitions, 4 churn rounds")
    parser.set_defaults(profile="quick")
    parser.add_argument("--workers-list", help="comma-separated W values (profile)")
    parser.add_argument("--conns", help="comma-separated N values (40,100,1000)")
    parser.add_argument("--reps", type=int, help="repetitions (profile)")
    parser.add_argument("--rounds", type=int, help="churn rounds per run (profile)")
    parser.add_argument("--churn-fraction", type=float, default=0.1,
                        help="share of the connections each round closes (0.1)")
    parser.add_argument("--burst", type=int, default=50,
                        help="connections opened at once on arrival (50)")
    parser.add_argument("--plot-conns", type=int, default=100,
                        help="the N whose time series is plotted (100)")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated, from {','.join(SYSTEMS)}")


def apply_profile(o, parser):
    chosen = PROFILES[o.profile]
    o.workers_list = ([int(w) for w in o.workers_list.split(",")] if o.workers_list
                      else chosen["workers_list"])
    o.conns = [int(n) for n in o.conns.split(",")] if o.conns else chosen["conns"]
    o.reps = o.reps or chosen["reps"]
    o.rounds = chosen["rounds"] if o.rounds is None else o.rounds
    o.sample_interval = chosen["sample_interval"]
    for value, low, high, name in [(o.reps, 1, 50, "--reps"), (o.rounds, 0, 50, "--rounds"),
                                   (o.burst, 1, 5000, "--burst")]:
        if not low <= value <= high:
            parser.error(f"{name} must be in [{low}, {high}]")
    if not all(1 <= w <= 16 for w in o.workers_list):
        parser.error("--workers-list: each W in [1, 16]")
    if not all(1 <= n <= 5000 for n in o.conns):
        parser.error("--conns: each N in [1, 5000]")
    if not 0 < o.churn_fraction <= 0.9:
        parser.error("--churn-fraction must be in (0, 0.9]")


def spread_figures(counts):
    """(max/mean, min/mean, max - min) of one reading of the workers' counts."""
    mean = sum(counts) / len(counts)
    if mean == 0:
        return None
    return max(counts) / mean, min(counts) / mean, max(counts) - min(counts)


def fewest_to_close(counts):
    """The fewest new connections that can bring every worker to within one of the busiest."""
    top = max(counts)
    return sum(max(0, top - 1 - c) for c in counts)


def key(w, n, figure):
    return f"w{w}_n{n}_{figure}"


class Scenario(LonglivedScenarioBase):
    def __init__(self, o, registry, out_dir, tools):
        super().__init__(o, registry, out_dir, tools)
        self.hold_s = 0.0  # pause between phases (the plotted run only)
        self.tls = tls_setup(out_dir, o.key)
        self.system_names = list(o.systems)
        self.series = {}  # (system, W) -> [(t, counts)] of the plotted N, first repetition
        self.skipped = {}  # system -> why (unavailable), shown once

    # -- one run: N connections, arrivals and churn rounds ------------------------------------

    def run_one(self, column, w, n, rep, instance):
        names = instance.worker_stats
        plotted = rep == 1 and n == self.o.plot_conns
        self.hold_s = PLOT_HOLD_S if plotted else 0.0
        sampler = None
        if plotted:
            sampler = stats.Sampler(names, instance.stats_section, self.o.sample_interval)
            sampler.start()
        client = self.longlived(instance.port, [
            "--connections", n, "--burst", min(self.o.burst, n), "--interval", 5,
            "--duration", 600, "--progress", 0])
        entry = dict(scenario="distribution", column=column, workers=w, conns=n, rep=rep,
                     argv=client.argv, rounds=[], readings=[])
        try:
            self._arrivals_and_churn(column, w, n, client, names, instance, entry)
            time.sleep(self.hold_s)
        finally:
            result = client.finish()
            if sampler:
                time.sleep(self.hold_s)  # the closes, in the plot
                entry["samples"] = sampler.stop()
                self.series[(column, w)] = entry["samples"]
        entry["result"] = result
        self.record(**entry)
        self._over_time(column, w, n, entry["readings"])
        if result is None:
            self.note(f"{column} W={w} N={n} rep {rep}: no RESULT from the loadgen")
            return
        errors = result.get("errors", 0)
        self.add(column, "errors", errors)
        if errors:
            self.note(f"{column} W={w} N={n} rep {rep}: {errors} errors "
                      f"{json.dumps(result.get('error_kinds', {}))}")
        # Wait until every worker has seen the closes, so the next N starts from zero.
        stats.wait_for_total(names, instance.stats_section, 0, SETTLE_S)

    def _arrivals_and_churn(self, column, w, n, client, names, instance, entry):
        section = instance.stats_section
        got = client.wait_established(120)
        if got is None or got[0] != n:
            self.note(f"{column} W={w} N={n}: only {got} of {n} established "
                      f"({' | '.join(client.lines()[-3:])})")
            return
        counts, settled = stats.wait_for_total(names, section, n, SETTLE_S)
        entry["after_arrivals"] = counts
        if not settled:
            self.note(f"{column} W={w} N={n}: the workers' counts {counts} never added up to "
                      f"{n}")
            return
        entry["readings"].append(counts)
        self._add_spread(column, w, n, "arrival", counts)
        k = max(1, round(n * self.o.churn_fraction))
        for _ in range(self.o.rounds):
            time.sleep(self.hold_s)
            one = self._churn_round(column, w, n, k, client, names, section, entry["readings"])
            entry["rounds"].append(one)
            if one.get("failed"):
                self.note(f"{column} W={w} N={n}: churn round failed: {one['failed']}")
                return
        self.say(f"  {column} W={w} N={n}: after arrivals {counts}, rounds "
                 + ", ".join(f"{r['taken']}/{r['fewest']}" for r in entry["rounds"]))

    def _churn_round(self, column, w, n, k, client, names, section, readings):
        """Closes K, then reopens one at a time until the gap is closed, then the rest.
        Appends every reading to READINGS."""
        if client.close(k) != k:
            return {"failed": f"close {k} not answered"}
        gap, settled = stats.wait_for_total(names, section, n - k, SETTLE_S)
        if not settled:
            return {"failed": f"counts {gap} never added up to {n - k} after the closes"}
        readings.append(gap)
        time.sleep(self.hold_s)
        one = {"gap": gap, "fewest": fewest_to_close(gap), "taken": None}
        counts = gap
        opened = 0
        while max(counts) - min(counts) > 1 and opened < k:
            if client.open(1) != (1, 0):
                return dict(one, failed="a reopening failed")
            opened += 1
            counts, settled = stats.wait_for_total(names, section, n - k + opened, SETTLE_S)
            if not settled:
                return dict(one, failed=f"counts {counts} never reached {n - k + opened}")
            readings.append(counts)
        if max(counts) - min(counts) <= 1:
            one["taken"] = opened
        rest = k - opened
        if rest > 0 and client.open(rest, rest) != (rest, 0):
            return dict(one, failed=f"reopening the last {rest} failed")
        after, settled = stats.wait_for_total(names, section, n, SETTLE_S)
        if not settled:
            return dict(one, failed=f"counts {after} never added back up to {n}")
        readings.append(after)
        one["after"] = after
        self._add_spread(column, w, n, "gap", gap)
        self._add_spread(column, w, n, "reopen", after)
        self.add(column, key(w, n, "fewest"), one["fewest"])
        self.add(column, key(w, n, "closed"), 0 if one["taken"] is None else 1)
        if one["taken"] is not None:
            self.add(column, key(w, n, "taken"), one["taken"])
            self.add(column, key(w, n, "extra"), one["taken"] - one["fewest"])
        return one

    def _add_spread(self, column, w, n, moment, counts):
        figures = spread_figures(counts)
        if figures is None:
            return
        high, low, spread = figures
        self.add(column, key(w, n, f"{moment}_max_mean"), high)
        self.add(column, key(w, n, f"{moment}_min_mean"), low)
        self.add(column, key(w, n, f"{moment}_spread"), spread)

    def _over_time(self, column, w, n, readings):
        """Max/mean and min/mean over every reading of the run (one after each event): the
        median over the run and its worst moment."""
        highs, lows = [], []
        for counts in readings:
            if sum(counts) > 0:
                high, low, _ = spread_figures(counts)
                highs.append(high)
                lows.append(low)
        if highs:
            self.add(column, key(w, n, "time_max_mean_median"), statistics.median(highs))
            self.add(column, key(w, n, "time_max_mean_worst"), max(highs))
            self.add(column, key(w, n, "time_min_mean_worst"), min(lows))

    # -- the run ------------------------------------------------------------------------------

    def run(self):
        o = self.o
        self.start_backends(("echo",))
        backend, backend_port = self.backends["echo"]
        self.current_backend_pid = backend.pid
        for w in o.workers_list:
            shift = o.workers_list.index(w) % len(self.system_names)
            order = self.system_names[shift:] + self.system_names[:shift]
            for name in order:
                if name in self.skipped:
                    continue
                self.say(f"[distribution W={w}] {name}")
                self.run_system(name, w, backend_port)
                self.check_backends()

    def run_system(self, name, w, backend_port):
        system = make_system(name, self.tools, w, self.registry, self.config_dir, self.tls)
        self.instances += 1
        prefix = f"bench-{os.getpid()}-{self.instances}-"
        try:
            instance = system.start(backend_port, "echo", prefix)
        except OSError as e:  # e.g. the executable is being rebuilt: skip this start only
            self.note(f"{name} W={w}: could not start: {e}")
            return
        except Unavailable as e:
            self.unavailable[name] = f"not available: {e}"
            self.skipped[name] = str(e)
            self.say(f"  {name}: not available: {e}")
            return
        try:
            for rep in range(1, self.o.reps + 1):
                for n in self.o.conns:
                    if not instance.alive():
                        self.note(f"{name} W={w}: a process died ({instance.last_words()})")
                        return
                    self.run_one(name, w, n, rep, instance)
        finally:
            instance.stop()

    # -- report -------------------------------------------------------------------------------

    def figures_for(self, w, n):
        f = report.Figure
        return [
            f(key(w, n, "arrival_max_mean"), f"W={w} N={n}: busiest worker / mean, after "
              "arrivals", "lower", 2),
            f(key(w, n, "arrival_min_mean"), "  least busy worker / mean, after arrivals",
              "higher", 2),
            f(key(w, n, "arrival_spread"), "  busiest − least busy, connections", "lower", 0),
            f(key(w, n, "gap_spread"), "  gap opened by the random closes, connections",
              "lower", 0),
            f(key(w, n, "taken"), "  new connections it took to close the gap", "lower", 0),
            f(key(w, n, "fewest"), "  fewest that could have closed it", "lower", 0),
            f(key(w, n, "extra"), "  new connections beyond the fewest (0: every one went to "
              "a worker below the busiest)", "lower", 0),
            f(key(w, n, "closed"), "  share of gaps closed by the reopenings (1 = all)",
              "higher", 2),
            f(key(w, n, "reopen_max_mean"), "  busiest / mean after the reopenings", "lower",
              2),
            f(key(w, n, "time_max_mean_median"), "  busiest / mean over time, median", "lower",
              2),
            f(key(w, n, "time_max_mean_worst"), "  busiest / mean over time, worst", "lower",
              2),
            f(key(w, n, "time_min_mean_worst"), "  least busy / mean over time, worst",
              "higher", 2),
        ]

    def report_markdown(self, machine_pairs, started, elapsed_s, interrupted):
        o = self.o
        figures = [f for w in o.workers_list for n in o.conns for f in self.figures_for(w, n)]
        figures.append(report.Figure("errors", "loadgen errors, all runs (should be 0)", "lower",
                                     0, kind="total"))
        ratios = [(TIERLB2, other) for other in (HAPROXY2, TIERLB_REUSEPORT, HAPROXY_REUSEPORT)
                  if other in self.system_names and TIERLB2 in self.system_names]
        if TIERLB_NOHOP in self.system_names and HAPROXY2 in self.system_names:
            ratios.append((TIERLB_NOHOP, HAPROXY2))
        status = [f"- **{s}**: {DESCRIPTIONS[s]}; " + (self.unavailable.get(s) or "ok")
                  for s in self.system_names]
        lines = [
            "# Distribution of long-lived TLS connections over the workers",
            "",
            f"Run {started} ({o.profile}{', INTERRUPTED' if interrupted else ''}): W in "
            f"{o.workers_list}, N in {o.conns}, {o.reps} repetitions, {o.rounds} churn rounds "
            f"of {o.churn_fraction:.0%} each, arrivals in bursts of {o.burst}; took "
            f"{elapsed_s / 60:.1f} min.",
            "",
            "Counts are each worker process's `show stat` FRONTEND scur, read once they add up "
            "to what the client holds. *After arrivals*: when all N are established. *Gap*: "
            "after K random closes. *Taken*: new connections, opened one at a time, until "
            "the busiest worker is at most one above the least busy (rounds where that never "
            "happened within K are left out of this row and lower the *share closed* row). "
            "*Over time*: every reading of the run, one after each event (arrivals, the "
            "closes, each reopening, the last batch). Each cell: median "
            "(min–max) over repetitions and rounds.",
            "",
            report.table(figures, self.system_names, self.samples, self.unavailable, ratios),
            "",
            "## Systems",
            "",
            *status,
            "",
            "## Machine",
            "",
            report.machine_markdown(machine_pairs),
        ]
        if self.notes:
            lines += ["", "## Notes from this run", ""] + [f"- {n}" for n in self.notes]
        lines += ["", "Raw results: `raw.jsonl` (`scenario: distribution`: the counts after "
                  "arrivals, each round's gap and reopenings, the sampled time series).", ""]
        return "\n".join(lines)
