"""TLS helpers for the integration tests: certificates made with the openssl command, TLS
clients (Python's ssl module and `openssl s_client`), a PROXY v2 parser and backends that
record what reaches them (a PROXY v2 header, an HTTP request). Standard library only."""

import base64
import http.server
import os
import socket
import ssl
import struct
import subprocess
import threading

from harness import round_trip, wait_until

OPENSSL = os.environ.get("OPENSSL_BINARY") or "openssl"


# --- certificates --------------------------------------------------------------------------

def make_cert(directory, stem, cn, sans=(), key_beside=False):
    """A self-signed ECDSA P-256 certificate for CN with DNS SANS, written as DIRECTORY/STEM.pem
    (cert then key), or with KEY_BESIDE as STEM.pem (cert only) plus STEM.pem.key. Returns the
    .pem path."""
    pem = os.path.join(directory, stem + ".pem")
    key = os.path.join(directory, stem + ".tmpkey")
    command = [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-keyout", key,
               "-out", pem + ".crt", "-subj", "/CN=" + cn]
    if sans:
        command += ["-addext", "subjectAltName=" + ",".join("DNS:" + s for s in sans)]
    subprocess.run(command, check=True, capture_output=True, timeout=20)
    with open(pem + ".crt") as f:
        cert_text = f.read()
    with open(key) as f:
        key_text = f.read()
    os.unlink(pem + ".crt")
    os.unlink(key)
    with open(pem, "w") as f:
        f.write(cert_text if key_beside else cert_text + key_text)
    if key_beside:
        with open(pem + ".key", "w") as f:
            f.write(key_text)
    return pem


