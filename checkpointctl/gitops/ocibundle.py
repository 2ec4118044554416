"""Signed bundles through an OCI registry: ``publish BUNDLE oci://REG/REPO:TAG`` and the agent's
``--source oci://REG/REPO:TAG``.

A bundle travels as an OCI artifact (image-spec 1.1 "artifact" guidance, accepted by registries
of the distribution spec: the lab's registry, Harbor, ECR, ACR, GHCR): an image manifest whose
``artifactType`` and config media type are our own, one layer holding the bundle's bytes, and a
small config naming the bundle's serial and expiry for people browsing the registry. Nothing in
the registry is trusted: the agent verifies the bundle's signatures, serial and expiry as it does
for any source (:mod:`checkpointctl.trust.agent`).

Pulling costs one ``HEAD`` of the tag per run while the tag is unchanged: the agent keeps the
last bundle it fetched and the digest of the manifest it came from in its state directory, and
fetches the manifest and the bundle only when the tag points at another digest. The registry
client is :class:`~checkpointctl.gitops.registry.RegistryClient` (``pin``'s), so authentication,
insecure registries and redirects work the same way; its password is a
:class:`~checkpointctl.model.Secret`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.parse
from dataclasses import dataclass

from checkpointctl.errors import CheckpointctlError
from checkpointctl.gitops.reference import ImageReference, ReferenceError, parse_reference
from checkpointctl.gitops.registry import RegistryClient, RegistryError
from checkpointctl.trust.bundle import MAX_BUNDLE_BYTES, Manifest, read_bundle
from checkpointctl.trust.bundlecache import BundleCache
from checkpointctl.trust.timeutil import format_time

SCHEME = "oci://"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
ARTIFACT_TYPE = "application/vnd.checkpointctl.bundle.v1"
CONFIG_TYPE = "application/vnd.checkpointctl.bundle.config.v1+json"
LAYER_TYPE = "application/vnd.checkpointctl.bundle.v1.tar"
TITLE = "org.opencontainers.image.title"
MAX_CONFIG_BYTES = 64 * 1024

log = logging.getLogger("checkpointctl.agent")


class OciBundleError(CheckpointctlError):
    """The reference is not ``oci://REGISTRY/REPO:TAG``, or what the tag holds is not a bundle."""


def parse_oci(source: str) -> ImageReference:
    """``oci://REGISTRY/REPO:TAG`` (or ``@sha256:…``) as an image reference.

    Raises:
        OciBundleError: not an ``oci://`` reference, no registry host, or neither tag nor digest.
    """
    if not source.startswith(SCHEME):
        raise OciBundleError(f"{source}: not an oci:// reference")
    text = source[len(SCHEME) :]
    try:
        ref = parse_reference(text)
    except ReferenceError as exc:
        raise OciBundleError(f"{source}: {exc}") from None
    if not text.startswith(ref.registry + "/"):
        raise OciBundleError(f"{source}: name the registry: oci://REGISTRY/REPOSITORY:TAG")
    if not ref.tag and not ref.digest:
        raise OciBundleError(f"{source}: give a tag (oci://REGISTRY/REPOSITORY:TAG)")
    return ref


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _descriptor(media_type: str, data: bytes, title: str | None = None) -> dict[str, object]:
    doc: dict[str, object] = {"mediaType": media_type, "digest": _digest(data), "size": len(data)}
    if title:
        doc["annotations"] = {TITLE: title}
    return doc


@dataclass(frozen=True, slots=True)
class Artifact:
    """What ``publish`` pushes: the config, the bundle layer, and the manifest naming both."""

    config: bytes
    layer: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        """The manifest's digest: what the tag points at once pushed."""
        return _digest(self.manifest)


