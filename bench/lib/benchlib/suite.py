"""`bench/run --quick|--full`: every scenario in one run, then report.md with the summary
table, the plots and links to each scenario's own report.

The scenarios: dispatcher (plain-TCP throughput, connection rate, latency, dispatcher memory),
tls (handshakes, TLS throughput, memory per idle TLS connection per tier, the cost of the extra
tier against one HAProxy process), distribution (long-lived connections over the workers,
with churn) and burst (the 9 am burst). The quick profile shortens the first two, which have
their own full runs (`bench/run dispatcher`, `bench/run tls`).
"""

import argparse
import os
import sys

from . import plots, report
from .longlived import (ALL_SYSTEMS, HAPROXY1, HAPROXY2, HAPROXY_REUSEPORT, TIERLB2,
                        TIERLB_HANDOFF, TIERLB_NOHOP, TIERLB_REUSEPORT)

ORDER = ("dispatcher", "tls", "distribution", "burst")

# Per profile, what each scenario gets besides --quick/--full. Quick: the whole suite in under
# 5 minutes on 2 cores, with every figure still a median of at least 2 runs.
PROFILE_ARGS = {
    "quick": {
        "dispatcher": ["--reps", "2", "--duration", "2", "--warmup", "0.5", "--idle-conns",
                       "1000"],
        "tls": ["--reps", "2", "--duration", "2", "--warmup", "0.5", "--idle-conns", "1000",
                "--skip-resume"],
        "distribution": [],
        "burst": [],
    },
    "full": {"dispatcher": [], "tls": [], "distribution": [], "burst": []},
}


def parse(argv, parse_args, add_common_arguments):
    """The suite's options, and its plan: [(scenario name, its parsed options)]."""
    p = argparse.ArgumentParser(
        prog="bench/run", description="Every scenario (default --quick), one report.md with "
        "plots. For one scenario: bench/run {dispatcher,tls,distribution,burst} --help.")
    profile = p.add_mutually_exclusive_group()
    profile.add_argument("--quick", dest="profile", action="store_const", const="quick",
                         help="under 5 minutes on 2 cores (default)")
    profile.add_argument("--full", dest="profile", action="store_const", const="full",
                         help="every scenario's full profile (about 30 minutes)")
    p.set_defaults(profile="quick")
    p.add_argument("--only", default=",".join(ORDER),
                   help=f"comma-separated scenarios, from {','.join(ORDER)}")
    p.add_argument("--workers", type=int, default=2,
                   help="TLS workers for the dispatcher, tls and burst scenarios (2)")
    add_common_arguments(p)
    o = p.parse_args(argv)
    only = [s.strip() for s in o.only.split(",") if s.strip()]
    unknown = set(only) - set(ORDER)
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    o.scenario = "suite"
    o.systems = list(ALL_SYSTEMS)
    common = ["--build-dir", o.build_dir, "--results-dir", o.results_dir, "--haproxy",
              o.haproxy] + (["--tierlb", o.tierlb] if o.tierlb else [])
    plan = []
    for name in ORDER:
        if name not in only:
            continue
        args = [name, f"--{o.profile}"] + PROFILE_ARGS[o.profile][name] + common
        if name != "dispatcher":
            args += ["--key", o.key]
        if name != "distribution":
            args += ["--workers", str(o.workers)]
        plan.append((name, parse_args(args)))
    return o, plan


def check_gnuplot(o, plan):
    """Says how to install gnuplot when a plotting scenario runs without it (the run goes on,
    without plots). Always True: a missing plot is no reason to measure nothing."""
    if any(name in ("distribution", "burst") for name, _ in plan) and not plots.gnuplot():
        print(f"bench/run: {plots.INSTALL_HINT}")
    return True


