"""Fetching bundles: real HTTPS on loopback with certificate verification, HTTP, files, stdin.

The servers are real (``http.server`` on 127.0.0.1 in a thread), with a CA and a server
certificate made for the test, so verification failures are the TLS stack's own.
"""

from __future__ import annotations

import datetime as dt
import http.server
import io
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from checkpointctl.trust.fetch import FetchError, fetch

BODY = b"bundle bytes \x00\x01 " * 100


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_tls(tmp: Path, san: x509.GeneralName) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``san``: (ca.pem, server.pem, server.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test ca"))
        .issuer_name(_name("test ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("bundle server"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (tmp / "ca.pem", tmp / "server.pem", tmp / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/fleet.cpb":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        return None


def serve(context: ssl.SSLContext | None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path, Path]:
    import ipaddress

    return make_tls(tmp_path, x509.IPAddress(ipaddress.ip_address("127.0.0.1")))


@pytest.fixture
def https(tls: tuple[Path, Path, Path]) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[1]), str(tls[2]))
    yield from serve(context)


@pytest.fixture
def plain_http() -> Iterator[str]:
    yield from serve(None)


def test_https_with_the_right_ca(https: str, tls: tuple[Path, Path, Path]) -> None:
    assert fetch(f"{https}/fleet.cpb", ca_file=str(tls[0])) == BODY


def test_https_with_an_unknown_ca_is_refused(https: str) -> None:
    with pytest.raises(FetchError, match="certificate does not verify"):
        fetch(f"{https}/fleet.cpb")


def test_https_certificate_for_another_name_is_refused(tmp_path: Path) -> None:
    ca, cert, key = make_tls(tmp_path, x509.DNSName("bundles.example.com"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    for url in serve(context):
        with pytest.raises(FetchError, match="certificate does not verify"):
            fetch(f"{url}/fleet.cpb", ca_file=str(ca))


def test_http_and_http_errors(plain_http: str) -> None:
    assert fetch(f"{plain_http}/fleet.cpb") == BODY
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(f"{plain_http}/missing.cpb")
    with pytest.raises(FetchError, match="larger than 100 bytes"):
        fetch(f"{plain_http}/fleet.cpb", limit=100)


def test_files_and_stdin(tmp_path: Path) -> None:
    path = tmp_path / "my bundle.cpb"
    path.write_bytes(BODY)
    assert fetch(str(path)) == BODY
    assert fetch(path.as_uri()) == BODY
    assert fetch("-", stdin=io.BytesIO(BODY)) == BODY
    with pytest.raises(FetchError, match="cannot read the bundle"):
        fetch(str(tmp_path / "absent.cpb"))
    with pytest.raises(FetchError, match="must name a local file"):
        fetch("file://elsewhere/fleet.cpb")
    with pytest.raises(FetchError, match="unsupported source"):
        fetch("ftp://127.0.0.1/fleet.cpb")
    with pytest.raises(FetchError, match="larger than 10 bytes"):
        fetch("-", stdin=io.BytesIO(BODY), limit=10)