def bundle_artifact(bundle: bytes, title: str = "bundle.cpb") -> Artifact:
    """The OCI artifact for ``bundle`` (the bundle is read, not verified: refuse garbage early).

    Raises:
        TrustError: ``bundle`` is not a readable bundle.
    """
    manifest = Manifest.from_bytes(read_bundle(bundle).manifest)
    config = json.dumps(
        {
            "serial": manifest.serial,
            "expires": format_time(manifest.expires),
            "hosts": len(manifest.hosts),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    doc = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": _descriptor(CONFIG_TYPE, config),
        "layers": [_descriptor(LAYER_TYPE, bundle, title)],
    }
    return Artifact(config, bundle, json.dumps(doc, sort_keys=True, indent=2).encode())


class OciClient:
    """The bundle operations on a registry, through ``pin``'s registry client."""

    def __init__(self, registry: RegistryClient) -> None:
        self.registry = registry

    def _url(self, ref: ImageReference, kind: str, name: str) -> str:
        quoted = urllib.parse.quote(name, safe=":/")  # digests as registries print them
        return f"{self.registry.base_url(ref)}/v2/{ref.path}/{kind}/{quoted}"

    # --- push -------------------------------------------------------------------------------

    def _push_blob(self, ref: ImageReference, data: bytes) -> None:
        digest = _digest(data)
        head = self.registry.request("HEAD", self._url(ref, "blobs", digest), ref, headers={})
        if head.status == 200:
            return  # already there (a bundle pushed under another tag, the same config)
        start = self.registry.request(
            "POST", f"{self.registry.base_url(ref)}/v2/{ref.path}/blobs/uploads/", ref,
            headers={"Content-Length": "0"}, data=b"",
        )  # fmt: skip
        location = start.headers.get("Location")
        if start.status != 202 or not location:
            raise RegistryError(f"{ref.name}: starting an upload answered {start.status}")
        url = urllib.parse.urljoin(self._url(ref, "blobs", "uploads/"), location)
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
        done = self.registry.request(
            "PUT", url, ref,
            headers={"Content-Type": "application/octet-stream"}, data=data,
        )  # fmt: skip
        if done.status != 201:
            raise RegistryError(f"{ref.name}: uploading blob {digest[:19]}… answered {done.status}")

    def publish(self, bundle: bytes, ref: ImageReference, title: str = "bundle.cpb") -> str:
        """Push ``bundle`` as an artifact and point ``ref``'s tag at it; returns its digest."""
        if not ref.tag:
            raise OciBundleError(f"{ref}: publish needs a tag to point at the bundle")
        artifact = bundle_artifact(bundle, title)
        self._push_blob(ref, artifact.config)
        self._push_blob(ref, artifact.layer)
        resp = self.registry.request(
            "PUT", self._url(ref, "manifests", ref.tag), ref,
            headers={"Content-Type": MANIFEST_TYPE}, data=artifact.manifest,
        )  # fmt: skip
        if resp.status != 201:
            raise RegistryError(f"{ref}: pushing the manifest answered {resp.status}")
        return artifact.digest

    # --- pull -------------------------------------------------------------------------------

    def head(self, ref: ImageReference) -> str:
        """The digest the tag points at now: one ``HEAD`` request (no cache: every call asks;
        a registry whose answer states no digest gets one ``GET`` of the manifest instead).

        Raises:
            RegistryError: unreachable, denied, no such tag, or no digest in the answer.
        """
        if ref.digest:
            return ref.digest
        url = self._url(ref, "manifests", ref.tag or "")
        resp = self.registry.request("HEAD", url, ref, headers={"Accept": MANIFEST_TYPE})
        digest = resp.headers.get("Docker-Content-Digest", "")
        if resp.status == 404:
            raise RegistryError(f"{ref}: no such tag on {ref.registry}")
        if resp.status in (200, 405) and not digest.startswith("sha256:"):
            # a registry that states no digest: the manifest itself, still one small request
            resp = self.registry.request("GET", url, ref, headers={"Accept": MANIFEST_TYPE})
            digest = _digest(resp.body) if resp.status == 200 else ""
        if resp.status != 200 or not digest.startswith("sha256:"):
            raise RegistryError(f"{ref}: the tag answered {resp.status} without a digest")
        return digest

    def pull(self, ref: ImageReference, digest: str) -> bytes:
        """The bundle in the artifact whose manifest has ``digest`` (contents checked against
        every digest on the way; the signatures are the agent's business).

        Raises:
            RegistryError / OciBundleError: unreachable, not our artifact, a digest mismatch.
        """
        resp = self.registry.request(
            "GET", self._url(ref, "manifests", digest), ref, headers={"Accept": MANIFEST_TYPE}
        )
        if resp.status != 200:
            raise RegistryError(f"{ref}: manifest {digest[:19]}… answered {resp.status}")
        if _digest(resp.body) != digest:
            raise OciBundleError(f"{ref}: the manifest does not match its digest {digest}")
        layer = _bundle_layer(resp.body, str(ref))
        blob = self.registry.request(
            "GET", self._url(ref, "blobs", layer.digest), ref, headers={},
            limit=MAX_BUNDLE_BYTES,
        )  # fmt: skip
        if blob.status != 200:
            raise RegistryError(f"{ref}: the bundle blob answered {blob.status}")
        if _digest(blob.body) != layer.digest or len(blob.body) != layer.size:
            raise OciBundleError(f"{ref}: the bundle blob does not match its descriptor")
        return blob.body


@dataclass(frozen=True, slots=True)
class _Layer:
    digest: str
    size: int


def _bundle_layer(manifest: bytes, where: str) -> _Layer:
    """The one bundle layer of an artifact manifest; anything else is not our artifact."""
    try:
        doc = json.loads(manifest)
    except ValueError:
        raise OciBundleError(f"{where}: the manifest is not JSON") from None
    if not isinstance(doc, dict):
        raise OciBundleError(f"{where}: the manifest is not a JSON object")
    config = doc.get("config")
    kind = doc.get("artifactType") or (
        config.get("mediaType") if isinstance(config, dict) else None
    )
    if kind not in (ARTIFACT_TYPE, CONFIG_TYPE):
        raise OciBundleError(f"{where}: not a checkpointctl bundle (artifact type {kind!r})")
    layers = doc.get("layers")
    ours = [
        x for x in layers if isinstance(x, dict) and x.get("mediaType") == LAYER_TYPE
    ] if isinstance(layers, list) else []  # fmt: skip
    if len(ours) != 1:
        raise OciBundleError(f"{where}: the artifact must hold exactly one bundle layer")
    digest, size = ours[0].get("digest"), ours[0].get("size")
    if not isinstance(digest, str) or not digest.startswith("sha256:") or not isinstance(size, int):
        raise OciBundleError(f"{where}: the bundle layer's descriptor is malformed")
    if not 0 <= size <= MAX_BUNDLE_BYTES:
        raise OciBundleError(f"{where}: the bundle layer is over {MAX_BUNDLE_BYTES} bytes")
    return _Layer(digest, size)


class CachedOciSource:
    """The agent's fetcher for ``oci://`` sources: one ``HEAD`` per run, a download only when
    the tag moved (the last bundle and its manifest digest are kept by
    :class:`~checkpointctl.trust.bundlecache.BundleCache`; the cache is never a reason to trust
    a bundle)."""

    def __init__(self, source: str, client: OciClient, state_dir: str) -> None:
        self.source = source
        self.ref = parse_oci(source)
        self.client = client
        self.cache = BundleCache(state_dir)
        self.last_version: str | None = None
        """The manifest digest the last fetch resolved to (what the agent reports)."""

    def __call__(self, source: str) -> bytes:
        """The bundle the tag points at (``source`` is the agent's, the one this was made for)."""
        digest = self.client.head(self.ref)
        self.last_version = digest
        cached = self.cache.load(self.source, digest)
        if cached is not None:
            log.info("%s: unchanged at %s, nothing downloaded", self.source, digest[:19])
            return cached
        log.info("%s: now %s, downloading the bundle", self.source, digest[:19])
        data = self.client.pull(self.ref, digest)
        self.cache.keep(self.source, digest, data)
        return data
