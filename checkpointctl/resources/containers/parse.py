"""Containers as the engine reports them: ``docker inspect`` JSON → typed, normalised actual state.

Pure functions only, fed in tests with JSON recorded from the lab. Normalising here (capability
names, "default" network, 0 meaning "no limit", nanoseconds) is what lets the diff compare like
with like, so the second plan after an apply is empty instead of flapping on the engine's
spelling of the same setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checkpointctl.resources.containers.images import normalise_reference
from checkpointctl.spec import OWNER_LABEL, normalise_device, normalise_security_opt

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class HealthcheckActual:
    """A healthcheck in the engine's units (nanoseconds), comparable with the desired one."""

    test: tuple[str, ...]
    interval_ns: int = 0
    timeout_ns: int = 0
    retries: int = 0
    start_period_ns: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "test": list(self.test),
            "interval": self.interval_ns / NS,
            "timeout": self.timeout_ns / NS,
            "retries": self.retries,
            "start_period": self.start_period_ns / NS,
        }


@dataclass(frozen=True, slots=True)
class MountActual:
    """One mount of a container; ``source`` is a host path, or ``volume:<name>`` for volumes."""

    type: str
    source: str
    target: str
    read_only: bool

    def __str__(self) -> str:
        prefix = "" if self.type == "bind" or self.source.startswith("volume:") else "tmpfs:"
        return f"{prefix}{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


@dataclass(frozen=True, slots=True)
class LogActual:
    """A container's log driver and its options, sorted."""

    driver: str
    options: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.options)
        return f"{self.driver}({opts})" if opts else self.driver


def parse_logging(raw: object) -> LogActual | None:
    """``HostConfig.LogConfig`` → :class:`LogActual` (None when absent)."""
    if not isinstance(raw, Mapping) or not raw.get("Type"):
        return None
    config = raw.get("Config") or {}
    options = config.items() if isinstance(config, Mapping) else ()
    return LogActual(str(raw["Type"]), tuple(sorted((str(k), str(v)) for k, v in options)))


@dataclass(frozen=True, slots=True)
class PortBinding:
    """A published port: ``[ip:]host:container/proto`` (host port "" = engine picks one)."""

    container_port: str
    proto: str = "tcp"
    host_port: str = ""
    host_ip: str = ""

    def __str__(self) -> str:
        head = f"{self.host_ip}:" if self.host_ip else ""
        return f"{head}{self.host_port}:{self.container_port}/{self.proto}"


@dataclass(frozen=True, slots=True)
class ImageActual:
    """The parts of a local image a container inherits, and the digests that name it."""

    id: str
    repo_digests: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    healthcheck: HealthcheckActual | None = None
    volumes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContainerActual:
    """One container, normalised. ``env`` holds plaintext the engine returned: never repr'd."""

    id: str
    name: str
    image_id: str
    image: str
    managed: bool
    labels: tuple[tuple[str, str], ...]
    command: tuple[str, ...] | None
    entrypoint: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...] = field(repr=False)
    user: str
    read_only: bool
    cap_drop: tuple[str, ...]
    cap_add: tuple[str, ...]
    no_new_privileges: bool
    security_opt: tuple[str, ...]
    """Security options other than no-new-privileges (seccomp=unconfined, apparmor=…)."""
    privileged: bool
    ports: tuple[PortBinding, ...]
    publish_all: bool
    network_mode: str
    mounts: tuple[MountActual, ...]
    tmpfs: tuple[tuple[str, str], ...]
    memory: int | None
    memory_swap: int | None
    nano_cpus: int | None
    pids: int | None
    restart: str
    healthcheck: HealthcheckActual | None
    status: str
    health: str | None
    restart_count: int
    started_at: datetime | None
    exit_code: int
    logging: LogActual | None = None
    pid: str = "private"
    ipc: str = "private"
    userns_mode: str = "private"
    devices: tuple[str, ...] = ()
    """``host:container:permissions``, sorted."""
    sysctls: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ContainersActual:
    """Every container on a host (managed or not) and the local images they and we need."""

    containers: tuple[ContainerActual, ...]
    images: tuple[ImageActual, ...]
    read_at: datetime

    def container(self, name: str) -> ContainerActual | None:
        return next((c for c in self.containers if c.name == name), None)

    def image(self, image_id: str) -> ImageActual | None:
        return next((i for i in self.images if i.id == image_id), None)

    def image_with_digest(self, reference: str) -> ImageActual | None:
        """The local image whose ``RepoDigests`` contain ``repo@sha256:…`` (None if absent)."""
        wanted = normalise_reference(reference)
        for img in self.images:
            if any(normalise_reference(d) == wanted for d in img.repo_digests):
                return img
        return None


def normalise_cap(cap: str) -> str:
    """``cap_net_admin`` / ``CAP_NET_ADMIN`` / ``NET_ADMIN`` → ``NET_ADMIN``."""
    cap = cap.strip().upper()
    return cap[4:] if cap.startswith("CAP_") else cap


