"""Interop with HAProxy 2.6 as the peer over abns@ (the padded form both use):

- HAProxy as the worker (`bind abns@x accept-proxy`) behind tierlb's dispatcher, receiving our
  PROXY v1 and v2 headers and serving traffic; HAProxy itself forwards the client's address
  to a backend with send-proxy, which shows it parsed our header.
- the stats socket's typed and JSON answers, field for field against HAProxy's own.
"""

import json
import os
import tempfile
import unittest

from harness import (EchoBackend, HAProxy, Tierlb, echo_once, show_stat, stats_command, unique,
                     wait_until)
from tls_support import free_port


def haproxy_worker(name, backend_port):
    return """
global
    log stderr format raw local0 info
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
listen worker
    bind abns@%s accept-proxy
    server app 127.0.0.1:%d send-proxy
""" % (name, backend_port)


def tierlb_dispatcher(name, send_proxy):
    return """
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
listen dispatcher
    bind 127.0.0.1:0
    balance leastconn
    server haproxy abns@%s %s
""" % (name, send_proxy)


class HAProxyAsWorker(unittest.TestCase):
    def run_with(self, send_proxy):
        name = unique("hap")
        with EchoBackend(read_proxy=True) as backend:
            with HAProxy(haproxy_worker(name, backend.port)) as haproxy:
                with Tierlb(tierlb_dispatcher(name, send_proxy)) as lb:
                    port = lb.port("dispatcher")
                    # HAProxy may need a moment to bind; the dispatcher retries meanwhile.
                    wait_until(lambda: echo_once(port, b"through haproxy") == b"through haproxy",
                               timeout=5, message="traffic through HAProxy")
                    wait_until(lambda: backend.proxy_lines, message="HAProxy's PROXY line")
                    # 127.0.0.1 -> 127.0.0.1:port, as our header told HAProxy.
                    line = backend.proxy_lines[-1]
                    self.assertRegex(line, r"^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ %d\r\n$"
                                     % port)

    def test_send_proxy_v1(self):
        self.run_with("send-proxy")

    def test_send_proxy_v2(self):
        self.run_with("send-proxy-v2")


def haproxy_dispatcher(name, send_proxy):
    return """
global
    stats socket %s level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
listen dispatcher
    bind 127.0.0.1:0
    balance leastconn
    server tierlb abns@%s %s check inter 200ms
"""


class HAProxyAsDispatcher(unittest.TestCase):
    """HAProxy's checks (PROXY UNKNOWN for v1, LOCAL for v2) mark a tierlb worker UP, and the
    client's address reaches the backend through both tiers."""

    def run_with(self, send_proxy):
        import os
        import socket as socketlib
        import tempfile
        from harness import stats_command
        name = unique("tw")
        with EchoBackend(read_proxy=True) as backend, tempfile.TemporaryDirectory() as tmp:
            worker = """
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
listen worker
    bind abns@%s accept-proxy
    server app 127.0.0.1:%d send-proxy
""" % (name, backend.port)
            with Tierlb(worker):
                stats = os.path.join(tmp, "h.sock")
                # HAProxy cannot bind port 0 and tell us: take a free port first.
                probe = socketlib.socket()
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
                probe.close()
                config = haproxy_dispatcher(name, send_proxy) % (stats, name, send_proxy)
                config = config.replace("bind 127.0.0.1:0", "bind 127.0.0.1:%d" % port)
                with HAProxy(config):
                    wait_until(lambda: os.path.exists(stats), message="HAProxy's stats socket")

                    def status():
                        rows = stats_command(stats, "show stat").splitlines()
                        for row in rows:
                            if row.startswith("dispatcher,tierlb,"):
                                return row.split(",")[17]
                        return None

                    wait_until(lambda: status() == "UP", timeout=5,
                               message="HAProxy to mark the tierlb worker UP")
                    # Several checks have passed by now; the worker stays UP.
                    import time
                    time.sleep(0.6)
                    self.assertEqual(status(), "UP")
                    self.assertEqual(echo_once(port, b"both tiers"), b"both tiers")
                    wait_until(lambda: any(" %d\r\n" % port in l for l in backend.proxy_lines),
                               message="the client's line at the backend")
                    line = [l for l in backend.proxy_lines if " %d\r\n" % port in l][-1]
                    self.assertRegex(line, r"^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ %d"
                                     % port)

    def test_send_proxy_v1_with_check(self):
        self.run_with("send-proxy")

    def test_send_proxy_v2_with_check(self):
        self.run_with("send-proxy-v2")


if __name__ == "__main__":
    unittest.main()


def stats_twin(stats_socket, port, backend_port):
    """One configuration for both: a listen with a checked and an unchecked server."""
    return """global
    stats socket %s level admin
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen disp
    bind 127.0.0.1:%d
    balance leastconn
    server w1 127.0.0.1:%d check inter 1s
    server w2 127.0.0.1:%d
""" % (stats_socket, port, backend_port, backend_port)


class StatsFormats(unittest.TestCase):
    """`show stat typed|json` and `show info typed|json` give the fields HAProxy gives for the
    same configuration, at the same positions, with the same tags and types (values differ:
    pids, uptimes, and HAProxy numbers its proxies from 2)."""

    @staticmethod
    def typed_keys(text, skip_iid):
        keys = []
        for line in text.splitlines():
            if not line:
                continue
            head, tags, kind, _ = line.split(":", 3)
            if skip_iid:
                parts = head.split(".")
                head = ".".join([parts[0]] + parts[2:])  # without the proxy id
            keys.append((head, tags, kind))
        return keys

    def test_typed_and_json_match_haproxy(self):
        with EchoBackend() as backend, tempfile.TemporaryDirectory() as tmp:
            theirs_socket = os.path.join(tmp, "haproxy.sock")
            ours_socket = os.path.join(tmp, "tierlb.sock")
            theirs_port, ours_port = free_port(), free_port()
            with HAProxy(stats_twin(theirs_socket, theirs_port, backend.port)), \
                    Tierlb(stats_twin(ours_socket, ours_port, backend.port)):
                # Both have checked w1 once (the fields of a check's outcome are then there).
                def checked(path):
                    try:
                        return any(r["svname"] == "w1" and r["check_status"] == "L4OK"
                                   for r in show_stat(path))
                    except OSError:
                        return False
                for path in (theirs_socket, ours_socket):
                    wait_until(lambda: checked(path), message="a first check of w1")
                answers = {}
                for who, path in (("haproxy", theirs_socket), ("tierlb", ours_socket)):
                    answers[who] = {cmd: stats_command(path, cmd) for cmd in
                                    ("show stat typed", "show stat json", "show info typed",
                                     "show info json")}
            for cmd, skip_iid in (("show stat typed", True), ("show info typed", False)):
                self.assertEqual(self.typed_keys(answers["tierlb"][cmd], skip_iid),
                                 self.typed_keys(answers["haproxy"][cmd], skip_iid), cmd)

            def json_keys(text, stat):
                data = json.loads(text)
                objects = [o for line in data for o in line] if stat else data
                return [(o.get("objType"), o.get("id"), o["field"]["pos"], o["field"]["name"],
                         o["tags"]["origin"], o["tags"]["nature"], o["tags"]["scope"],
                         o["value"]["type"]) for o in objects]

            self.assertEqual(json_keys(answers["tierlb"]["show stat json"], True),
                             json_keys(answers["haproxy"]["show stat json"], True))
            self.assertEqual(json_keys(answers["tierlb"]["show info json"], False),
                             json_keys(answers["haproxy"]["show info json"], False))
