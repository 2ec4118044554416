"""Test images for the lab, built from Debian's static busybox and pushed to the lab registry.

Nothing can be pulled from the internet, so the lab makes its own images: a base layer with
``/bin/busybox``, a symlink per applet, ``/etc/passwd`` (``checkpoint`` uid 10001, ``nobody``)
and ``/tmp``, plus a small layer per image with a ``VERSION`` file. Layers are deterministic
tarballs (fixed mtimes and owners, sorted entries, gzip with mtime 0) and the config has a
fixed ``created``, so the same busybox gives the same digests on every machine and every run.

The images are pushed with the registry's HTTP API (blob uploads, then a schema 2 manifest),
and are referred to by ``repo@sha256:<manifest digest>``: the digest Docker shows in
``RepoDigests`` after a pull.

- ``checkpoint/probe:v1`` and ``:v2``: ``busybox httpd`` on port 8080 serving ``/www`` (the
  version), exiting at once on SIGTERM.
- ``untrusted/tool:v1``: a sleeper, for tests about images a policy must refuse.
- ``standin/<vendor>-…:v1``: the vendors' stand-ins (:mod:`checkpointctl.lab.standins`), their
  script run by the image's entrypoint so a policy's ``command`` adds launch arguments, and a
  ``HEALTHCHECK`` that is their health signal (healthy once their effective settings exist).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import platform
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from checkpointctl.errors import LabError
from checkpointctl.lab.layout import REGISTRY
from checkpointctl.lab.process import run
from checkpointctl.lab.registry import BASE_URL, opener
from checkpointctl.lab.standins import HEALTHCHECK, SCRIPT_PATH, STANDIN_CMD, STANDINS
from checkpointctl.localfile import write_atomic

BUSYBOX = Path("/bin/busybox")
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
CREATED = "2024-01-01T00:00:00Z"
_MTIME = 1704067200  # CREATED as a Unix time

USERS = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "checkpoint:x:10001:10001:checkpoint:/home/checkpoint:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUPS = "root:x:0:\ncheckpoint:x:10001:\nnogroup:x:65534:\n"

_PROBE_CMD = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; httpd -f -p 8080 -h /www & wait $!"]
_SLEEP_CMD = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]


@dataclass(frozen=True, slots=True)
class _Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """An image ready to push: its blobs and manifest, and where it goes."""

    repository: str
    """Path in the registry, e.g. ``checkpoint/probe``."""
    tag: str
    key: str
    """The inventory variable naming it (``checkpoint_image``, ...)."""
    config: _Blob
    layers: tuple[_Blob, ...]
    manifest: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    @property
    def tagged(self) -> str:
        return f"{REGISTRY}/{self.repository}:{self.tag}"

    @property
    def pinned(self) -> str:
        return f"{REGISTRY}/{self.repository}@{self.digest}"

    def record(self) -> dict[str, str]:
        """The images.json entry for this image."""
        return {
            "key": self.key,
            "repository": f"{REGISTRY}/{self.repository}",
            "tag": self.tag,
            "tagged": self.tagged,
            "digest": self.digest,
            "pinned": self.pinned,
            "image_id": self.config.digest,
        }


def _tar(members: Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in sorted(members, key=lambda m: m[0].name):
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _entry(name: str, kind: bytes, mode: int, *, data: bytes | None = None, link: str = "",
           uid: int = 0) -> tuple[tarfile.TarInfo, bytes | None]:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = _MTIME
    info.uid = info.gid = uid
    info.uname = info.gname = ""
    info.linkname = link
    info.size = len(data) if data is not None else 0
    return info, data


@functools.lru_cache(maxsize=8)  # the base layer is shared by every image: compress it once
def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


def _applets(busybox: Path) -> list[str]:
    names = run([str(busybox), "--list"]).split()
    return sorted({n for n in names if n and "/" not in n and n != "busybox"})


def base_layer(busybox: Path = BUSYBOX) -> bytes:
    """The uncompressed base layer tar: busybox, its applets, users, /tmp."""
    members = [
        _entry("bin", tarfile.DIRTYPE, 0o755),
        _entry("bin/busybox", tarfile.REGTYPE, 0o755, data=busybox.read_bytes()),
        _entry("etc", tarfile.DIRTYPE, 0o755),
        _entry("etc/passwd", tarfile.REGTYPE, 0o644, data=USERS.encode()),
        _entry("etc/group", tarfile.REGTYPE, 0o644, data=GROUPS.encode()),
        _entry("home", tarfile.DIRTYPE, 0o755),
        _entry("home/checkpoint", tarfile.DIRTYPE, 0o755, uid=10001),
        _entry("root", tarfile.DIRTYPE, 0o700),
        _entry("tmp", tarfile.DIRTYPE, 0o1777),
        _entry("www", tarfile.DIRTYPE, 0o755),
    ]
    members += [
        _entry(f"bin/{name}", tarfile.SYMTYPE, 0o777, link="busybox") for name in _applets(busybox)
    ]
    return _tar(members)


def version_layer(version: str) -> bytes:
    """A layer with ``/VERSION`` and ``/www/index.html`` holding ``version``."""
    text = (version + "\n").encode()
    return _tar(
        [
            _entry("VERSION", tarfile.REGTYPE, 0o644, data=text),
            _entry("www", tarfile.DIRTYPE, 0o755),
            _entry("www/index.html", tarfile.REGTYPE, 0o644, data=text),
        ]
    )


def standin_layer(script: bytes) -> bytes:
    """A layer with the stand-in's script at ``/standin/run`` and ``/etc/datadog`` (where the
    Datadog stand-in's configuration file is mounted)."""
    return _tar(
        [
            _entry("standin", tarfile.DIRTYPE, 0o755),
            _entry(SCRIPT_PATH, tarfile.REGTYPE, 0o755, data=script),
            _entry("etc", tarfile.DIRTYPE, 0o755),
            _entry("etc/datadog", tarfile.DIRTYPE, 0o755),
        ]
    )


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def build_image(
    repository: str,
    tag: str,
    key: str,
    tars: Sequence[bytes],
    cmd: Sequence[str],
    labels: Mapping[str, str],
    exposed: Sequence[str] = (),
    entrypoint: Sequence[str] = (),
    healthcheck: Mapping[str, list[str] | int] | None = None,
) -> BuiltImage:
    """Assemble config and manifest around uncompressed layer tars."""
    layers = tuple(_Blob(LAYER_GZIP, _gzip(t)) for t in tars)
    container_config: dict[str, object] = {
        "Env": ["PATH=/bin"],
        "Cmd": list(cmd),
        "WorkingDir": "/",
        "Labels": dict(labels),
    }
    if entrypoint:
        container_config["Entrypoint"] = list(entrypoint)
    if healthcheck:
        container_config["Healthcheck"] = dict(healthcheck)
    if exposed:
        container_config["ExposedPorts"] = {p: {} for p in exposed}
    config = _Blob(
        CONFIG_V1,
        _json(
            {
                "architecture": _arch(),
                "os": "linux",
                "created": CREATED,
                "config": container_config,
                "rootfs": {
                    "type": "layers",
                    "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars],
                },
                "history": [{"created": CREATED, "created_by": "checkpointctl lab"} for _ in tars],
            }
        ),
    )
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": config.media_type,
                "size": len(config.data),
                "digest": config.digest,
            },
            "layers": [
                {"mediaType": b.media_type, "size": len(b.data), "digest": b.digest} for b in layers
            ],
        }
    )
    return BuiltImage(repository, tag, key, config, layers, manifest)


