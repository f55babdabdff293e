"""Self-signed certificates for the tests, made with the openssl command."""

import os
import subprocess


def self_signed(directory, cn, sans=None):
    """A PEM with the certificate and its key for CN (and DNS SANS); returns its path."""
    path = os.path.join(directory, cn + ".pem")
    names = ",".join("DNS:" + n for n in (sans or [cn]))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=" + names, "-keyout", path, "-out", path],
                   check=True, capture_output=True)
    return path
