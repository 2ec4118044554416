"""Bundles as OCI artifacts: the references, the artifact ``publish`` pushes, what a pull accepts
as a bundle artifact, and the agent's one-HEAD-per-run cache.

The registry itself is the lab's (tests/integration/test_oci_agent_lab.py pushes, pulls and
counts its requests); the cache tests here give :class:`CachedOciSource` a stand-in client
that answers ``head``/``pull`` from a dict, to pin down when it downloads.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from checkpointctl.errors import TrustError
from checkpointctl.gitops.ocibundle import (
    ARTIFACT_TYPE,
    CONFIG_TYPE,
    LAYER_TYPE,
    MANIFEST_TYPE,
    CachedOciSource,
    OciBundleError,
    OciClient,
    _bundle_layer,
    bundle_artifact,
    parse_oci,
)
from checkpointctl.gitops.reference import ImageReference
from checkpointctl.gitops.registry import RegistryClient
from checkpointctl.spec import DesiredState
from checkpointctl.trust.bundle import build_bundle
from checkpointctl.trust.keys import SigningKey

SOURCE = "oci://10.213.0.1:5000/fleet/bundles:prod"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def make_bundle(serial: int) -> bytes:
    states = {"cp-1": DesiredState(host="cp-1")}
    key = SigningKey(Ed25519PrivateKey.generate())
    expires = CREATED + timedelta(days=7)
    return build_bundle(
        states, {"cp-1": None}, [key], serial=serial, created=CREATED, expires=expires
    )


@pytest.fixture(scope="module")
def bundle() -> bytes:
    return make_bundle(42)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_parse_oci_needs_a_registry_and_a_tag() -> None:
    ref = parse_oci(SOURCE)
    assert (ref.registry, ref.path, ref.tag) == ("10.213.0.1:5000", "fleet/bundles", "prod")
    assert parse_oci(f"oci://ghcr.io/acme/fleet@sha256:{'a' * 64}").digest == f"sha256:{'a' * 64}"
    for bad, why in [
        ("https://ghcr.io/acme/fleet:prod", "not an oci://"),
        ("oci://acme/fleet:prod", "name the registry"),
        ("oci://ghcr.io/acme/fleet", "give a tag"),
        ("oci://ghcr.io/Acme/fleet:prod", "invalid repository"),
    ]:
        with pytest.raises(OciBundleError, match=why):
            parse_oci(bad)


def test_the_artifact_is_an_oci_image_manifest_of_our_own_types(bundle: bytes) -> None:
    artifact = bundle_artifact(bundle, "fleet.cpb")
    doc = json.loads(artifact.manifest)
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == MANIFEST_TYPE
    assert doc["artifactType"] == ARTIFACT_TYPE
    assert doc["config"] == {
        "mediaType": CONFIG_TYPE,
        "digest": _sha(artifact.config),
        "size": len(artifact.config),
    }
    assert json.loads(artifact.config)["serial"] == 42
    (layer,) = doc["layers"]
    assert layer["mediaType"] == LAYER_TYPE
    assert (layer["digest"], layer["size"]) == (_sha(bundle), len(bundle))
    assert layer["annotations"] == {"org.opencontainers.image.title": "fleet.cpb"}
    assert artifact.digest == _sha(artifact.manifest)
    assert _bundle_layer(artifact.manifest, "x").digest == _sha(bundle)
    assert bundle_artifact(bundle, "fleet.cpb") == artifact  # deterministic


def test_publish_refuses_what_is_not_a_bundle() -> None:
    with pytest.raises(TrustError):
        bundle_artifact(b"not a tar at all")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (
            lambda d: d.update(artifactType="application/vnd.other", config={}),
            "not a checkpointctl",
        ),
        (lambda d: d["layers"].append(dict(d["layers"][0])), "exactly one bundle layer"),
        (lambda d: d["layers"][0].update(size="12"), "malformed"),
        (lambda d: d["layers"][0].update(size=2**40), "over"),
    ],
)
def test_a_pull_refuses_manifests_that_are_not_one_bundle(
    bundle: bytes, change: object, why: str
) -> None:
    doc = json.loads(bundle_artifact(bundle).manifest)
    change(doc)  # type: ignore[operator]
    with pytest.raises(OciBundleError, match=why):
        _bundle_layer(json.dumps(doc).encode(), "x")


class StandInClient(OciClient):
    """Answers from ``tags`` (tag digest) and ``blobs`` (digest → bundle); counts calls."""

    def __init__(self) -> None:
        super().__init__(RegistryClient())
        self.digest = _sha(b"manifest-1")
        self.blobs: dict[str, bytes] = {}
        self.heads = 0
        self.pulls = 0

    def head(self, ref: ImageReference) -> str:
        self.heads += 1
        return self.digest

    def pull(self, ref: ImageReference, digest: str) -> bytes:
        self.pulls += 1
        return self.blobs[digest]


def test_the_agent_downloads_only_when_the_tag_moves(tmp_path: Path, bundle: bytes) -> None:
    client = StandInClient()
    client.blobs[client.digest] = bundle
    source = CachedOciSource(SOURCE, client, str(tmp_path))
    for _ in range(3):
        assert source(SOURCE) == bundle
    assert (client.heads, client.pulls) == (3, 1)
    assert source.last_version == client.digest

    newer = make_bundle(43)
    client.digest = _sha(b"manifest-2")
    client.blobs[client.digest] = newer
    assert source(SOURCE) == newer
    assert source(SOURCE) == newer
    assert (client.heads, client.pulls) == (5, 2)


def test_a_damaged_cache_or_another_source_is_fetched_again(tmp_path: Path, bundle: bytes) -> None:
    client = StandInClient()
    client.blobs[client.digest] = bundle
    assert CachedOciSource(SOURCE, client, str(tmp_path))(SOURCE) == bundle
    (tmp_path / "source-bundle.cpb").write_bytes(b"tampered")
    assert CachedOciSource(SOURCE, client, str(tmp_path))(SOURCE) == bundle
    assert client.pulls == 2
    other = SOURCE.replace(":prod", ":staging")
    assert CachedOciSource(other, client, str(tmp_path))(other) == bundle
    assert client.pulls == 3


def test_registry_credentials_come_from_a_private_file_as_a_secret(tmp_path: Path) -> None:
    from checkpointctl.cli.oci import registry_credentials
    from checkpointctl.errors import CheckpointctlError
    from checkpointctl.model import Secret

    path = tmp_path / "auth"
    path.write_text("robot$fleet:s3cr3t-token\n")
    path.chmod(0o600)
    user, password = registry_credentials(str(path)) or ("", Secret(""))
    assert user == "robot$fleet"
    assert isinstance(password, Secret)
    assert "s3cr3t" not in repr((user, password))
    path.chmod(0o640)
    with pytest.raises(CheckpointctlError, match="mode 0600"):
        registry_credentials(str(path))
    assert registry_credentials(None) is None