def build_all(busybox: Path = BUSYBOX) -> tuple[BuiltImage, ...]:
    """The lab's images, in a fixed order."""
    base = base_layer(busybox)

    def labels(title: str, version: str) -> dict[str, str]:
        return {
            "org.opencontainers.image.title": title,
            "org.opencontainers.image.version": version,
            "io.checkpointctl.lab": "true",
        }

    standins = tuple(
        build_image(
            s.repository, "v1", s.key, [base, standin_layer(s.text)], [],
            {**labels(s.title, "1"), "io.checkpointctl.standin": "true"},
            entrypoint=STANDIN_CMD, healthcheck=HEALTHCHECK,
        )
        for s in STANDINS
    )  # fmt: skip
    return (
        build_image(
            "checkpoint/probe", "v1", "checkpoint_image",
            [base, version_layer("checkpoint-probe 1")], _PROBE_CMD,
            labels("checkpoint-probe", "1"), ["8080/tcp"],
        ),
        build_image(
            "checkpoint/probe", "v2", "checkpoint_image_v2",
            [base, version_layer("checkpoint-probe 2")], _PROBE_CMD,
            labels("checkpoint-probe", "2"), ["8080/tcp"],
        ),
        build_image(
            "untrusted/tool", "v1", "untrusted_image",
            [base, version_layer("untrusted-tool 1")], _SLEEP_CMD,
            labels("untrusted-tool", "1"),
        ),
        *standins,
    )  # fmt: skip


