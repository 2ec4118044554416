"""Desired state: what one host should look like, as frozen, typed data.

``policy`` builds these objects from validated, templated and merged YAML; resources read them
and never see a dict. Everything here is immutable so a desired state can be shared between
threads and compared in tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from checkpointctl.errors import Location
from checkpointctl.model import REDACTED, Secret
from checkpointctl.model.provenance import ExceptionNote

CHECKPOINT_ROOT = "/etc/checkpoint"
STATE_DIR = "/var/lib/checkpointctl"
RESERVED_CONTAINER_NAMES = frozenset({"credentials", "trust", "secret-files"})
"""Container names whose ``/etc/checkpoint/<name>`` directory (collection.json lives there) is
already another resource's: the credentials directory, the pull agent's trust store and the
secret files' directory."""
SECRET_FILES_DIR = f"{CHECKPOINT_ROOT}/secret-files"
"""Where the secret files of containers live on a host (one flat directory, 0400 files)."""
RESERVED_CREDENTIAL_NAMES = frozenset({"manifest", "manifest.json"})
"""Credential names that would collide with the credentials manifest's file or plan address."""
OWNER_LABEL = "io.checkpointctl.managed"
CONFIG_DIGEST_LABEL = "io.checkpointctl.config-digest"

COLLECTION_TOGGLES: tuple[str, ...] = (
    "screenshots",
    "page_content",
    "console_logs",
    "http_headers",
    "http_bodies",
    "resolved_ips",
    "traces",
    "agent_telemetry",
)
"""What a checkpoint may send off-site. Order is the order of the rendered file."""

COLLECTION_PROFILES: Mapping[str, Mapping[str, bool]] = {
    # minimal: only health data leaves the site (the article: health is needed, the rest optional)
    "minimal": {t: t == "agent_telemetry" for t in COLLECTION_TOGGLES},
    "standard": {
        t: t in ("screenshots", "console_logs", "traces", "agent_telemetry")
        for t in COLLECTION_TOGGLES
    },
    "full": dict.fromkeys(COLLECTION_TOGGLES, True),
}


def normalise_device(text: str) -> str:
    """``/dev/x``, ``/dev/x:/dev/y`` or ``/dev/x:/dev/y:rw`` → ``host:container:permissions``
    (Docker's defaults: the same path inside, ``rwm``)."""
    host, _, rest = text.partition(":")
    target, _, perms = rest.partition(":")
    return f"{host}:{target or host}:{perms or 'rwm'}"


