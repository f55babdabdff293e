"""Issue [7], first part: `stats http ADDR` serves the stats page, the Prometheus metrics and
the `show stat` CSV of its process, and they agree: a server going DOWN is DOWN in all three.
The metrics pass `promtool check metrics`, a headless Chromium renders the page (the
screenshot is kept under the build directory, test-artefacts/stats_http/), and hostile
clients get error statuses without hurting anyone else."""

import collections
import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request
import zlib

from harness import (TIERLB, EchoBackend, Tierlb, echo_once, stats_command, unique,
                     wait_until)

ARTEFACTS = os.environ.get("TIERLB_ARTEFACTS") or os.path.join(
    os.path.dirname(os.path.abspath(TIERLB)), "test-artefacts", "stats_http")
# A server name that is markup and needs escaping everywhere.
HOSTILE = 's<i>2"&'


def stats_http_address(lb, process=1):
    """The address the latest instance of PROCESS serves its stats page on."""
    found = lb.log.find_all(r"\(%d\) : process %d: stats http listening on (\S+)" %
                            (lb.pid_of(process), process))
    if not found:
        lb.log.wait_for(r"\(%d\) : process %d: stats http listening on" %
                        (lb.pid_of(process), process))
        return stats_http_address(lb, process)
    return found[-1].group(1)


def fetch(address, path, method="GET"):
    """(status, headers, body text) of one request."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def get(address, path):
    """The body of GET PATH, with urllib as a script would fetch it."""
    with urllib.request.urlopen("http://%s%s" % (address, path), timeout=10) as response:
        assert response.status == 200, response.status
        return response.read().decode()


def csv_rows(text):
    lines = [l for l in text.splitlines() if l]
    names = lines[0][2:].split(",")
    import csv
    return [dict(zip(names, row)) for row in csv.reader(lines[1:])]


def csv_status(address, server):
    return {r["svname"]: r["status"] for r in csv_rows(get(address, "/stats;csv"))}[server]


def label_value(text):
    """TEXT as the exposition format quotes a label value."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metric_state(address, proxy, server):
    """The state whose tierlb_server_status sample is 1."""
    text = get(address, "/metrics")
    label = 'tierlb_server_status{proxy="%s",server="%s",state="(\\w+)"} 1\n' % (
        re.escape(label_value(proxy)), re.escape(label_value(server)))
    found = re.findall(label, text)
    assert len(found) == 1, found
    return found[0]


