"""PNG plots of a run, drawn by gnuplot (package gnuplot-nox: `scripts/install-deps --bench`).

Each plot writes its data as plain columns next to the PNG (plots/*.dat) and a gnuplot script
(plots/*.gp), so a plot can be redrawn or restyled by hand.
"""

import os
import shutil
import subprocess

INSTALL_HINT = "gnuplot is missing: install it with `scripts/install-deps --bench` " \
               "(Debian package gnuplot-nox); the report is written without plots"


def gnuplot():
    """The gnuplot executable, or None."""
    return shutil.which("gnuplot")


def _terminal():
    # pngcairo draws smoother lines; plain png (libgd) is there in every build.
    try:
        out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True,
                             timeout=10)
        if "pngcairo" in out.stdout + out.stderr:
            return "pngcairo size 1000,{height} font ',10'"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "png size 1000,{height}"


def _draw(script_path, script):
    with open(script_path, "w", encoding="utf-8") as f:
        f.write(script)
    try:
        out = subprocess.run(["gnuplot", script_path], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"gnuplot failed: {e}"
    if out.returncode != 0:
        return f"gnuplot failed: {out.stderr.strip()[-300:]}"
    return None


def connections_over_time(plots_dir, name, title, series):
    """One panel per system, one line per worker: connections held over time.
    series: [(system, [(t, [count per worker]), ...]), ...]. Returns (png path, error)."""
    series = [(system, samples) for system, samples in series if samples]
    if not series:
        return None, "no samples"
    os.makedirs(plots_dir, exist_ok=True)
    panels = []
    # One scale for every panel, so that the systems compare at a glance.
    top = max(max(counts) for _, samples in series for _, counts in samples)
    for system, samples in series:
        data = os.path.join(plots_dir, f"{name}-{system}.dat")
        workers = len(samples[0][1])
        with open(data, "w", encoding="utf-8") as f:
            f.write("# seconds " + " ".join(f"worker{i}" for i in range(1, workers + 1)) + "\n")
            for t, counts in samples:
                f.write(f"{t:.3f} " + " ".join(str(c) for c in counts) + "\n")
        lines = ", ".join(f"'{data}' using 1:{i + 1} with steps lw 2 title 'worker {i}'"
                          for i in range(1, workers + 1))
        panels.append(f"set title '{system}'\nplot {lines}\n")
    png = os.path.join(plots_dir, f"{name}.png")
    height = 260 * len(panels) + 60
    script = (
        f"set terminal {_terminal().format(height=height)}\n"
        f"set output '{png}'\n"
        f"set multiplot layout {len(panels)},1 title '{title}'\n"
        "set xlabel 'seconds'\nset ylabel 'connections'\nset key outside right\n"
        f"set grid\nset yrange [0:{max(1, round(top * 1.15))}]\n"
        + "".join(panels) + "unset multiplot\n"
    )
    error = _draw(os.path.join(plots_dir, f"{name}.gp"), script)
    return (None, error) if error else (png, None)


def latency_distribution(plots_dir, name, title, cdfs, xlabel):
    """Cumulative distribution, one line per system. cdfs: [(system, [[q, ms], ...]), ...]."""
    cdfs = [(system, points) for system, points in cdfs if points]
    if not cdfs:
        return None, "no distribution"
    os.makedirs(plots_dir, exist_ok=True)
    plots = []
    for system, points in cdfs:
        data = os.path.join(plots_dir, f"{name}-{system}.dat")
        with open(data, "w", encoding="utf-8") as f:
            f.write("# ms quantile\n")
            for q, ms in points:
                f.write(f"{ms:.4f} {q:.3f}\n")
        plots.append(f"'{data}' using 1:2 with lines lw 2 title '{system}'")
    png = os.path.join(plots_dir, f"{name}.png")
    script = (
        f"set terminal {_terminal().format(height=500)}\n"
        f"set output '{png}'\n"
        f"set title '{title}'\n"
        f"set xlabel '{xlabel}'\nset ylabel 'share of connections'\n"
        "set logscale x\nset grid\nset key bottom right\nset yrange [0:1]\n"
        "plot " + ", ".join(plots) + "\n"
    )
    error = _draw(os.path.join(plots_dir, f"{name}.gp"), script)
    return (None, error) if error else (png, None)