def _request(
    method: str, url: str, data: bytes | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, Mapping[str, str]]:
    # url always starts with BASE_URL (http://10.213.0.1:5000), never with user input.
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310
    try:
        with opener().open(req, timeout=60) as resp:
            resp.read()
            return int(resp.status), dict(resp.headers)
    except urllib.error.HTTPError as err:
        body = err.read()[:500].decode("utf-8", "replace")
        if method == "HEAD" and err.code == 404:
            return 404, dict(err.headers)
        raise LabError(f"lab registry: {method} {url} -> {err.code}: {body}") from err
    except OSError as err:
        raise LabError(f"lab registry: {method} {url}: {err}") from err


def _push_blob(repository: str, blob: _Blob) -> None:
    status, _ = _request("HEAD", f"{BASE_URL}/v2/{repository}/blobs/{blob.digest}")
    if status == 200:
        return
    _, headers = _request("POST", f"{BASE_URL}/v2/{repository}/blobs/uploads/", data=b"")
    location = urllib.parse.urljoin(BASE_URL, headers["Location"])
    sep = "&" if "?" in location else "?"
    url = f"{location}{sep}digest={urllib.parse.quote(blob.digest)}"
    headers = {"Content-Type": "application/octet-stream"}
    _request("PUT", url, data=blob.data, headers=headers)


def push(image: BuiltImage) -> None:
    """Upload the image's blobs (skipping those present) and tag its manifest.

    Raises:
        LabError: the registry refused a request or could not be reached.
    """
    for blob in (*image.layers, image.config):
        _push_blob(image.repository, blob)
    _request(
        "PUT",
        f"{BASE_URL}/v2/{image.repository}/manifests/{image.tag}",
        data=image.manifest,
        headers={"Content-Type": MANIFEST_V2},
    )


def served(entry: Mapping[str, str]) -> bool:
    """True if the registry's tag for an images.json entry still points at its digest."""
    name = entry["repository"].removeprefix(f"{REGISTRY}/")
    status, headers = _request(
        "HEAD", f"{BASE_URL}/v2/{name}/manifests/{entry['tag']}", headers={"Accept": MANIFEST_V2}
    )
    return status == 200 and headers.get("Docker-Content-Digest") == entry["digest"]


def ensure_images(record: Path) -> list[dict[str, str]]:
    """Make sure the lab images are in the registry; write and return ``images.json`` entries.

    When the record matches the images this code builds (deterministic, so the same digests)
    and every recorded tag still points at its digest, nothing is pushed.
    """
    images = build_all()
    try:
        recorded = json.loads(record.read_text())["images"]
        same = [image.record() for image in images] == recorded
        if same and all(served(entry) for entry in recorded):
            return list(recorded)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for image in images:
        push(image)
    entries = [image.record() for image in images]
    doc = {"format_version": "1", "images": entries}
    # other sessions read it at any time: never show half a file
    write_atomic(record, (json.dumps(doc, indent=2) + "\n").encode())
    return entries
