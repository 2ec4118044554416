"""Bundles through a real distribution registry (Debian's ``docker-registry``, the lab's), run
here on loopback with a configuration of its own: ``publish`` pushes an artifact the registry
accepts, the agent's fetcher downloads it once and then costs one ``HEAD`` per run (counted in
the registry's access log), a new bundle under the tag is fetched on the next run, and an
artifact that is not a bundle is refused. The lab test (tests/integration/test_oci_agent_lab.py)
adds the agent on a lab host behind its firewall.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from checkpointctl.cli.main import main
from checkpointctl.gitops.ocibundle import CachedOciSource, OciBundleError, OciClient, parse_oci
from checkpointctl.gitops.registry import RegistryClient
from checkpointctl.spec import DesiredState
from checkpointctl.trust.bundle import build_bundle
from checkpointctl.trust.keys import SigningKey

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("docker-registry"), reason="no docker-registry"),
]

KEY = SigningKey(Ed25519PrivateKey.generate())
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Registry:
    netloc: str
    log: Path

    def requests(self, since: int) -> list[str]:
        with self.log.open("rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
        return re.findall(r'"(\w+) /v2/fleet/bundles/(\w+)/', text)

    def mark(self) -> int:
        time.sleep(0.3)  # the registry logs a request after answering it
        return self.log.stat().st_size


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("registry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog: {level: info}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    log = root / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out, stderr=out)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield Registry(f"127.0.0.1:{port}", log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _bundle(serial: int) -> bytes:
    states = {"cp-1": DesiredState(host="cp-1")}
    expires = CREATED + timedelta(days=7)
    return build_bundle(
        states, {"cp-1": None}, [KEY], serial=serial, created=CREATED, expires=expires
    )


def _publish(registry: Registry, data: bytes, tmp_path: Path, tag: str = "prod") -> str:
    path = tmp_path / f"b-{time.monotonic_ns()}.cpb"
    path.write_bytes(data)
    ref = f"oci://{registry.netloc}/fleet/bundles:{tag}"
    assert main(["publish", str(path), ref, "--insecure-registry", registry.netloc]) == 0
    return ref


def test_publish_then_one_head_per_run_until_the_tag_moves(
    registry: Registry, tmp_path: Path
) -> None:
    ref = _publish(registry, _bundle(5), tmp_path)
    client = OciClient(RegistryClient([registry.netloc]))
    fetch = CachedOciSource(ref, client, str(tmp_path))
    start = registry.mark()
    assert fetch(ref) == _bundle(5)
    first = registry.mark()
    assert registry.requests(start) == [
        ("HEAD", "manifests"),
        ("GET", "manifests"),
        ("GET", "blobs"),
    ]
    for _ in range(3):
        assert fetch(ref) == _bundle(5)
    moved = registry.mark()
    assert registry.requests(first) == [("HEAD", "manifests")] * 3

    _publish(registry, _bundle(6), tmp_path)
    again = registry.mark()
    assert fetch(ref) == _bundle(6)
    assert [m for m, _ in registry.requests(again)] == ["HEAD", "GET", "GET"]
    assert moved < again


def test_publishing_the_same_bundle_again_uploads_no_blob(
    registry: Registry, tmp_path: Path
) -> None:
    _publish(registry, _bundle(7), tmp_path, tag="a")
    start = registry.mark()
    _publish(registry, _bundle(7), tmp_path, tag="b")
    assert registry.requests(start) == [("HEAD", "blobs"), ("HEAD", "blobs"), ("PUT", "manifests")]


def test_an_artifact_that_is_not_a_bundle_is_refused(registry: Registry, tmp_path: Path) -> None:
    client = RegistryClient([registry.netloc])
    source = f"oci://{registry.netloc}/fleet/bundles:other"
    ref = parse_oci(source)
    config = b"{}"
    oci = OciClient(client)
    oci._push_blob(ref, config)  # a plain image's config, then a manifest naming it
    manifest = (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
        b'"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},'
        b'"layers":[]}'
    )
    url = f"http://{registry.netloc}/v2/fleet/bundles/manifests/other"
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    assert client.request("PUT", url, ref, headers=headers, data=manifest).status == 201
    with pytest.raises(OciBundleError, match="not a checkpointctl bundle"):
        CachedOciSource(source, oci, str(tmp_path))(source)