def normalise_caps(caps: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(sorted({normalise_cap(c) for c in caps or ()}))


def normalise_network(mode: str | None) -> str:
    return "bridge" if mode in (None, "", "default") else str(mode)


def normalise_restart(name: str | None, retries: int | None = 0) -> str:
    """``unless-stopped``, ``always``, ``no``, ``on-failure`` or ``on-failure:N``."""
    name = name or "no"
    if name == "on-failure" and retries:
        return f"on-failure:{retries}"
    return name


def normalise_namespace(mode: object) -> str:
    """Docker's namespace modes (``PidMode``, ``IpcMode``, ``UsernsMode``): empty is private."""
    return str(mode) if mode else "private"


def parse_devices(raw: object) -> tuple[str, ...]:
    """``HostConfig.Devices`` → sorted ``host:container:permissions`` entries."""
    out: set[str] = set()
    for d in raw if isinstance(raw, list) else ():
        if isinstance(d, Mapping):
            host = str(d.get("PathOnHost") or "")
            out.add(
                normalise_device(
                    f"{host}:{d.get('PathInContainer') or host}:{d.get('CgroupPermissions') or ''}"
                )
            )
    return tuple(sorted(out))


def positive_or_none(value: object) -> int | None:
    """The engine writes "no limit" as 0, -1 or null; all three are None here."""
    return int(value) if isinstance(value, int | float) and value > 0 else None


def split_env(entries: Iterable[str] | None) -> tuple[tuple[str, str], ...]:
    """``["K=V", ...]`` → ``(("K", "V"), ...)``; a bare ``K`` means an empty value."""
    out: dict[str, str] = {}
    for entry in entries or ():
        key, _, value = str(entry).partition("=")
        out[key] = value
    return tuple(out.items())


def _strs(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(str(v) for v in value)
    return None


def parse_healthcheck(raw: object) -> HealthcheckActual | None:
    """``Config.Healthcheck`` → :class:`HealthcheckActual`; ``["NONE"]`` or absent → None."""
    if not isinstance(raw, Mapping):
        return None
    test = _strs(raw.get("Test")) or ()
    if not test or test[0] == "NONE":
        return None
    return HealthcheckActual(
        test=test,
        interval_ns=int(raw.get("Interval") or 0),
        timeout_ns=int(raw.get("Timeout") or 0),
        retries=int(raw.get("Retries") or 0),
        start_period_ns=int(raw.get("StartPeriod") or 0),
    )


def _labels(raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in raw.items()))


_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def parse_time(text: object) -> datetime | None:
    """Docker's RFC 3339 timestamps (nanoseconds, ``Z``); the zero time ``0001-…`` is None."""
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    m = _TIME_RE.match(text)
    if m is None:
        return None
    head, frac, tz = m.groups()
    stamp = head + (f".{frac[:6]:0<6}" if frac else "") + ("+00:00" if tz in (None, "Z") else tz)
    return datetime.fromisoformat(stamp)


def parse_ports(raw: object) -> tuple[PortBinding, ...]:
    """``HostConfig.PortBindings`` → sorted bindings (``0.0.0.0`` is the same as no address)."""
    out: set[PortBinding] = set()
    if not isinstance(raw, Mapping):
        return ()
    for key, bindings in raw.items():
        port, _, proto = str(key).partition("/")
        for b in bindings or [{}]:
            b = b if isinstance(b, Mapping) else {}
            ip = str(b.get("HostIp") or "")
            out.add(
                PortBinding(
                    container_port=port,
                    proto=proto or "tcp",
                    host_port=str(b.get("HostPort") or ""),
                    host_ip="" if ip == "0.0.0.0" else ip,  # noqa: S104 - a value, not a bind
                )
            )
    return tuple(sorted(out, key=str))


def parse_mounts(raw: object, image_volumes: Iterable[str] = ()) -> tuple[MountActual, ...]:
    """Top-level ``Mounts`` → sorted mounts, minus the anonymous volumes the image declares."""
    out: list[MountActual] = []
    declared = set(image_volumes)
    for m in raw if isinstance(raw, list) else ():
        if not isinstance(m, Mapping):
            continue
        kind = str(m.get("Type") or "bind")
        target = str(m.get("Destination") or "")
        if kind == "volume":
            if target in declared:
                continue
            source = f"volume:{m.get('Name') or ''}"
        else:
            source = str(m.get("Source") or "")
        out.append(MountActual(kind, source, target, not bool(m.get("RW", True))))
    return tuple(sorted(out, key=lambda m: (m.target, m.source)))


def _cpus(host: Mapping[str, Any]) -> int | None:
    nano = positive_or_none(host.get("NanoCpus"))
    if nano:
        return nano
    quota, period = positive_or_none(host.get("CpuQuota")), positive_or_none(host.get("CpuPeriod"))
    if quota and period:
        return quota * NS // period
    return None


def parse_image(inspect: Mapping[str, Any]) -> ImageActual:
    """``docker image inspect`` (or an ``images`` list entry) → :class:`ImageActual`."""
    config = inspect.get("Config") or {}
    return ImageActual(
        id=str(inspect["Id"]),
        repo_digests=tuple(sorted(str(d) for d in inspect.get("RepoDigests") or ())),
        env=split_env(config.get("Env")),
        labels=_labels(config.get("Labels") if config else inspect.get("Labels")),
        cmd=_strs(config.get("Cmd")),
        entrypoint=_strs(config.get("Entrypoint")),
        healthcheck=parse_healthcheck(config.get("Healthcheck")),
        volumes=tuple(sorted(str(v) for v in (config.get("Volumes") or {}))),
    )


def parse_container(
    inspect: Mapping[str, Any], image: ImageActual | None = None
) -> ContainerActual:
    """``docker container inspect`` → :class:`ContainerActual`.

    ``image`` (the container's own image) lets anonymous volumes the image declares be left out
    of the mounts; everything else that depends on the image is the diff's business.
    """
    config: Mapping[str, Any] = inspect.get("Config") or {}
    host: Mapping[str, Any] = inspect.get("HostConfig") or {}
    state: Mapping[str, Any] = inspect.get("State") or {}
    labels = _labels(config.get("Labels"))
    security = [str(o) for o in host.get("SecurityOpt") or ()]
    nnp = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
    restart = host.get("RestartPolicy") or {}
    health = state.get("Health")
    return ContainerActual(
        id=str(inspect["Id"]),
        name=str(inspect.get("Name") or "").lstrip("/"),
        image_id=str(inspect.get("Image") or ""),
        image=str(config.get("Image") or ""),
        managed=dict(labels).get(OWNER_LABEL) == "true",
        labels=labels,
        command=_strs(config.get("Cmd")),
        entrypoint=_strs(config.get("Entrypoint")),
        env=split_env(config.get("Env")),
        user=str(config.get("User") or ""),
        read_only=bool(host.get("ReadonlyRootfs")),
        cap_drop=normalise_caps(host.get("CapDrop")),
        cap_add=normalise_caps(host.get("CapAdd")),
        no_new_privileges=any(o in nnp for o in security),
        security_opt=tuple(sorted(normalise_security_opt(o) for o in security if o not in nnp)),
        privileged=bool(host.get("Privileged")),
        ports=parse_ports(host.get("PortBindings")),
        publish_all=bool(host.get("PublishAllPorts")),
        network_mode=normalise_network(host.get("NetworkMode")),
        mounts=parse_mounts(inspect.get("Mounts"), image.volumes if image else ()),
        tmpfs=tuple(sorted((str(k), str(v)) for k, v in (host.get("Tmpfs") or {}).items())),
        memory=positive_or_none(host.get("Memory")),
        memory_swap=positive_or_none(host.get("MemorySwap")),
        nano_cpus=_cpus(host),
        pids=positive_or_none(host.get("PidsLimit")),
        restart=normalise_restart(restart.get("Name"), restart.get("MaximumRetryCount")),
        healthcheck=parse_healthcheck(config.get("Healthcheck")),
        status=str(state.get("Status") or "unknown"),
        health=str(health["Status"]) if isinstance(health, Mapping) else None,
        restart_count=int(inspect.get("RestartCount") or 0),
        started_at=parse_time(state.get("StartedAt")),
        exit_code=int(state.get("ExitCode") or 0),
        logging=parse_logging(host.get("LogConfig")),
        pid=normalise_namespace(host.get("PidMode")),
        ipc=normalise_namespace(host.get("IpcMode")),
        userns_mode=normalise_namespace(host.get("UsernsMode")),
        devices=parse_devices(host.get("Devices")),
        sysctls=tuple(sorted((str(k), str(v)) for k, v in (host.get("Sysctls") or {}).items())),
    )


def parse_actual(
    containers: Iterable[Mapping[str, Any]],
    images: Iterable[Mapping[str, Any]],
    read_at: datetime,
) -> ContainersActual:
    """All containers and images of a host → :class:`ContainersActual` (sorted by name/id)."""
    parsed_images = {i.id: i for i in (parse_image(raw) for raw in images)}
    parsed = [parse_container(raw, parsed_images.get(str(raw.get("Image")))) for raw in containers]
    return ContainersActual(
        containers=tuple(sorted(parsed, key=lambda c: c.name)),
        images=tuple(sorted(parsed_images.values(), key=lambda i: i.id)),
        read_at=read_at,
    )


__all__ = [
    "NS",
    "ContainerActual",
    "ContainersActual",
    "HealthcheckActual",
    "ImageActual",
    "LogActual",
    "MountActual",
    "PortBinding",
    "normalise_cap",
    "normalise_caps",
    "normalise_device",
    "normalise_namespace",
    "normalise_network",
    "normalise_restart",
    "normalise_security_opt",
    "parse_actual",
    "parse_container",
    "parse_devices",
    "parse_healthcheck",
    "parse_image",
    "parse_logging",
    "parse_mounts",
    "parse_ports",
    "parse_time",
    "split_env",
]
