"""Reading the workers' connection counts from their stats sockets, once or over time.

tierlb and HAProxy answer `show stat` with the same CSV; the FRONTEND row of a section has the
sessions it holds now in `scur`. Each worker process has its own stats socket on an abstract
name (HAProxy's zero-padded `abns@`), so the counts are read per process.
"""

import socket
import threading
import time

from . import procs

QUERY_TIMEOUT_S = 1.0


def show_stat(abns_name, timeout=QUERY_TIMEOUT_S):
    """The CSV answer of `show stat` on abns@ABNS_NAME, as a list of rows (lists of fields);
    the header row is the one starting with '# pxname'. Raises OSError on failure."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(procs.abns_address(abns_name))
        s.sendall(b"show stat\n")
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    text = b"".join(chunks).decode("utf-8", "replace")
    return [line.split(",") for line in text.splitlines() if line.strip()]


def frontend_scur(abns_name, section):
    """Current sessions of SECTION's FRONTEND row on that stats socket (None if absent)."""
    rows = show_stat(abns_name)
    header = next((r for r in rows if r and r[0].startswith("# pxname")), None)
    column = header.index("scur") if header and "scur" in header else 4
    for row in rows:
        if len(row) > column and row[0] == section and row[1] == "FRONTEND":
            return int(row[column] or 0)
    return None


def worker_counts(stats_names, section):
    """One count per worker, in order; None for a worker whose socket did not answer."""
    counts = []
    for name in stats_names:
        try:
            counts.append(frontend_scur(name, section))
        except (OSError, ValueError):
            counts.append(None)
    return counts


def wait_for_total(stats_names, section, total, deadline_s):
    """Polls the counts until they add up to TOTAL (the workers have seen every open and
    close) or deadline_s passes. Returns (counts, settled)."""
    end = time.monotonic() + deadline_s
    while True:
        counts = worker_counts(stats_names, section)
        if None not in counts and sum(counts) == total:
            return counts, True
        if time.monotonic() >= end:
            return counts, False
        time.sleep(0.005)


class Sampler:
    """Reads every worker's count every interval_s on a thread, into `samples`: a list of
    (seconds since start, [count per worker]). Bounded by max_samples."""

    def __init__(self, stats_names, section, interval_s, max_samples=20000):
        self.stats_names = list(stats_names)
        self.section = section
        self.interval_s = interval_s
        self.max_samples = max_samples
        self.samples = []
        self.failures = 0
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def elapsed(self):
        return time.monotonic() - self._t0

    def _loop(self):
        while not self._stop.is_set() and len(self.samples) < self.max_samples:
            at = self.elapsed()
            counts = worker_counts(self.stats_names, self.section)
            if None in counts:
                self.failures += 1
            else:
                self.samples.append((at, counts))
            self._stop.wait(self.interval_s)

    def stop(self):
        self._stop.set()
        self._thread.join(QUERY_TIMEOUT_S * (len(self.stats_names) + 1))
        return self.samples
