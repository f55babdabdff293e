"""Issue [7]: processes drop root for the global `user`/`group` once their sockets are open and
their certificates read (the master keeps it, to bind again on reload); `cpu-map` pins a
process; an unknown user is a configuration error at its line."""

import os
import socket
import ssl
import tempfile
import unittest

from harness import EchoBackend, Tierlb, echo_once, run_tierlb, stats_command
from tls_certs import self_signed
from topology import two_tier


def ids_of(pid):
    """(real, effective uid), (real, effective gid), supplementary groups of PID."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return (tuple(map(int, fields["Uid"][:2])), tuple(map(int, fields["Gid"][:2])),
            fields.get("Groups", []))


def allowed_cpus(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return ""


@unittest.skipUnless(os.geteuid() == 0, "needs root: dropping privileges is what is tested")
class Privileges(unittest.TestCase):
    def test_processes_run_as_the_configured_user_after_binding(self):
        """A certificate only root can read still loads (read before the drop); every process
        but the master runs as nobody/nogroup without supplementary groups; TLS and hand-off
        (SO_PEERCRED between two dropped processes) work."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            pem = self_signed(tmp, "worker.test")
            os.chmod(pem, 0o600)
            config, stats, names = two_tier(backend.port, workers=1, stats_dir=tmp,
                                            send_proxy="handoff",
                                            global_extra="user nobody\ngroup nogroup")
            config = config.replace(" accept-proxy\n", " accept-handoff ssl crt %s\n" % pem)
            with Tierlb(config) as lb:
                self.assertEqual(ids_of(lb.process.pid)[0], (0, 0))
                for n in (1, 2):
                    uid, gid, groups = ids_of(lb.pid_of(n))
                    self.assertEqual(uid, (65534, 65534))
                    self.assertEqual(gid, (65534, 65534))
                    self.assertEqual(groups, [])
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                raw = socket.create_connection(("127.0.0.1", lb.port("dispatcher")), timeout=5)
                with ctx.wrap_socket(raw, server_hostname="worker.test") as s:
                    s.sendall(b"as nobody")
                    self.assertEqual(s.recv(20), b"as nobody")
                # The stats socket, bound before the drop, still answers.
                self.assertIn("Pid: %d" % lb.pid_of(1), stats_command(stats, "show info"))

    def test_an_unknown_user_is_an_error_at_its_line(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, _, _ = two_tier(backend.port, workers=1,
                                    global_extra="user no-such-user-here")
            path = os.path.join(tmp, "t.cfg")
            with open(path, "w") as f:
                f.write(config)
            code, _, err = run_tierlb(["-c", "-f", path])
            self.assertEqual(code, 1)
            self.assertRegex(err, r"%s:3: 'user': unknown user 'no-such-user-here'" % path)


class CpuMap(unittest.TestCase):
    def test_each_process_runs_on_its_cpus(self):
        cpus = os.sched_getaffinity(0)
        if len(cpus) < 2:
            self.skipTest("needs two CPUs")
        first, second = sorted(cpus)[:2]
        with EchoBackend() as backend:
            config, _, _ = two_tier(backend.port, workers=1,
                                    global_extra="cpu-map 1 %d\ncpu-map 2 %d" % (first, second))
            with Tierlb(config) as lb:
                self.assertEqual(allowed_cpus(lb.pid_of(1)), str(first))
                self.assertEqual(allowed_cpus(lb.pid_of(2)), str(second))
                self.assertEqual(echo_once(lb.port("dispatcher")), b"ping")


class DispatcherScheduling(unittest.TestCase):
    def test_a_process_without_tls_runs_under_sched_batch(self):
        """tune.dispatcher.sched-batch, on by default: the dispatcher (no TLS bind) runs under
        SCHED_BATCH, every thread of it; a TLS worker keeps the normal policy; off keeps both
        normal."""
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            pem = self_signed(tmp, "worker.test")
            for setting, dispatcher_policy in (("", os.SCHED_BATCH),
                                               ("tune.dispatcher.sched-batch off",
                                                os.SCHED_OTHER)):
                config, _, _ = two_tier(backend.port, workers=1, send_proxy="handoff",
                                        global_extra="nbthread 2\n" + setting)
                config = config.replace(" accept-proxy\n", " accept-handoff ssl crt %s\n" % pem)
                with Tierlb(config) as lb:
                    dispatcher = lb.pid_of(1)
                    threads = [int(t) for t in os.listdir("/proc/%d/task" % dispatcher)]
                    self.assertGreaterEqual(len(threads), 2)
                    for thread in threads:
                        self.assertEqual(os.sched_getscheduler(thread), dispatcher_policy,
                                         "thread %d of the dispatcher (%r)" % (thread, setting))
                    self.assertEqual(os.sched_getscheduler(lb.pid_of(2)), os.SCHED_OTHER)
                    self.assertEqual(os.sched_getscheduler(lb.process.pid), os.SCHED_OTHER)
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    raw = socket.create_connection(("127.0.0.1", lb.port("dispatcher")),
                                                   timeout=5)
                    with ctx.wrap_socket(raw, server_hostname="worker.test") as s:
                        s.sendall(b"batch")
                        self.assertEqual(s.recv(20), b"batch")


if __name__ == "__main__":
    unittest.main()
