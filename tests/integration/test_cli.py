"""Issue [1]: the command line of INTERFACE.md section 1, run for real: -c on the examples and
on a broken file (every error as FILE:LINE, exit 1), -v, usage errors."""

import os
import tempfile
import unittest

from harness import ROOT, run_tierlb

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

    def test_master_cli_is_not_available_yet(self):
        code, _, err = run_tierlb(["-S", "/tmp/x.sock", "-f",
                                   os.path.join(EXAMPLES, "seed.cfg")])
        self.assertEqual(code, 2)
        self.assertIn("not available in this version yet", err)


if __name__ == "__main__":
    unittest.main()