# The summary: (scenario, figure key, label, better, digits).
SUMMARY = [
    ("distribution", "{w}_{n}_arrival_max_mean",
     "busiest worker / mean after arrivals, N={n} W={w}", "lower", 2),
    ("distribution", "{w}_{n}_time_max_mean_worst",
     "  busiest / mean over time with churn, worst", "lower", 2),
    ("distribution", "{w}_{n}_closed", "  share of the gaps random closes opened that the "
     "reopenings closed", "higher", 2),
    ("distribution", "{w}_{n}_taken", "  new connections it took to close one", "lower", 0),
    ("distribution", "{w}_{n}_extra", "  of which beyond the fewest that could (0: best)",
     "lower", 0),
    ("burst", "establish_ms", "9 am burst: {conns} TLS connections established, ms", "lower",
     0),
    ("burst", "hs_p50_ms", "  handshake p50, ms", "lower", 1),
    ("burst", "hs_p99_ms", "  handshake p99, ms", "lower", 1),
    ("burst", "workers_us_per_hs", "  workers' CPU per connection, µs", "lower", 0),
    ("burst", "cpu_split_max", "  CPU split: busiest worker / mean", "lower", 2),
    ("burst", "openssl_limit_ms", "  OpenSSL signing limit for the burst, ms", "lower", 0),
    ("tls", "hs_per_s", "full TLS handshakes/s (32 concurrent)", "higher", 0),
    ("tls", "hs_light_per_s", "  with the light TLS client (bench_loadgen --light)", "higher",
     0),
    ("tls", "system_us_per_hs", "  CPU per handshake, all tiers, µs (cost of the extra "
     "tier: vs haproxy-1proc's workers row)", "lower", 0),
    ("tls", "workers_us_per_hs", "  TLS workers' CPU per handshake, µs", "lower", 0),
    ("tls", "bulk_down_mbps", "TLS bulk down, MB/s", "higher", 0),
    ("tls", "disp_idle_bytes", "memory per idle TLS connection, dispatcher, bytes", "lower", 0),
    ("tls", "workers_idle_bytes", "  TLS workers, bytes", "lower", 0),
    ("dispatcher", "rate_cps", "plain TCP through both tiers: connections/s", "higher", 0),
    ("dispatcher", "bulk_down_mbps", "  bulk down, MB/s", "higher", 0),
    ("dispatcher", "lat_added_p50_ms", "  latency added p50, ms", "lower", 3),
    ("dispatcher", "disp_idle_bytes", "  dispatcher memory per idle connection, bytes", "lower",
     0),
]


def summary_table(done_by_name, columns):
    """The summary rows of the scenarios that ran, as one Markdown table."""
    samples = {c: {} for c in columns}
    figures = []
    unavailable = {}
    for scenario_name, key, label, better, digits in summary_rows(done_by_name):
        scenario = done_by_name[scenario_name]
        for column, why in scenario.unavailable.items():
            unavailable.setdefault(column, why)
        for k, text in [(key, label)]:
            unique = f"{scenario_name}:{k}"
            figures.append(report.Figure(unique, text, better, digits,
                                         kind="info" if k == "openssl_limit_ms" else "median"))
            for column in columns:
                values = scenario.samples.get(column, {}).get(k, [])
                if values:
                    samples[column][unique] = values
    used = [c for c in columns if samples[c] or c in unavailable]
    ratios = [(TIERLB2, other) for other in (HAPROXY2, HAPROXY1)
              if TIERLB2 in used and other in used]
    if TIERLB_NOHOP in used and HAPROXY2 in used:
        ratios.append((TIERLB_NOHOP, HAPROXY2))
    return report.table(figures, used, samples, unavailable, ratios)


def summary_rows(done_by_name):
    """SUMMARY for the scenarios that ran, keys and labels filled in: the distribution rows
    at the largest W, for each N of at least 100 (else the largest N), grouped by N."""
    rows = []
    for scenario_name in ORDER_IN_SUMMARY:
        scenario = done_by_name.get(scenario_name)
        if scenario is None:
            continue
        mine = [r for r in SUMMARY if r[0] == scenario_name]
        if scenario_name == "distribution":
            o = scenario.o
            w = max(o.workers_list)
            for n in [n for n in o.conns if n >= 100] or [max(o.conns)]:
                rows += [(name, key.format(w=f"w{w}", n=f"n{n}"), label.format(w=w, n=n),
                          better, digits) for name, key, label, better, digits in mine]
        else:
            rows += [(name, key, label.format(conns=getattr(scenario.o, "conns", "")), better,
                      digits) for name, key, label, better, digits in mine]
    return rows


ORDER_IN_SUMMARY = ("distribution", "burst", "tls", "dispatcher")


