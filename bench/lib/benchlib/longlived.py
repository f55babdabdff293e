"""What the long-lived scenarios (distribution, burst) share: the systems under test, the TLS
set-up, and the driver's side of `bench_loadgen longlived --control` (commands on its stdin,
answers on its stdout)."""

import os
import time

from . import scenario_tls
from .scenario_base import ScenarioBase, parse_result
from .systems import HaproxyOneProc, HaproxyTwoTier, TierlbHandoff, TierlbTwoTier, TlsSetup
from .systems_reuseport import HaproxyReuseport, TierlbNohop, TierlbReuseport

TIERLB2 = TierlbTwoTier.name
TIERLB_HANDOFF = TierlbHandoff.name
HAPROXY2 = HaproxyTwoTier.name
HAPROXY1 = HaproxyOneProc.name
TIERLB_REUSEPORT = TierlbReuseport.name
HAPROXY_REUSEPORT = HaproxyReuseport.name
TIERLB_NOHOP = TierlbNohop.name
ALL_SYSTEMS = (TIERLB2, HAPROXY2, HAPROXY1, TIERLB_REUSEPORT, HAPROXY_REUSEPORT, TIERLB_HANDOFF,
               TIERLB_NOHOP)

DESCRIPTIONS = {
    TIERLB2: "tierlb, dispatcher (exact leastconn) + W TLS workers over `abns@` with PROXY "
             "headers, one master",
    TIERLB_HANDOFF: "tierlb hand-off mode: the dispatcher passes each socket to a worker "
                    "(`handoff` / `accept-handoff`) and leaves the data path",
    HAPROXY2: "HAProxy 2.6, one dispatcher process (`balance leastconn`) + W worker processes "
              "(`accept-proxy ssl`)",
    HAPROXY1: "HAProxy 2.6, one process, `nbthread W`, terminating TLS itself",
    TIERLB_REUSEPORT: "tierlb, W TLS processes sharing the port (`process 1-W`: "
                      "SO_REUSEPORT, the kernel picks)",
    HAPROXY_REUSEPORT: "HAProxy 2.6, W separate processes binding the same port "
                       "(SO_REUSEPORT, the kernel picks)",
    TIERLB_NOHOP: "tierlb no-hop mode, W TLS processes sharing the port (`process 1-W "
                  "accept-balance leastconn`): an eBPF program makes the kernel pick the "
                  "process with the fewest connections",
}


def make_system(name, tools, workers, registry, config_dir, tls):
    """The system NAME with W TLS workers, each worker process with its own stats socket."""
    if name == TIERLB2:
        return TierlbTwoTier(tools["tierlb"], workers, registry, config_dir, tls, stats=True)
    if name == TIERLB_HANDOFF:
        return TierlbHandoff(tools["tierlb"], workers, registry, config_dir, tls, stats=True)
    if name == TIERLB_REUSEPORT:
        return TierlbReuseport(tools["tierlb"], workers, registry, config_dir, tls, stats=True)
    if name == TIERLB_NOHOP:
        return TierlbNohop(tools["tierlb"], workers, registry, config_dir, tls, stats=True)
    if name == HAPROXY2:
        return HaproxyTwoTier(tools["haproxy"], workers, 1, registry, config_dir, tls,
                              stats=True)
    if name == HAPROXY_REUSEPORT:
        return HaproxyReuseport(tools["haproxy"], workers, 1, registry, config_dir, tls,
                                stats=True)
    if name == HAPROXY1:
        return HaproxyOneProc(tools["haproxy"], workers, registry, config_dir, tls)
    raise ValueError(f"unknown system {name}")


def tls_setup(out_dir, key, alpn=None):
    """The run's certificate (made once per results folder: the suite's scenarios share it)
    and HAProxy's shared ticket keys."""
    site = os.path.join(out_dir, "tls", "site.pem")
    keys = os.path.join(out_dir, "tls", "tickets.keys")
    if not os.path.exists(site):
        site = scenario_tls.make_certificate(out_dir, key)
    if not os.path.exists(keys):
        keys = scenario_tls.make_ticket_keys(out_dir)
    return TlsSetup(site, scenario_tls.SERVER_NAME, alpn=alpn, haproxy_ticket_keys=keys)


class LonglivedScenarioBase(ScenarioBase):
    """A scenario whose load is one `bench_loadgen longlived` per measurement."""

    def tls_args(self):
        return ["--tls", "--sni", scenario_tls.SERVER_NAME]

    def longlived(self, port, args, on_match=None):
        argv = self.loadgen_argv(port, self.tls_args() + ["longlived", "--control"] + args)
        return LonglivedClient(self.registry, argv, on_match)


class LonglivedClient:
    """One `bench_loadgen longlived --control` process: the driver sends it commands and
    waits for each answer, every wait with a deadline."""

    PATTERNS = {
        "opening": r"^opening (\d+)$",
        "established": r"^established (\d+) in (\d+) ms$",
        "closed": r"^closed (\d+)$",
        "opened": r"^opened (\d+) errors (\d+)$",
    }

    def __init__(self, registry, argv, on_match=None):
        self.registry = registry
        self.argv = [str(a) for a in argv]
        self.proc = registry.start("loadgen", self.argv, capture_stdout=True, stdin_pipe=True,
                                   patterns=self.PATTERNS, on_match=on_match)

    def wait_established(self, deadline_s):
        """(established, ms) once the initial connections are all established or failed,
        None if the loadgen did not say so in time."""
        tail = self.proc.stdout
        if not tail.wait(lambda t: t.found["established"], time.monotonic() + deadline_s):
            return None
        count, ms = tail.found["established"][0]
        return int(count), int(ms)

    def command(self, text, answer, deadline_s):
        """Sends TEXT and returns the groups of the next ANSWER line, or None."""
        tail = self.proc.stdout
        before = len(tail.found[answer])
        if not self.proc.send(text):
            return None
        if not tail.wait(lambda t: len(t.found[answer]) > before,
                         time.monotonic() + deadline_s):
            return None
        return tail.found[answer][before]

    def close(self, count, deadline_s=10.0):
        got = self.command(f"close {count}", "closed", deadline_s)
        return None if got is None else int(got[0])

    def open(self, count, burst=1, deadline_s=30.0):
        """(established, errors) of `open COUNT BURST`, or None."""
        got = self.command(f"open {count} {burst}", "opened", deadline_s)
        return None if got is None else (int(got[0]), int(got[1]))

    def finish(self, deadline_s=30.0):
        """Sends `stop`, waits for the loadgen to close everything and exit, returns its
        RESULT (None if it printed none)."""
        self.proc.send("stop")
        if self.proc.wait(deadline_s) is None:
            self.proc.signal(15)
        self.registry.stop(self.proc)
        return parse_result(self.proc.stdout.lines())

    def lines(self):
        return self.proc.stdout.lines()
