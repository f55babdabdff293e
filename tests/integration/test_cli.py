"""Issue [1]: the command line of INTERFACE.md section 1, run for real: -c on the examples and
on a broken file (every error as FILE:LINE, exit 1), -v, usage errors."""

import os
import tempfile
import unittest

from harness import ROOT, EchoBackend, Tierlb, connect, run_tierlb, stats_command
from topology import two_tier

EXAMPLES = os.path.join(ROOT, "config", "examples")


def example_files(directory):
    """The certificates and ticket keys the examples name, made in DIRECTORY; the
    environment that points the examples at them."""
    import base64
    import subprocess
    for name in ("site", "rdp", "ws"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=%s.test" % name, "-keyout", os.path.join(directory, name + ".pem"),
                        "-out", os.path.join(directory, name + ".pem")],
                       check=True, capture_output=True)
    with open(os.path.join(directory, "tickets.keys"), "w") as f:
        for _ in range(3):
            f.write(base64.b64encode(os.urandom(80)).decode() + "\n")
    return {"TIERLB_CRT": os.path.join(directory, "site.pem"), "TIERLB_CERTS": directory,
            "TIERLB_TICKET_KEYS": os.path.join(directory, "tickets.keys")}


class Check(unittest.TestCase):
    def test_examples_are_valid(self):
        with tempfile.TemporaryDirectory() as tmp:
            env = example_files(tmp)
            for name in sorted(os.listdir(EXAMPLES)):
                if not name.endswith(".cfg"):
                    continue
                with self.subTest(name=name):
                    code, out, err = run_tierlb(["-c", "-f", os.path.join(EXAMPLES, name)],
                                                env=env)
                    self.assertEqual(code, 0, err)
                    self.assertIn("Configuration file is valid", out)

    def test_examples_name_missing_certificates(self):
        code, _, err = run_tierlb(["-c", "-f", os.path.join(EXAMPLES, "seed.cfg")],
                                  env={"TIERLB_CRT": "/nonexistent/site.pem"})
        self.assertEqual(code, 1)
        self.assertRegex(err, r"seed\.cfg:\d+: bind 'abns@p2': cannot load certificate "
                              r"'/nonexistent/site.pem': No such file or directory")

    def test_every_error_is_reported_with_file_and_line(self):
        text = ("global\n"
                "    maxconn 1000\n"
                "listen l\n"
                "    bind :0\n"
                "    balance leastconn\n"
                "    server s 127.0.0.1:1\n"
                "    frobnicate yes\n"            # line 7: unknown keyword
                "    timeout connect 5s\n"
                "    timeout client 10x\n")       # line 9: bad time
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
            f.write(text)
        try:
            code, out, err = run_tierlb(["-c", "-f", f.name])
            self.assertEqual(code, 1)
            self.assertIn("%s:7: unknown keyword 'frobnicate' in 'listen' section" % f.name, err)
            self.assertIn("%s:9: 'timeout client': invalid time '10x'" % f.name, err)
            self.assertIn("Configuration file has 2 errors and is invalid.", err)
            self.assertNotIn("valid\n", out)
        finally:
            os.unlink(f.name)

    def test_a_missing_file(self):
        code, _, err = run_tierlb(["-c", "-f", "/nonexistent/tierlb.cfg"])
        self.assertEqual(code, 1)
        self.assertIn("/nonexistent/tierlb.cfg: cannot open the file", err)

    def test_a_configuration_error_stops_master_mode_with_1(self):
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
            f.write("listen l\n    bind :0\n    balance nope\n")
        try:
            code, _, err = run_tierlb(["-f", f.name])
            self.assertEqual(code, 1)
            self.assertIn("%s:3: 'balance': unknown algorithm 'nope'" % f.name, err)
        finally:
            os.unlink(f.name)


class Flags(unittest.TestCase):
    def test_version(self):
        for flag in ("-v", "--version"):
            code, out, _ = run_tierlb([flag])
            self.assertEqual(code, 0)
            self.assertRegex(out, r"^tierlb version \d+\.\d+\.\d+\n")
            self.assertIn("OpenSSL", out)
            self.assertIn("Boost: 1.81", out)

    def test_usage_errors(self):
        code, _, err = run_tierlb([])
        self.assertEqual(code, 1)
        self.assertIn("no configuration file", err)
        self.assertIn("Usage: tierlb", err)
        code, _, err = run_tierlb(["-f", "x.cfg", "--bogus"])
        self.assertEqual(code, 1)
        self.assertIn("unknown argument '--bogus'", err)

    def test_master_cli_that_cannot_bind_exits_2(self):
        code, _, err = run_tierlb(["-S", "/nonexistent/dir/master.sock", "-f",
                                   os.path.join(EXAMPLES, "seed.cfg")])
        self.assertEqual(code, 2)
        self.assertIn("cannot bind the master CLI", err)