def page_state(address, server):
    """The CSS state class of SERVER's row on the page."""
    page = get(address, "/?refresh=0")
    found = re.findall(r'<tr class="server ([\w-]+)[^"]*" data-server="%s">' %
                       re.escape(server.replace("&", "&amp;").replace("<", "&lt;")
                                 .replace(">", "&gt;").replace('"', "&quot;")), page)
    assert len(found) == 1, found
    return found[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(backend_port, stats_dir, stats_http="stats http 127.0.0.1:0", extra_global=""):
    return ("global\n"
            "    %s\n"
            "    stats socket %s level admin\n"
            "    stats timeout 2s\n"
            "%s"
            "defaults\n"
            "    timeout connect 1s\n"
            "    timeout client 1m\n"
            "    timeout server 1m\n"
            "listen disp\n"
            "    bind 127.0.0.1:0\n"
            "    server w1 127.0.0.1:%d check inter 100ms fall 2 rise 1\n"
            "    server w3 127.0.0.1:%d check inter 100ms fall 1\n"
            "    server \"%s\" 127.0.0.1:%d\n" %
            (stats_http, os.path.join(stats_dir, "stats.sock"), extra_global, backend_port,
             free_port(), HOSTILE.replace('"', '\\"'), backend_port))


Served = collections.namedtuple("Served", "lb address stats backend")


@contextlib.contextmanager
def serving(stats_http="stats http 127.0.0.1:0"):
    """tierlb with a stats page, a stats socket and an echo backend, once the first checks
    have found w1 UP and w3 DOWN."""
    with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
        with Tierlb(config(backend.port, tmp, stats_http)) as lb:
            address = stats_http_address(lb)
            wait_until(lambda: csv_status(address, "w3") == "DOWN", message="w3 DOWN")
            wait_until(lambda: csv_status(address, "w1") == "UP", message="w1 UP")
            yield Served(lb, address, os.path.join(tmp, "stats.sock"), backend)


class Content(unittest.TestCase):
    def test_page_metrics_and_csv_agree_as_a_server_goes_down(self):
        with serving() as t:
            self.assertEqual(metric_state(t.address, "disp", "w1"), "UP")
            self.assertEqual(metric_state(t.address, "disp", "w3"), "DOWN")
            self.assertEqual(page_state(t.address, "w1"), "up")
            self.assertEqual(page_state(t.address, "w3"), "down")
            self.assertEqual(page_state(t.address, HOSTILE), "no-check")
            self.assertEqual(metric_state(t.address, "disp", HOSTILE), "UP")

            # Traffic shows in the counters.
            port = t.lb.port("disp")
            for _ in range(3):
                self.assertEqual(echo_once(port, b"x" * 1000), b"x" * 1000)
            rows = {r["svname"]: r for r in csv_rows(get(t.address, "/stats;csv"))}
            self.assertEqual(int(rows["FRONTEND"]["stot"]), 3)
            self.assertEqual(int(rows["FRONTEND"]["bin"]), 3000)
            metrics = get(t.address, "/metrics")
            self.assertIn('tierlb_frontend_sessions_total{proxy="disp"} 3\n', metrics)
            self.assertIn('tierlb_frontend_bytes_in_total{proxy="disp"} 3000\n', metrics)

            # The backend goes away: w1 DOWN in all three.
            t.backend.close()
            wait_until(lambda: csv_status(t.address, "w1") == "DOWN", message="w1 DOWN")
            self.assertEqual(metric_state(t.address, "disp", "w1"), "DOWN")
            self.assertEqual(page_state(t.address, "w1"), "down")
            self.assertIn('tierlb_server_check_status{proxy="disp",server="w1",'
                          'state="L4CON"} 1\n', get(t.address, "/metrics"))

            # Maintenance from the stats socket: MAINT in all three.
            stats_command(t.stats, "set server disp/w1 state maint")
            self.assertEqual(csv_status(t.address, "w1"), "MAINT")
            self.assertEqual(metric_state(t.address, "disp", "w1"), "MAINT")
            self.assertEqual(page_state(t.address, "w1"), "maint")

    def test_csv_is_the_stats_socket_show_stat(self):
        with serving() as t:
            status, headers, body = fetch(t.address, "/stats;csv")
            self.assertEqual(status, 200)
            self.assertTrue(headers["Content-Type"].startswith("text/plain"))
            socket_text = stats_command(t.stats, "show stat")
            # The socket adds its end-of-answer empty line. Between the two answers a check
            # may have run or a second passed: then only the times differ.
            self.assertEqual(socket_text.splitlines()[0], body.splitlines()[0])
            if socket_text != body + "\n":
                self.assertEqual(self._stable(socket_text), self._stable(body))
            self.assertEqual(fetch(t.address, "/;csv")[2].splitlines()[0],
                             body.splitlines()[0])

    @staticmethod
    def _stable(text):
        volatile = {"lastchg", "downtime", "lastsess", "check_duration", "last_chk"}
        return [{k: v for k, v in row.items() if k not in volatile} for row in csv_rows(text)]

    def test_page_shows_the_process(self):
        with serving() as t:
            status, headers, page = fetch(t.address, "/")
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
            self.assertEqual(headers["Connection"], "close")
            self.assertIn("default-src 'none'", headers["Content-Security-Policy"])
            self.assertIn('<meta http-equiv="refresh" content="5">', page)
            self.assertIn('id="pid">%d<' % t.lb.pid_of(1), page)
            self.assertIn('id="process">1<', page)
            self.assertRegex(page, r'id="uptime">0d 0h00m\d\ds<')
            self.assertIn("<caption>disp</caption>", page)
            self.assertNotIn(HOSTILE, page)  # only escaped
            self.assertIn('data-server="s&lt;i&gt;2&quot;&amp;"', page)
            self.assertIn('<meta http-equiv="refresh" content="2">',
                          get(t.address, "/?refresh=2"))
            self.assertNotIn("http-equiv", get(t.address, "/?refresh=0"))

    def test_metrics_pass_promtool(self):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool not installed (Debian package prometheus; "
                          "scripts/install-deps installs it)")
        with serving() as t:
            status, headers, text = fetch(t.address, "/metrics")
            self.assertEqual(status, 200)
            self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            check = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                                   capture_output=True, timeout=60)
            self.assertEqual(check.returncode, 0, check.stdout.decode() + check.stderr.decode())
            self.assertIn("tierlb_process_pid %d\n" % t.lb.pid_of(1), text)
            self.assertIn('server="s<i>2\\"&"', text)  # the label value, escaped

    def test_methods_and_paths(self):
        with serving() as t:
            self.assertEqual(fetch(t.address, "/nowhere")[0], 404)
            status, headers, _ = fetch(t.address, "/", "POST")
            self.assertEqual(status, 405)
            self.assertEqual(headers["Allow"], "GET, HEAD")
            status, headers, body = fetch(t.address, "/metrics", "HEAD")
            self.assertEqual((status, body), (200, ""))
            self.assertGreater(int(headers["Content-Length"]), 1000)


