"""Issue [7]: log lines never hold the data path. With stderr a pipe nobody reads (a journal
that fell behind), the processes keep serving: their lines wait in a queue of their own
(and are written once the pipe drains), where a plain write would block every connection
of the process once the pipe's 64 KB are full."""

import fcntl
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import TIERLB, EchoBackend, echo_once, stats_command, wait_until
from topology import two_tier


class BlockedLogPipe(unittest.TestCase):
    def test_connections_are_served_while_nobody_reads_the_log(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            config, stats, _ = two_tier(backend.port, workers=1, stats_dir=tmp)
            path = os.path.join(tmp, "tierlb.cfg")
            with open(path, "w") as f:
                f.write(config)
            read_end, write_end = os.pipe()
            fcntl.fcntl(read_end, fcntl.F_SETFL, os.O_NONBLOCK)
            master = subprocess.Popen([TIERLB, "-f", path], stderr=write_end,
                                      stdin=subprocess.DEVNULL)
            os.close(write_end)
            self.addCleanup(os.close, read_end)
            self.addCleanup(self.stop, master)
            # The start-up lines tell the port; read them, then stop reading.
            text = b""
            deadline = time.monotonic() + 10
            while b"process 2 ready" not in text or b"process 1 ready" not in text:
                self.assertLess(time.monotonic(), deadline, text.decode(errors="replace"))
                try:
                    text += os.read(read_end, 65536)
                except BlockingIOError:
                    time.sleep(0.01)
            port = int(text.split(b"listening on 127.0.0.1:")[1].split(b" ")[0])
            # Each connection logs two lines (dispatcher and worker), ~100 bytes each: 1,500
            # connections are ~300 KB, several times what the pipe holds.
            started = time.monotonic()
            for _ in range(1500):
                self.assertEqual(echo_once(port, timeout=3), b"ping")
            print("\n    1,500 connections with a blocked log pipe: %.1f s"
                  % (time.monotonic() - started))
            info = stats_command(stats, "show info")
            self.assertIn("DroppedLogs: 0", info)
            # Drained, the pipe gets every line, whole.
            lines = []
            buffer = b""
            deadline = time.monotonic() + 20
            while len(lines) < 3000 and time.monotonic() < deadline:
                try:
                    chunk = os.read(read_end, 65536)
                except BlockingIOError:
                    time.sleep(0.01)
                    continue
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                lines += [l for l in complete if b" dispatcher/w2 " in l or b" worker/app " in l]
            self.assertEqual(len(lines), 3000)

    @staticmethod
    def stop(master):
        if master.poll() is None:
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(15)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait(5)


if __name__ == "__main__":
    unittest.main()