def draw_plots(o, done_by_name, out_dir):
    """The PNGs: connections per worker over time (distribution, per W) and the handshake
    latency distribution (burst). Returns ([(title, relative path)], [errors])."""
    if not plots.gnuplot():
        return [], [plots.INSTALL_HINT]
    drawn, errors = [], []
    plots_dir = os.path.join(out_dir, "plots")
    dist = done_by_name.get("distribution")
    if dist is not None:
        for w in dist.o.workers_list:
            series = [(s, dist.series.get((s, w))) for s in dist.system_names]
            title = (f"Connections per worker over time: N={dist.o.plot_conns} TLS "
                     f"connections, W={w}, churn {dist.o.churn_fraction:.0%} per round")
            png, error = plots.connections_over_time(
                plots_dir, f"connections-per-worker-n{dist.o.plot_conns}-w{w}", title, series)
            if png:
                drawn.append((title, os.path.relpath(png, out_dir)))
            elif error:
                errors.append(f"W={w}: {error}")
    burst = done_by_name.get("burst")
    if burst is not None:
        title = (f"Handshake latency in the 9 am burst: {burst.o.conns} TLS connections in "
                 f"bursts of {burst.o.burst}, {burst.o.workers} workers (the median run)")
        cdfs = [(s, burst.median_cdf(s)) for s in burst.system_names]
        png, error = plots.latency_distribution(plots_dir, "burst-handshake-latency", title,
                                                cdfs, "handshake, ms (log scale)")
        if png:
            drawn.append((title, os.path.relpath(png, out_dir)))
        elif error:
            errors.append(f"burst: {error}")
    return drawn, errors


def write_report(o, done, machine_pairs, started, out_dir, interrupted, failures):
    done_by_name = {name: scenario for name, scenario, _ in done}
    columns = [TIERLB2, HAPROXY2, HAPROXY1, TIERLB_REUSEPORT, HAPROXY_REUSEPORT, TIERLB_HANDOFF,
               TIERLB_NOHOP]
    drawn, plot_errors = draw_plots(o, done_by_name, out_dir)
    minutes = sum(seconds for _, _, seconds in done) / 60
    lines = [
        "# tierlb vs HAProxy 2.6 and SO_REUSEPORT: long-lived TLS connections",
        "",
        f"Run {started} (`bench/run --{o.profile}`{', INTERRUPTED' if interrupted else ''}), "
        f"{minutes:.1f} min on {machine_pairs[0][1]} cores ({machine_pairs[1][1]}). "
        "Each cell: median (min–max) over the runs; the last columns are tierlb-2tier's median "
        "over haproxy-2tier's and over haproxy-1proc's, from the same run (the cost of the "
        "extra tier is the CPU per handshake of all tiers against one HAProxy process). The "
        "distribution rows are at the largest W measured.",
        "",
        summary_table(done_by_name, columns),
        "",
        "Systems: **tierlb-2tier** dispatcher (exact leastconn) + TLS workers over `abns@`; "
        "**haproxy-2tier** the same topology in HAProxy 2.6; **haproxy-1proc** one HAProxy "
        "process with `nbthread W`; **tierlb-reuseport** / **haproxy-reuseport** W TLS "
        "processes sharing the port with SO_REUSEPORT (the kernel picks); **tierlb-handoff** "
        "the dispatcher passes each socket to a worker (hand-off mode; `not available` where "
        "tierlb refuses it); **tierlb-nohop** W TLS processes sharing the port with "
        "`accept-balance leastconn`: an eBPF program makes the kernel place each connection on "
        "the process with the fewest, no dispatcher (`not available` where eBPF is refused). "
        "The dispatcher rows are plain TCP (workers without TLS).",
        "",
    ]
    if drawn:
        lines += ["## Plots", ""]
        for title, path in drawn:
            lines += [f"![{title}]({path})", ""]
    if plot_errors:
        lines += ["Plots not drawn: " + "; ".join(plot_errors), ""]
    lines += ["## Each scenario's report", ""]
    for name, scenario, seconds in done:
        doc = sys.modules[type(scenario).__module__].__doc__ or name
        lines.append(f"- [{name}.md]({name}.md): {doc.strip().splitlines()[0]} "
                     f"({seconds / 60:.1f} min)")
    if failures:
        lines += ["", "## Failures", ""] + [f"- {f}" for f in failures]
    lines += ["", "## Machine", "", report.machine_markdown(machine_pairs), "",
              "Noise: this machine's 2 cores run the load generator, the backend and every "
              "proxy process, and other work besides; compare the min–max ranges, and prefer "
              "`--full` on a quiet machine for figures to quote.", ""]
    text = "\n".join(lines)
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    return text
