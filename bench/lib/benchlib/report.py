"""Summaries and the Markdown report: medians (min-max) per figure per system, the ratio of
tierlb to HAProxy, and a description of the machine the figures came from."""

import os
import platform
import resource
import statistics
import subprocess


class Figure:
    """One row of the report. `better` is "higher" or "lower"; `digits` the decimals shown;
    `kind` is "median" (summarise the repetitions), "total" (add them up) or "info" (summarised
    like a median, but no ratio: a condition of the run rather than a result)."""

    def __init__(self, key, label, better, digits, kind="median"):
        self.key = key
        self.label = label
        self.better = better
        self.digits = digits
        self.kind = kind


def summarize(values):
    """(median, min, max, n) of a non-empty list, or None."""
    if not values:
        return None
    return statistics.median(values), min(values), max(values), len(values)


def fmt(value, digits):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def cell(values, figure):
    """The table cell for one system's samples of one figure."""
    if figure.kind == "total":
        return fmt(sum(values), 0) if values else "–"
    summary = summarize(values)
    if summary is None:
        return "–"
    median, low, high, n = summary
    if n == 1:
        return fmt(median, figure.digits)
    return f"{fmt(median, figure.digits)} ({fmt(low, figure.digits)}–{fmt(high, figure.digits)})"


def ratio_cell(ours, theirs, figure):
    if figure.kind != "median" or not ours or not theirs:
        return "–"
    a = statistics.median(ours)
    b = statistics.median(theirs)
    if b == 0:
        return "–"
    return f"{a / b:.2f}×"


def table(figures, columns, samples, unavailable, ratio_of=None):
    """Markdown table: one row per figure, one column per system (plus the ratio columns).
    samples[column][figure.key] is a list of values; an unavailable column says so.
    ratio_of is one (ours, theirs) pair of columns or a list of them."""
    header = ["figure", "better"] + columns
    ratios = [] if not ratio_of else ([ratio_of] if isinstance(ratio_of[0], str) else ratio_of)
    for ours, theirs in ratios:
        header.append(f"{ours} / {theirs}")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for figure in figures:
        row = [figure.label, figure.better]
        for column in columns:
            values = samples.get(column, {}).get(figure.key, [])
            if column in unavailable and not values:
                row.append("not available")
            else:
                row.append(cell(values, figure))
        for ours_column, theirs_column in ratios:
            ours = samples.get(ours_column, {}).get(figure.key, [])
            theirs = samples.get(theirs_column, {}).get(figure.key, [])
            row.append(ratio_cell(ours, theirs, figure))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"(unavailable: {e})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else f"(no output, exit {out.returncode})"


def _read(path, default="?"):
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return default


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine(haproxy, tierlb, repo_dir):
    """The machine description, as (label, value) pairs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    git = _first_line(["git", "-C", repo_dir, "describe", "--always", "--dirty"])
    return [
        ("cores (nproc)", str(len(os.sched_getaffinity(0)))),
        ("CPU", _cpu_model()),
        ("kernel", platform.release()),
        ("memory", _mem_total()),
        ("HAProxy", _first_line([haproxy, "-v"])),
        ("tierlb", _first_line([tierlb, "-v"])),
        ("source tree", git),
        ("RLIMIT_NOFILE (soft/hard)", f"{soft}/{hard}"),
        ("net.ipv4.tcp_tw_reuse", _read("/proc/sys/net/ipv4/tcp_tw_reuse")),
        ("net.ipv4.ip_local_port_range", _read("/proc/sys/net/ipv4/ip_local_port_range")),
        ("net.core.somaxconn", _read("/proc/sys/net/core/somaxconn")),
        ("python", platform.python_version()),
    ]


def openssl_versions(haproxy, tierlb):
    """Which OpenSSL each TLS party uses, as (label, value) pairs."""
    pairs = [("OpenSSL (command line; bench_loadgen's libssl)",
              _first_line(["openssl", "version"]))]
    try:
        out = subprocess.run([haproxy, "-vv"], capture_output=True, text=True, timeout=10)
        running = [line.strip() for line in out.stdout.splitlines()
                   if line.startswith("Running on OpenSSL")]
        pairs.append(("HAProxy's OpenSSL", running[0] if running else "(not reported)"))
    except (OSError, subprocess.TimeoutExpired) as e:
        pairs.append(("HAProxy's OpenSSL", f"(unavailable: {e})"))
    try:
        out = subprocess.run([tierlb, "-v"], capture_output=True, text=True, timeout=10)
        running = [line.strip() for line in (out.stdout + out.stderr).splitlines()
                   if line.startswith("OpenSSL")]
        pairs.append(("tierlb's OpenSSL", running[0] if running else "(not reported)"))
    except (OSError, subprocess.TimeoutExpired) as e:
        pairs.append(("tierlb's OpenSSL", f"(unavailable: {e})"))
    return pairs


def _mem_total():
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def load_average():
    return " ".join(_read("/proc/loadavg").split()[:3])


def machine_markdown(pairs):
    return "\n".join(f"- {label}: {value}" for label, value in pairs)