def make_chain(directory, cn):
    """A root CA, an intermediate CA it signs, and a leaf for CN (DNS SAN too) signed by the
    intermediate. Writes DIRECTORY/chain.pem = leaf + intermediate + leaf key; returns
    (chain.pem, root CA certificate path)."""
    def run(*args):
        subprocess.run([OPENSSL] + list(args), check=True, capture_output=True, timeout=20,
                       cwd=directory)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    with open(os.path.join(directory, "ca.ext"), "w") as f:
        f.write("[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    with open(os.path.join(directory, "leaf.ext"), "w") as f:
        f.write("[v3]\nbasicConstraints=CA:FALSE\nsubjectAltName=DNS:%s\n" % cn)
    run("req", "-x509", *ec, "-days", "2", "-keyout", "root.key", "-out", "root.pem",
        "-subj", "/CN=Test Root CA")
    run("req", "-new", *ec, "-keyout", "int.key", "-out", "int.csr", "-subj",
        "/CN=Test Intermediate CA")
    run("x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key",
        "-CAcreateserial", "-days", "2", "-extfile", "ca.ext", "-extensions", "v3",
        "-out", "int.pem")
    run("req", "-new", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=" + cn)
    run("x509", "-req", "-in", "leaf.csr", "-CA", "int.pem", "-CAkey", "int.key",
        "-CAcreateserial", "-days", "2", "-extfile", "leaf.ext", "-extensions", "v3",
        "-out", "leaf.pem")
    chain = os.path.join(directory, "chain.pem")
    with open(chain, "w") as out:
        for part in ("leaf.pem", "int.pem", "leaf.key"):
            with open(os.path.join(directory, part)) as f:
                out.write(f.read())
    return chain, os.path.join(directory, "root.pem")


def der_of(pem_path):
    """The DER bytes of the first certificate in PEM_PATH (what a server sends)."""
    with open(pem_path) as f:
        text = f.read()
    begin = text.index("-----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return ssl.PEM_cert_to_DER_cert(text[begin:end])


def write_ticket_keys(path, keys):
    """An HAProxy tls-ticket-keys file: one base64 line per key (48 or 80 random bytes)."""
    with open(path, "w") as f:
        for k in keys:
            f.write(base64.b64encode(k).decode() + "\n")
    return path


def new_ticket_key(size=80):
    return os.urandom(size)


# --- TLS clients ---------------------------------------------------------------------------

def client_context(alpn=None, minimum=None, maximum=None):
    """A client context that takes any certificate (the test compares what it got)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


def tls_connect(port, server_name=None, context=None, session=None, timeout=5.0,
                host="127.0.0.1"):
    """A TLS connection, handshake done; SERVER_NAME is the SNI (none when None)."""
    ctx = context or client_context()
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_name, session=session)
    except BaseException:
        raw.close()
        raise


# A TLS socket's round trip is a plain one (ssl sockets have the same sendall and recv).
tls_round_trip = round_trip


def served_cert(port, server_name=None, **kwargs):
    """The DER certificate the server presents for SERVER_NAME."""
    with tls_connect(port, server_name, **kwargs) as s:
        return s.getpeercert(binary_form=True)


class SClient:
    """`openssl s_client -connect 127.0.0.1:PORT ARGS`, run to its end; `.output` is what it
    printed (stdout and stderr), `.returncode` its exit code. Its stdin is closed at once
    (s_client then ends the connection), or, with WAIT_FOR_FILE (its -sess_out file), once
    that file has been written: s_client writes it when a TLS 1.3 ticket arrives, after the
    handshake. (Its output is block-buffered in a pipe: no line shows before it exits.)"""

    def __init__(self, port, *args, wait_for_file=None, timeout=10.0, host="127.0.0.1"):
        command = [OPENSSL, "s_client", "-connect", "%s:%d" % (host, port)] + list(args)
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        try:
            if wait_for_file:
                wait_until(lambda: os.path.exists(wait_for_file) and
                           os.path.getsize(wait_for_file) > 0 or self.process.poll() is not None,
                           timeout, message="s_client to write %s" % wait_for_file)
            out, _ = self.process.communicate(b"", timeout)  # closes stdin, reads to the end
            self.output = out.decode("utf-8", "replace")
            self.returncode = self.process.returncode
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)

    def reused(self):
        return "\nReused, " in "\n" + self.output

    def new(self):
        return "\nNew, " in "\n" + self.output


# --- PROXY protocol v2 ---------------------------------------------------------------------

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_SSL = 0x01, 0x02, 0x20
PP2_SUBTYPE_SSL_VERSION, PP2_SUBTYPE_SSL_CN, PP2_SUBTYPE_SSL_CIPHER = 0x21, 0x22, 0x23
PP2_SUBTYPE_SSL_SIG_ALG, PP2_SUBTYPE_SSL_KEY_ALG = 0x24, 0x25


def parse_tlvs(data):
    """[(type, value)] of a TLV block; ValueError on a TLV that runs past the end."""
    tlvs = []
    i = 0
    while i < len(data):
        if len(data) - i < 3:
            raise ValueError("partial TLV at %d" % i)
        kind, length = data[i], struct.unpack("!H", data[i + 1:i + 3])[0]
        if i + 3 + length > len(data):
            raise ValueError("TLV 0x%02x overruns the header" % kind)
        tlvs.append((kind, data[i + 3:i + 3 + length]))
        i += 3 + length
    return tlvs


def parse_proxy_v2(header):
    """The fields of one complete v2 HEADER (16 bytes + its declared length): command,
    family, src/dst addresses and ports (INET and INET6), the TLVs in order, and the SSL
    TLV's parts."""
    if header[:12] != V2_SIGNATURE:
        raise ValueError("not a PROXY v2 signature")
    version, command = header[12] >> 4, header[12] & 0x0F
    if version != 2:
        raise ValueError("version %d" % version)
    family, transport = header[13] >> 4, header[13] & 0x0F
    length = struct.unpack("!H", header[14:16])[0]
    body = header[16:16 + length]
    if len(body) != length:
        raise ValueError("header shorter than its declared length")
    out = {"command": command, "family": family, "transport": transport}
    if command == 0:
        address_length = 0
    elif family == 1:
        address_length = 12
        out["src"] = socket.inet_ntop(socket.AF_INET, body[0:4])
        out["dst"] = socket.inet_ntop(socket.AF_INET, body[4:8])
        out["sport"], out["dport"] = struct.unpack("!HH", body[8:12])
    elif family == 2:
        address_length = 36
        out["src"] = socket.inet_ntop(socket.AF_INET6, body[0:16])
        out["dst"] = socket.inet_ntop(socket.AF_INET6, body[16:32])
        out["sport"], out["dport"] = struct.unpack("!HH", body[32:36])
    elif family == 3:
        address_length = 216
    else:
        address_length = 0
    if command == 1 and length < address_length:
        raise ValueError("length %d shorter than the address block" % length)
    out["tlvs"] = parse_tlvs(body[address_length:])
    for kind, value in out["tlvs"]:
        if kind == PP2_TYPE_SSL:
            if len(value) < 5:
                raise ValueError("SSL TLV of %d bytes" % len(value))
            out["ssl_client"] = value[0]
            out["ssl_verify"] = struct.unpack("!I", value[1:5])[0]
            out["ssl_subs"] = parse_tlvs(value[5:])
    return out


def recv_exactly(conn, count):
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ValueError("closed after %d of %d bytes" % (len(data), count))
        data += chunk
    return data


def read_proxy_v2(conn):
    """Reads one v2 header from CONN (exactly its bytes, no more) and parses it."""
    head = recv_exactly(conn, 16)
    length = struct.unpack("!H", head[14:16])[0]
    return parse_proxy_v2(head + recv_exactly(conn, length))


class ProxyV2Backend:
    """A TCP echo server on 127.0.0.1 (kernel's port) that first reads a PROXY v2 header and
    records it parsed in .headers (or the parse error in .errors)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.headers = []
        self.errors = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(10)
            try:
                self.headers.append(read_proxy_v2(conn))
            except ValueError as e:
                self.errors.append(str(e))
                return
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- HTTP backend --------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = ("hello from the backend, path %s\n" % self.path).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpBackend:
    """A small HTTP/1.1 server (http.server) on 127.0.0.1, kernel's port, in a thread."""

    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- raw sockets -------------------------------------------------------------------------

def abns_connect(name, timeout=5.0):
    """A connection to HAProxy-style abns@NAME (sun_path zero-padded to its full size)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(b"\0" + name.encode() + b"\0" * (107 - len(name)))
    return s


def wait_closed(sock, timeout=5.0):
    """Reads until the peer closes; returns the bytes seen before (raises on timeout)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def free_port():
    """A TCP port free now on 127.0.0.1 (for HAProxy, which cannot report a port-0 bind)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
