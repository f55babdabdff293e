"""Configuration texts for the integration tests: the seed topology of INTERFACE.md section 2
(a dispatcher in process 1, workers in processes 2..N+1 over abns@, or over TCP when the
workers are on other hosts), in plain TCP."""

import os

from harness import unique


def two_tier(backend_port, workers=2, stats_dir=None, send_proxy="send-proxy",
             dispatcher_bind_options="", dispatcher_extra="", worker_extra="",
             global_extra="", defaults_extra="", server_options="", balance="leastconn",
             worker_addresses=None, backend_host="127.0.0.1"):
    """Returns (config text, stats socket path of the dispatcher, worker abns names). With
    WORKER_ADDRESSES (one "IP:PORT" per worker), the workers listen there instead, and those
    addresses come back in place of the names."""
    names = worker_addresses or [unique("w%d" % (i + 2)) for i in range(workers)]
    addresses = worker_addresses or ["abns@" + name for name in names]
    stats = os.path.join(stats_dir, "dispatcher.sock") if stats_dir else None
    lines = ["global"]
    lines.append("    log stderr format raw local0 info")
    if stats:
        lines.append("    stats socket %s process 1 level admin" % stats)
    lines += ["    " + l for l in global_extra.splitlines() if l.strip()]
    lines += [
        "defaults",
        "    mode tcp",
        "    log global",
        "    option tcplog",
        "    timeout connect 2s",
        "    timeout client 1h",
        "    timeout server 1h",
    ]
    lines += ["    " + l for l in defaults_extra.splitlines() if l.strip()]
    lines += [
        "listen dispatcher",
        "    bind 127.0.0.1:0 process 1 %s" % dispatcher_bind_options,
        "    balance %s" % balance,
        "    option redispatch",
    ]
    lines += ["    " + l for l in dispatcher_extra.splitlines() if l.strip()]
    for i, address in enumerate(addresses):
        lines.append("    server w%d %s %s %s" % (i + 2, address, send_proxy, server_options))
    lines.append("listen worker")
    for i, address in enumerate(addresses):
        lines.append("    bind %s process %d accept-proxy" % (address, i + 2))
    lines += ["    " + l for l in worker_extra.splitlines() if l.strip()]
    lines.append("    server app %s:%d" % (backend_host, backend_port))
    return "\n".join(lines) + "\n", stats, names
