"""Systems without a dispatcher: W TLS worker processes sharing one TCP port with SO_REUSEPORT.
Without more, the kernel picks the process of each new connection by hashing its addresses:
the baseline tierlb exists to beat (INTERFACE.md section 2).

- tierlb-reuseport: one `tierlb -f CFG` master, `bind 127.0.0.1:PORT process 1-W ssl crt ...`
  makes its W processes bind the port with SO_REUSEPORT.
- haproxy-reuseport: W separate `haproxy -f CFG -db` processes binding the same port (HAProxy
  sets SO_REUSEPORT on its listeners by default).
- tierlb-nohop: tierlb-reuseport with `accept-balance leastconn` (issue [9]): an eBPF program
  makes the kernel place each connection on the process with the fewest, no hop. Where the
  master cannot load it (it then warns and runs plain SO_REUSEPORT), the system is reported
  not available rather than measured as something it is not.
Each worker process has its own stats socket, for the distribution scenario.
"""

from . import procs
from .systems import (DEFAULTS, HaproxyTwoTier, Instance, TierlbTwoTier, Unavailable,
                      client_options, probe, READY_DEADLINE_S, PROBE_DEADLINE_S)
from . import stats


class TierlbReuseport(TierlbTwoTier):
    name = "tierlb-reuseport"
    config_name = "tierlb-reuseport.cfg"
    dispatcher_process = None  # every process is a TLS worker

    def worker_processes(self):
        return list(range(1, self.workers + 1))

    def config(self, port, backend_port, prefix):
        tls = self.tls.bind_options(haproxy=False) if self.tls else ""
        processes = "1" if self.workers == 1 else f"1-{self.workers}"
        return self._global(prefix) + DEFAULTS.format(maxconn="") + (
            "listen worker\n"
            f"    bind 127.0.0.1:{port} process {processes}{tls}{client_options(self.tls)}\n"
            f"    server app 127.0.0.1:{backend_port}\n"
        )


class TierlbNohop(TierlbReuseport):
    name = "tierlb-nohop"
    config_name = "tierlb-nohop.cfg"
    # The master's line once the program is attached; its warning when it is not.
    ACTIVE = "accept-balance leastconn: the kernel places each connection"
    REFUSED = "accept-balance leastconn: "

    def config(self, port, backend_port, prefix):
        text = super().config(port, backend_port, prefix)
        return text.replace(f"    bind 127.0.0.1:{port} process 1-{self.workers}",
                            f"    bind 127.0.0.1:{port} process 1-{self.workers} "
                            "accept-balance leastconn")

    def start(self, backend_port, backend_mode, prefix):
        if self.workers < 2:
            raise Unavailable("accept-balance needs at least 2 processes")
        instance = super().start(backend_port, backend_mode, prefix)
        lines = instance.procs[0].stderr.lines()
        if not any(self.ACTIVE in line for line in lines):
            refused = [line for line in lines if self.REFUSED in line]
            instance.stop()
            raise Unavailable("eBPF not active: " + (refused[0] if refused else
                                                     "no line of the master says it is"))
        return instance


class HaproxyReuseport(HaproxyTwoTier):
    name = "haproxy-reuseport"

    def config(self, port, backend_port, stats_name):
        tls = self.tls.bind_options(haproxy=True) if self.tls else ""
        return self._global(stats_name) + DEFAULTS.format(maxconn="    maxconn 30000\n") + (
            "listen worker\n"
            f"    bind 127.0.0.1:{port}{tls}{client_options(self.tls)}\n"
            f"    server app 127.0.0.1:{backend_port}\n"
        )

    def start(self, backend_port, backend_mode, prefix):
        port = procs.free_port()
        started = []
        instance = Instance(self, self.registry, port, None, [], started)
        names = [f"{prefix}stats{i}" for i in range(1, self.workers + 1)]
        try:
            for i, name in enumerate(names, start=1):
                path = self._write(f"haproxy-reuseport{i}.cfg",
                                   self.config(port, backend_port, name))
                started.append(self.registry.start(
                    f"haproxy-r{i}", [self.haproxy, "-f", path, "-db"],
                    log_name=f"haproxy-reuseport{i}", capture_stderr=True))
            instance.worker_pids = [p.pid for p in started]
            instance.worker_stats = names if self.stats else []
            # Every process answers on its stats socket once it has bound the port too.
            self._wait_all_answer(instance, names)
            if not procs.poll_until(lambda: probe(port, backend_mode, self.tls),
                                    PROBE_DEADLINE_S):
                raise Unavailable(f"end-to-end probe failed: {instance.last_words()}")
        except BaseException:
            instance.stop()
            raise
        return instance

    def _wait_all_answer(self, instance, names):
        def answered():
            if not instance.alive():
                return "dead"
            counts = stats.worker_counts(names, "worker")
            return "ok" if None not in counts else None

        state = procs.poll_until(answered, READY_DEADLINE_S)
        if state != "ok":
            why = "exited" if state == "dead" else "not answering after %.0f s" % READY_DEADLINE_S
            raise Unavailable(f"{why}: {instance.last_words()}")