class MasterCli(unittest.TestCase):
    """-S ADDR: show proc, @N COMMAND relayed to process N at level admin, reload."""

    def test_show_proc_and_commands_relayed_to_each_process(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            cli = os.path.join(tmp, "master.sock")
            config, _, _ = two_tier(backend.port, workers=2)
            with Tierlb(config, args=["-S", cli]) as lb:
                procs = stats_command(cli, "show proc")
                lines = procs.splitlines()
                self.assertRegex(lines[0], r"^#<PID> +<type> +<process> +<reloads> +<uptime> "
                                           r"+<version>$")
                self.assertRegex(lines[1], r"^%d +master +0 +0 +0d00h00m\d\ds +\S+$"
                                 % lb.process.pid)
                self.assertEqual(lines[2], "# workers")
                for n in (1, 2, 3):
                    self.assertRegex(procs, r"(?m)^%d +worker +%d +0 " % (lb.pid_of(n), n))
                    info = stats_command(cli, "@%d show info" % n)
                    self.assertIn("\nPid: %d\n" % lb.pid_of(n), "\n" + info)
                # Level admin: a state change, seen in process 1's own show stat.
                self.assertEqual(stats_command(cli, "@1 set server dispatcher/w2 state maint"),
                                 "\n")
                rows = [l for l in stats_command(cli, "@1 show stat").splitlines()
                        if l.startswith("dispatcher,w2,")]
                self.assertEqual(len(rows), 1)
                self.assertIn(",MAINT,", rows[0])
                self.assertIn("No such process: 9", stats_command(cli, "@9 show info"))
                self.assertIn("Unknown command", stats_command(cli, "frobnicate"))
                # Several commands on one line, as on the stats socket.
                both = stats_command(cli, "@2 show info; @3 show info")
                self.assertIn("Pid: %d" % lb.pid_of(2), both)
                self.assertIn("Pid: %d" % lb.pid_of(3), both)

    def test_reload_from_the_master_cli(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            cli = os.path.join(tmp, "master.sock")
            config, _, _ = two_tier(backend.port, workers=1)
            with Tierlb(config, args=["-S", cli]) as lb:
                long_lived = connect(lb.port("dispatcher"))
                self.addCleanup(long_lived.close)
                old = lb.pid_of(2)
                mark = lb.log.count()
                stats_command(cli, "reload")
                lb.log.wait_for(r"master: reload done", start=mark)
                procs = stats_command(cli, "show proc")
                self.assertIn("# old workers", procs)
                self.assertRegex(procs, r"(?m)^%d +worker +2 +1 " % old)
                self.assertRegex(procs, r"(?m)^\d+ +master +0 +1 ")


class Systemd(unittest.TestCase):
    """Type=notify: READY=1 once every process is ready, RELOADING=1 then READY=1 around a
    reload, STOPPING=1 at the stop, on the socket $NOTIFY_SOCKET names."""

    def test_readiness_protocol(self):
        import signal
        import socket
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "notify.sock")
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.bind(path)
            notify.settimeout(10)
            self.addCleanup(notify.close)
            config, _, _ = two_tier(backend.port, workers=1)
            lb = Tierlb(config, env={"NOTIFY_SOCKET": path})
            with lb:
                first = notify.recv(1024).decode()
                self.assertIn("READY=1", first)
                lb.log.wait_for(r"\(%d\) : process 2 ready" % lb.pid_of(2), timeout=2)
                lb.process.send_signal(signal.SIGUSR2)
                self.assertEqual(notify.recv(1024), b"RELOADING=1")
                self.assertIn("READY=1", notify.recv(1024).decode())
                lb.process.send_signal(signal.SIGTERM)
                self.assertEqual(notify.recv(1024), b"STOPPING=1")


if __name__ == "__main__":
    unittest.main()
