"""A pull that cannot complete: the registry is down, answers 500, or the host's disk is full.

What must hold: no container is touched (same IDs, same states), the error names the pull and
why, without a traceback, and the image the old container runs is still on the host.

For real: the lab registry is shared, so "down" and "500" use a second registry address on the
lab bridge (10.213.0.1:443, an address the baseline firewall lets hosts reach): nothing
listening there, then an HTTPS server (its CA put in the host's own /etc/docker/certs.d, which
is private to the host) that answers every request with 500. "Disk full" is a full 64 KiB tmpfs
mounted, inside the host's mount namespace only, on the ``tmp`` directory of that host's
dockerd data root, where the engine downloads layers; the image pulled is a fresh one pushed to
the lab registry for this test, so the engine has to download it.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import shutil
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faultlib import containers_named, docker, remove_containers, run_controller

from checkpointctl.lab import LabInfo
from checkpointctl.lab import hosts as lab_hosts
from checkpointctl.lab import images as lab_images
from checkpointctl.lab.dockerd import data_root
from checkpointctl.lab.layout import lab_paths

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST = "cp-1"
OTHER_REGISTRY = "10.213.0.1:443"
MISSING = "sha256:" + "7" * 64


@pytest.fixture(scope="module")
def running(lab: LabInfo) -> Iterator[str]:
    name = f"fault-reg-{uuid.uuid4().hex[:6]}"
    first = run_controller(HOST, name, "v1")
    assert first.code == 0, first.stderr + first.stdout
    yield name
    remove_containers(HOST, name)


def _snapshot(name: str) -> list[tuple[str, str, str]]:
    return [(c["Name"], c["Id"], c["State"]["Status"]) for c in containers_named(HOST, name)]


def _images() -> set[str]:
    return set(
        docker(HOST, "images", "--digests", "--format", "{{.ID}} {{.Digest}}").stdout.split("\n")
    )


def _assert_nothing_touched(
    name: str, before: list[tuple[str, str, str]], images: set[str], lab: LabInfo
) -> None:
    assert _snapshot(name) == before
    assert images <= _images(), "an image was removed"
    v1_digest = lab.checkpoint_image.partition("@")[2]
    assert any(v1_digest in line for line in _images())


def _pull_fails(name: str, reference: str, lab: LabInfo) -> str:
    before, images = _snapshot(name), _images()
    assert [s for _, _, s in before] == ["running"]
    run = run_controller(HOST, name, reference)
    assert run.code == 1
    assert run.report["status"] == "failed"
    error = str(run.report["error"])
    assert f"pull of {reference} failed" in error
    assert "Traceback" not in run.stderr + run.stdout
    _assert_nothing_touched(name, before, images, lab)
    return error


def test_registry_down_is_a_clear_error_and_nothing_changes(running: str, lab: LabInfo) -> None:
    error = _pull_fails(running, f"{OTHER_REGISTRY}/checkpoint/probe@{MISSING}", lab)
    assert "connection refused" in error.lower() or "timeout" in error.lower(), error


def _tls_pair(tmp: Path) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fault-registry")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("10.213.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, pem


class _Always500(http.server.BaseHTTPRequestHandler):
    hits = 0

    def _fail(self) -> None:
        type(self).hits += 1
        body = b'{"errors":[{"code":"UNKNOWN","message":"fault suite: internal error"}]}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = _fail

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def registry_500(lab: LabInfo, tmp_path: Path) -> Iterator[type[_Always500]]:
    cert, key, pem = _tls_pair(tmp_path)
    certs = lab_paths().host_dir(lab.host(HOST)) / "etc-docker" / "certs.d"
    dirs = [certs / OTHER_REGISTRY, certs / "10.213.0.1"]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        (d / "ca.crt").write_bytes(pem)
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer(("10.213.0.1", 443), _Always500)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Always500.hits = 0
    try:
        yield _Always500
    finally:
        server.shutdown()
        server.server_close()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def test_registry_answering_500_is_a_clear_error_and_nothing_changes(
    running: str, lab: LabInfo, registry_500: type[_Always500]
) -> None:
    error = _pull_fails(running, f"{OTHER_REGISTRY}/checkpoint/probe@{MISSING}", lab)
    assert registry_500.hits > 0, "the engine never reached the failing registry"
    assert "500" in error, error


@pytest.fixture
def fresh_image(lab: LabInfo) -> str:
    """A new image in the lab registry that no host has pulled yet."""
    version = uuid.uuid4().hex[:8]
    image = lab_images.build_image(
        "checkpoint/fault",
        version,
        "fault",
        [lab_images.base_layer(), lab_images.version_layer(f"fault {version}")],
        ["/bin/sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait $!"],
        {"io.checkpointctl.lab": "true"},
        ["8080/tcp"],
    )
    lab_images.push(image)
    return image.pinned


@pytest.fixture
def full_disk(lab: LabInfo) -> Iterator[str]:
    """A full tmpfs on the engine's download directory, in the host's mount namespace only."""
    paths = lab_paths()
    host = lab.host(HOST)
    tmp = data_root(paths, host) / "tmp"
    pid = lab_hosts.pids(paths, host).dockerd
    assert pid is not None
    ns = ["nsenter", "-t", str(pid), "-m", "-r", "-w", "--"]
    subprocess.run([*ns, "mkdir", "-p", str(tmp)], check=True)
    subprocess.run(
        [*ns, "mount", "-t", "tmpfs", "-o", "size=64k", "cp-fault-full", str(tmp)], check=True
    )
    try:
        fill = subprocess.run(
            [*ns, "dd", "if=/dev/zero", f"of={tmp}/filler", "bs=4k"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert "No space left on device" in fill.stderr
        yield str(tmp)
    finally:
        subprocess.run([*ns, "umount", str(tmp)], check=False)


def test_disk_full_during_pull_is_a_clear_error_and_nothing_changes(
    running: str, lab: LabInfo, fresh_image: str, full_disk: str
) -> None:
    error = _pull_fails(running, fresh_image, lab)
    assert "no space left on device" in error.lower(), error