class Browser(unittest.TestCase):
    """The page in a real browser: Chromium renders it headless, the DOM it built has the
    server rows, and the screenshot is kept as an artefact."""

    def setUp(self):
        self.chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if self.chromium is None:
            self.skipTest("chromium not installed (Debian package chromium; "
                          "scripts/install-deps installs it)")
        self.profile = tempfile.TemporaryDirectory()
        self.addCleanup(self.profile.cleanup)

    def run_chromium(self, *args):
        command = [self.chromium, "--headless", "--no-sandbox", "--disable-gpu",
                   "--no-first-run", "--user-data-dir=" + self.profile.name] + list(args)
        return subprocess.run(command, capture_output=True, timeout=120)

    def test_chromium_renders_the_page(self):
        os.makedirs(ARTEFACTS, exist_ok=True)
        screenshot = os.path.join(ARTEFACTS, "page.png")
        if os.path.exists(screenshot):
            os.unlink(screenshot)
        with serving() as t:
            url = "http://%s/?refresh=0" % t.address
            dom = self.run_chromium("--dump-dom", url)
            page = dom.stdout.decode()
            self.assertIn('<tr class="server up" data-server="w1">', page,
                          dom.stderr.decode()[-2000:])
            self.assertIn('<tr class="server down" data-server="w3">', page)
            self.assertIn('s&lt;i&gt;2"&amp;</td>', page)  # rendered as text
            self.assertNotIn('<i>2"', page)  # no <i> element was made of the name
            shot = self.run_chromium("--hide-scrollbars", "--window-size=1280,400",
                                     "--screenshot=" + screenshot, url)
            self.assertTrue(os.path.exists(screenshot), shot.stderr.decode()[-2000:])
        print("\n    screenshot of the stats page: %s" % screenshot)
        self.assert_nontrivial_png(screenshot, 1280, 400)

    def assert_nontrivial_png(self, path, width, height):
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(data[12:16], b"IHDR")
        self.assertEqual(int.from_bytes(data[16:20], "big"), width)
        self.assertEqual(int.from_bytes(data[20:24], "big"), height)
        # The pixels: many distinct byte values (text, colours), not a blank page.
        idat, at = b"", 8
        while at < len(data):
            length = int.from_bytes(data[at:at + 4], "big")
            if data[at + 4:at + 8] == b"IDAT":
                idat += data[at + 8:at + 8 + length]
            at += 12 + length
        pixels = zlib.decompress(idat)
        self.assertGreater(len(set(pixels)), 50)


class Hostile(unittest.TestCase):
    def test_bad_clients_get_errors_and_others_are_served(self):
        with serving() as t:
            host, port = t.address.rsplit(":", 1)
            # Silent clients and one trickling its request hold connections open...
            silent = [socket.create_connection((host, int(port)), timeout=10)
                      for _ in range(10)]
            slow = socket.create_connection((host, int(port)), timeout=10)
            slow.sendall(b"GET / HT")
            # ...while the page, the data path and a big request are answered at once.
            started = time.monotonic()
            self.assertEqual(fetch(t.address, "/metrics")[0], 200)
            self.assertEqual(echo_once(t.lb.port("disp")), b"ping")
            self.assertLess(time.monotonic() - started, 1.5)
            with socket.create_connection((host, int(port)), timeout=10) as big:
                big.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"v" * 9000 + b"\r\n\r\n")
                self.assertTrue(self.read_all(big).startswith(b"HTTP/1.1 431 "))
            # The trickling client is cut at `stats timeout` (2 s) with 408.
            self.assertTrue(self.read_all(slow).startswith(b"HTTP/1.1 408 "))
            self.assertLess(time.monotonic() - started, 5)
            for s in silent + [slow]:
                s.close()

    @staticmethod
    def read_all(sock):
        out = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            out += chunk


class Processes(unittest.TestCase):
    def test_each_process_serves_its_own_page(self):
        name = unique("p2")
        text = ("global\n"
                "    stats http 127.0.0.1:0 process 1\n"
                "    stats http 127.0.0.1:0 process 2\n"
                "defaults\n"
                "    timeout connect 1s\n"
                "    timeout client 1m\n"
                "    timeout server 1m\n"
                "listen dispatcher\n"
                "    bind 127.0.0.1:0 process 1\n"
                "    server w2 abns@%s send-proxy check inter 200ms\n"
                "listen worker\n"
                "    bind abns@%s process 2 accept-proxy\n"
                "    server app 127.0.0.1:1\n" % (name, name))
        with Tierlb(text) as lb:
            for process, section in ((1, "dispatcher"), (2, "worker")):
                address = stats_http_address(lb, process)
                page = get(address, "/")
                self.assertIn('id="process">%d<' % process, page)
                self.assertIn('id="pid">%d<' % lb.pid_of(process), page)
                self.assertIn("<caption>%s</caption>" % section, page)
                metrics = get(address, "/metrics")
                self.assertIn("tierlb_process_relative_process_id %d\n" % process, metrics)

    def test_a_fixed_port_is_served_across_a_reload(self):
        port = free_port()
        with serving("stats http 127.0.0.1:%d" % port) as t:
            before = t.lb.pid_of(1)
            self.assertIn('id="pid">%d<' % before, get(t.address, "/"))
            mark = t.lb.log.count()
            t.lb.process.send_signal(signal.SIGUSR2)
            t.lb.log.wait_for(r"master: reload done", start=mark)
            after = t.lb.pid_of(1)
            self.assertNotEqual(after, before)
            # The new process binds beside the previous one (SO_REUSEPORT), which leaves once
            # it has no connection: from then on every answer is the new one's.
            t.lb.log.wait_for(r"\(pid %d\) exited" % before, start=mark)
            for _ in range(5):
                self.assertIn('id="pid">%d<' % after, get(t.address, "/"))


if __name__ == "__main__":
    unittest.main()