def normalise_security_opt(text: str) -> str:
    """``key:value`` (Docker's legacy spelling) → ``key=value``."""
    key, sep, value = text.partition("=")
    if not sep:
        key, _, value = text.partition(":")
    return f"{key}={value}"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image pinned by digest: ``registry/repository@sha256:<hex>``."""

    repository: str
    digest: str

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"

    @property
    def registry(self) -> str:
        """The registry host[:port]; Docker Hub when the first part is not a host."""
        first = self.repository.split("/", 1)[0]
        if "/" in self.repository and ("." in first or ":" in first or first == "localhost"):
            return first
        return "docker.io"


@dataclass(frozen=True, slots=True)
class Mount:
    """A bind mount (``source`` a host path) or a named volume (``source`` the volume's name)
    into a container; read-only unless the policy says otherwise."""

    source: str
    target: str
    read_only: bool = True
    kind: Literal["bind", "volume"] = "bind"


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits: memory in bytes, CPUs as a fraction, max number of processes."""

    memory: int | None = None
    cpus: float | None = None
    pids: int | None = None


@dataclass(frozen=True, slots=True)
class Healthcheck:
    """A Docker healthcheck; durations in seconds."""

    test: tuple[str, ...]
    interval: float = 30.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 0.0


@dataclass(frozen=True, slots=True)
class LogConfig:
    """A container's log driver and its options (``max-size``, ``max-file`` for json-file)."""

    driver: str = "json-file"
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One checkpoint container and its hardened runtime."""

    name: str
    image: ImageRef
    command: tuple[str, ...] | None = None
    env: tuple[tuple[str, str | Secret], ...] = ()
    user: str = "65534:65534"
    read_only: bool = True
    cap_drop: tuple[str, ...] = ("ALL",)
    cap_add: tuple[str, ...] = ()
    no_new_privileges: bool = True
    privileged: bool = False
    ports: tuple[str, ...] = ()
    network_mode: str = "bridge"
    mounts: tuple[Mount, ...] = ()
    tmpfs: tuple[str, ...] = ()
    limits: Limits = Limits()
    restart: str = "unless-stopped"
    healthcheck: Healthcheck | None = None
    labels: tuple[tuple[str, str], ...] = ()
    health_signal: tuple[str, ...] = ()
    """The agent's own health signal: a command the health gate runs inside the container
    (exit 0 = the agent says it is healthy), read live after every apply; () for none."""
    credentials: tuple[str, ...] = ()
    """Names of the credentials mounted into this container (from the credentials' scopes)."""
    config_digest: str = ""
    """Digest of this container's desired credential and collection files; see containers."""
    # -- multi-container checkpoints and vendor profiles (issue 17) ------------------------
    network: str = ""
    """A user-defined network the container joins (its ``network_mode``); "" for none."""
    depends_on: tuple[str, ...] = ()
    """Containers this one starts after: the desired state lists them first."""
    logging: LogConfig | None = None
    """The container's log driver and options; None leaves the engine's default."""
    secret_files: tuple[str, ...] = ()
    """Target paths of this container's secret files (see :class:`SecretFileSpec`)."""
    checkpoint: str = ""
    """The checkpoint (``spec.checkpoints[].name``) the container belongs to, if any."""
    vendor: str = ""
    """The vendor profile the container was expanded from, if any."""
    origin: tuple[tuple[str, str], ...] = ()
    """Where each expanded field came from: ``(field, "vendor uptrends: <page>")`` or
    ``(field, "policy <file:line>")``, for ``render``."""
    # --- namespaces and kernel access (issue 18): linted, compiled and drift-checked ---
    pid: str = "private"
    """``private``, ``host`` or ``container:<name>`` (Docker's ``PidMode``; ``""`` is private)."""
    ipc: str = "private"
    """``private``, ``none``, ``shareable``, ``host`` or ``container:<name>``."""
    userns_mode: str = "private"
    """``private`` (the daemon's remapping, if any) or ``host``."""
    security_opt: tuple[str, ...] = ()
    """Security options other than no-new-privileges, as ``key=value`` (sorted)."""
    devices: tuple[str, ...] = ()
    """Host devices as ``host:container:permissions`` (sorted)."""
    sysctls: tuple[tuple[str, str], ...] = ()
    """Namespaced kernel parameters (sorted pairs)."""


@dataclass(frozen=True, slots=True)
class TrustedRegistry:
    """A registry host and the repository prefix images may come from."""

    registry: str
    prefix: str = ""

    def allows(self, image: ImageRef) -> bool:
        if image.registry != self.registry:
            return False
        path = image.repository.split("/", 1)[1] if "/" in image.repository else image.repository
        return path.startswith(self.prefix)


@dataclass(frozen=True, slots=True)
class ScanAllowance:
    """A finding the scan gate lets through until ``expires``: who accepted it, and why."""

    id: str
    reason: str
    owner: str
    expires: date


@dataclass(frozen=True, slots=True)
class ScanGate:
    """Refuse images whose scan report (a file per digest) shows findings at or above a level."""

    required: bool = False
    max_severity: Literal["low", "medium", "high", "critical"] = "high"
    reports: str = "scans"
    allow: tuple[ScanAllowance, ...] = ()
    """Accepted findings (CVE ids); an expired allowance blocks again."""


@dataclass(frozen=True, slots=True)
class RegistriesSpec:
    trusted: tuple[TrustedRegistry, ...] = ()
    scan: ScanGate = ScanGate()


@dataclass(frozen=True, slots=True)
class FirewallRule:
    """One allow rule. Empty ``cidrs`` and ``hosts`` mean any address; ``port`` None means any."""

    proto: Literal["tcp", "udp", "icmp", "any"] = "tcp"
    port: int | None = None
    cidrs: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    comment: str = ""


@dataclass(frozen=True, slots=True)
class FirewallSpec:
    """The one nftables table checkpointctl owns on a host."""

    table: str = "checkpointctl"
    inbound_default: Literal["drop", "accept"] = "drop"
    outbound_default: Literal["drop", "accept"] = "drop"
    inbound: tuple[FirewallRule, ...] = ()
    outbound: tuple[FirewallRule, ...] = ()
    management_port: int = 22
    management_from: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ntp: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CredentialSpec:
    """A login credential a monitor uses, with the narrowest scope it needs."""

    name: str
    username: str
    secret: Secret
    containers: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    expires: date | None = None
    path: str = ""
    uid: int = 0
    """Owner of the credential file: the uid the receiving container runs as."""
    gid: int = 0

    @property
    def file_path(self) -> str:
        return self.path or f"{CHECKPOINT_ROOT}/credentials/{self.name}"


SECRET_PLACEHOLDER = "@@checkpointctl-secret-{}@@"  # noqa: S105 - a marker, not a secret  # noqa: S105 - a marker, not a secret
"""Stands for the n-th secret of a :class:`SecretFileSpec` in its template."""


@dataclass(frozen=True, slots=True)
class SecretFileSpec:
    """A file with arbitrary content, secrets inside, mounted read-only into one container.

    ``template`` is the rendered document with each secret replaced by
    :data:`SECRET_PLACEHOLDER`; ``format`` says how a secret is spelled when it is put back
    (a JSON string for ``json`` and ``yaml``, the raw text for ``text``). Only the writer that
    puts the file on a host (and hashes it for drift) reveals the secrets.
    """

    container: str
    target: str
    """The path inside the container (e.g. ``/etc/datadog/synthetics-check-runner.json``)."""
    format: Literal["json", "yaml", "text"]
    template: str
    secrets: tuple[Secret, ...] = ()
    uid: int = 0
    gid: int = 0

    @property
    def name(self) -> str:
        return self.target.rstrip("/").rpartition("/")[2]

    @property
    def file_path(self) -> str:
        """Where the file lives on the host (container names hold no ``_``)."""
        return f"{SECRET_FILES_DIR}/{self.container}_{self.name}"


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """What one container's checkpoint may send off-site."""

    container: str
    profile: str
    settings: tuple[tuple[str, bool], ...]

    @property
    def file_path(self) -> str:
        return f"{CHECKPOINT_ROOT}/{self.container}/collection.json"

    def render(self) -> bytes:
        """The file the agent reads: canonical JSON, so equal settings give equal bytes."""
        doc = {"profile": self.profile, "collect": dict(self.settings)}
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True, slots=True)
class UpdatesSpec:
    """When apply may change images (see ``engine.updates``): the strategy and a window."""

    strategy: Literal["gitops", "manual"] = "gitops"
    window: str | None = None
    """``Mon-Fri 02:00-05:00 Europe/Amsterdam`` (``policy.window``), checked by lint."""


@dataclass(frozen=True, slots=True)
class HealthSpec:
    require_healthy: bool = True
    timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class WaiverSpec:
    """A lint rule a policy knowingly relaxed, kept so every report shows it with its reason."""

    rule: str
    target: str
    reason: str
    source: str = ""
    """``file:line:col`` of the waiver in its policy."""


@dataclass(frozen=True, slots=True)
class DesiredState:
    """Everything one host should be, after templating and layering."""

    host: str
    containers: tuple[ContainerSpec, ...] = ()
    firewall: FirewallSpec | None = None
    credentials: tuple[CredentialSpec, ...] = ()
    collection: tuple[CollectionSpec, ...] = ()
    secret_files: tuple[SecretFileSpec, ...] = ()
    registries: RegistriesSpec = RegistriesSpec()
    updates: UpdatesSpec = UpdatesSpec()
    health: HealthSpec = HealthSpec()
    policies: tuple[str, ...] = ()
    exceptions: tuple[ExceptionNote, ...] = ()
    """Known differences drift accepts until they expire (``spec.exceptions``)."""
    waivers: tuple[WaiverSpec, ...] = ()
    sources: Mapping[str, Location] = field(default_factory=dict, compare=False, hash=False)
    scan_verdicts: Mapping[str, tuple[bool, str]] = field(
        default_factory=dict, compare=False, hash=False
    )
    """Scan-gate answers by image digest: (ok, reason). Computed where the scan reports are
    (the controller), carried to apply so a host never runs an image whose scan failed."""

    def source(self, path: str) -> Location | None:
        """The policy location that set ``path``, its nearest parent, or else the first line
        that set something under it (for plan messages)."""
        probe = path
        while probe:
            if probe in self.sources:
                return self.sources[probe]
            probe = probe.rpartition(".")[0]
        under = sorted(k for k in self.sources if k.startswith(path + "."))
        return self.sources[under[0]] if under else None


def config_digest(files: Mapping[str, bytes]) -> str:
    """A stable digest over a container's config files (path → content), for its label."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return "sha256:" + h.hexdigest()


_PAIR_FIELDS = frozenset({"env", "labels", "settings", "sysctls", "options", "origin"})
"""Tuples of (key, value) pairs that read better as mappings in ``render``."""


def _to_data(value: object, secret: Callable[[Secret], object]) -> object:
    if isinstance(value, Secret):
        return secret(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, object] = {}
        for f in dataclasses.fields(value):
            if f.name == "sources":
                continue
            item = getattr(value, f.name)
            if f.name in _PAIR_FIELDS:
                out[f.name] = {k: _to_data(v, secret) for k, v in item}
            else:
                out[f.name] = _to_data(item, secret)
        return out
    if isinstance(value, tuple | list):
        return [_to_data(v, secret) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_data(v, secret) for k, v in value.items()}
    if isinstance(value, date):
        return value.isoformat()
    return value


def state_to_data(
    state: DesiredState, secret: Callable[[Secret], object] = lambda s: REDACTED
) -> dict[str, object]:
    """Plain data for ``render`` and bundles. Secrets go through ``secret`` (redacted by
    default; a bundle passes a sealing function instead)."""
    out = _to_data(state, secret)
    assert isinstance(out, dict)
    return out
