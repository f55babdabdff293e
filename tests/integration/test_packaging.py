"""Issue [7]: `cmake --install` puts the binary in sbin, a systemd unit (Type=notify, reload by
SIGUSR2 after a check), the examples and the configuration reference; the installed binary
runs and checks the installed example."""

import os
import subprocess
import tempfile
import unittest

from harness import ROOT

BUILD = os.environ.get("TIERLB_BUILD_DIR") or os.path.join(ROOT, "build")


class Install(unittest.TestCase):
    def test_install_tree(self):
        with tempfile.TemporaryDirectory() as prefix:
            done = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix],
                                  capture_output=True, text=True, timeout=120)
            self.assertEqual(done.returncode, 0, done.stderr)
            binary = os.path.join(prefix, "sbin", "tierlb")
            self.assertTrue(os.access(binary, os.X_OK))
            version = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
            self.assertIn("tierlb version", version.stdout)
            unit = os.path.join(prefix, "lib", "systemd", "system", "tierlb.service")
            with open(unit) as f:
                text = f.read()
            self.assertIn("Type=notify", text)
            # The configured prefix's paths (a package configures with /usr).
            self.assertRegex(text, r"(?m)^ExecStart=/\S*/sbin/tierlb -f \$CONFIG")
            self.assertIn("ExecReload=/bin/kill -USR2 $MAINPID", text)
            self.assertRegex(text, r"(?m)^ExecStartPre=/\S*/sbin/tierlb -c -q -f \$CONFIG$")
            docs = os.path.join(prefix, "share", "doc", "tierlb")
            for name in ("configuration.md", "README.md", "examples/seed.cfg",
                         "examples/full.cfg"):
                self.assertTrue(os.path.exists(os.path.join(docs, name)), name)
            # The unit's syntax, where systemd's own checker is there.
            if subprocess.run(["which", "systemd-analyze"], capture_output=True).returncode == 0:
                check = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                                       text=True, timeout=60)
                self.assertNotIn("Unknown key", check.stderr)


if __name__ == "__main__":
    unittest.main()
