"""Containers as the engine reports them: ``docker inspect`` JSON → typed, normalised actual state.

Pure functions only, fed in tests with JSON recorded from the lab. Normalising here (capability
names, "default" network, 0 meaning "no limit", nanoseconds) is what lets the diff compare like
with like, so the second plan after an apply is empty instead of flapping on the engine's
spelling of the same setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from checkpointctl.model import JSONValue
from checkpointctl.model.jsondoc import (
    JSONObject,
    as_int,
    as_list,
    as_object,
    as_str,
    as_strs,
    as_text,
)
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

    def to_json(self) -> dict[str, JSONValue]:
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


def parse_logging(raw: JSONValue) -> LogActual | None:
    """``HostConfig.LogConfig`` → :class:`LogActual` (None when absent)."""
    log = as_object(raw)
    driver = as_text(log.get("Type"))
    if not driver:
        return None
    options = as_object(log.get("Config")).items()
    return LogActual(driver, tuple(sorted((str(k), str(v)) for k, v in options)))


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


def normalise_namespace(mode: JSONValue) -> str:
    """Docker's namespace modes (``PidMode``, ``IpcMode``, ``UsernsMode``): empty is private."""
    return str(mode) if mode else "private"


def parse_devices(raw: JSONValue) -> tuple[str, ...]:
    """``HostConfig.Devices`` → sorted ``host:container:permissions`` entries."""
    out: set[str] = set()
    for d in as_list(raw):
        if isinstance(d, dict):
            host = as_text(d.get("PathOnHost"))
            inside = as_text(d.get("PathInContainer"), host)
            out.add(normalise_device(f"{host}:{inside}:{as_text(d.get('CgroupPermissions'))}"))
    return tuple(sorted(out))


def positive_or_none(value: JSONValue) -> int | None:
    """The engine writes "no limit" as 0, -1 or null; all three are None here."""
    return int(value) if isinstance(value, int | float) and value > 0 else None


def split_env(entries: JSONValue) -> tuple[tuple[str, str], ...]:
    """``["K=V", ...]`` → ``(("K", "V"), ...)``; a bare ``K`` means an empty value."""
    out: dict[str, str] = {}
    for entry in as_strs(entries):
        key, _, value = entry.partition("=")
        out[key] = value
    return tuple(out.items())


def _strs(value: JSONValue) -> tuple[str, ...] | None:
    """A command (``Cmd``, ``Entrypoint``, a healthcheck's ``Test``): an array, or one string
    (the shell form); None when unset."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(as_strs(value))
    return None


def parse_healthcheck(raw: JSONValue) -> HealthcheckActual | None:
    """``Config.Healthcheck`` → :class:`HealthcheckActual`; ``["NONE"]`` or absent → None."""
    if not isinstance(raw, dict):
        return None
    test = _strs(raw.get("Test")) or ()
    if not test or test[0] == "NONE":
        return None
    return HealthcheckActual(
        test=test,
        interval_ns=as_int(raw.get("Interval")),
        timeout_ns=as_int(raw.get("Timeout")),
        retries=as_int(raw.get("Retries")),
        start_period_ns=as_int(raw.get("StartPeriod")),
    )


def _pairs(raw: JSONValue) -> tuple[tuple[str, str], ...]:
    """A JSON object of settings (labels, tmpfs, sysctls) → sorted ``(key, value)`` text pairs."""
    return tuple(sorted((k, str(v)) for k, v in as_object(raw).items()))


_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def parse_time(text: JSONValue) -> datetime | None:
    """Docker's RFC 3339 timestamps (nanoseconds, ``Z``); the zero time ``0001-…`` is None."""
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    m = _TIME_RE.match(text)
    if m is None:
        return None
    head, frac, tz = m.groups()
    stamp = head + (f".{frac[:6]:0<6}" if frac else "") + ("+00:00" if tz in (None, "Z") else tz)
    return datetime.fromisoformat(stamp)


def parse_ports(raw: JSONValue) -> tuple[PortBinding, ...]:
    """``HostConfig.PortBindings`` → sorted bindings (``0.0.0.0`` is the same as no address)."""
    out: set[PortBinding] = set()
    for key, bindings in as_object(raw).items():
        port, _, proto = key.partition("/")
        for binding in as_list(bindings) or [None]:
            b = as_object(binding)
            ip = as_text(b.get("HostIp"))
            out.add(
                PortBinding(
                    container_port=port,
                    proto=proto or "tcp",
                    host_port=as_text(b.get("HostPort")),
                    host_ip="" if ip == "0.0.0.0" else ip,  # noqa: S104 - a value, not a bind
                )
            )
    return tuple(sorted(out, key=str))


def parse_mounts(raw: JSONValue, image_volumes: Iterable[str] = ()) -> tuple[MountActual, ...]:
    """Top-level ``Mounts`` → sorted mounts, minus the anonymous volumes the image declares."""
    out: list[MountActual] = []
    declared = set(image_volumes)
    for m in as_list(raw):
        if not isinstance(m, dict):
            continue
        kind = as_text(m.get("Type"), "bind")
        target = as_text(m.get("Destination"))
        if kind == "volume":
            if target in declared:
                continue
            source = f"volume:{as_text(m.get('Name'))}"
        else:
            source = as_text(m.get("Source"))
        out.append(MountActual(kind, source, target, not bool(m.get("RW", True))))
    return tuple(sorted(out, key=lambda m: (m.target, m.source)))


def _cpus(host: JSONObject) -> int | None:
    nano = positive_or_none(host.get("NanoCpus"))
    if nano:
        return nano
    quota, period = positive_or_none(host.get("CpuQuota")), positive_or_none(host.get("CpuPeriod"))
    if quota and period:
        return quota * NS // period
    return None


def _id(doc: JSONObject) -> str:
    """The ``Id`` every engine object has.

    Raises:
        KeyError: the document has none (it is not one of the engine's objects).
    """
    return str(doc["Id"])


def parse_image(inspect: JSONObject) -> ImageActual:
    """``docker image inspect`` (or an ``images`` list entry) → :class:`ImageActual`."""
    config = as_object(inspect.get("Config"))
    return ImageActual(
        id=_id(inspect),
        repo_digests=tuple(sorted(as_strs(inspect.get("RepoDigests")))),
        env=split_env(config.get("Env")),
        labels=_pairs(config.get("Labels") if config else inspect.get("Labels")),
        cmd=_strs(config.get("Cmd")),
        entrypoint=_strs(config.get("Entrypoint")),
        healthcheck=parse_healthcheck(config.get("Healthcheck")),
        volumes=tuple(sorted(as_object(config.get("Volumes")))),
    )


def is_managed(inspect: JSONObject) -> bool:
    """Whether an inspected container carries checkpointctl's owner label."""
    labels = as_object(as_object(inspect.get("Config")).get("Labels"))
    return labels.get(OWNER_LABEL) == "true"


def parse_container(inspect: JSONObject, image: ImageActual | None = None) -> ContainerActual:
    """``docker container inspect`` → :class:`ContainerActual`.

    ``image`` (the container's own image) lets anonymous volumes the image declares be left out
    of the mounts; everything else that depends on the image is the diff's business.
    """
    config = as_object(inspect.get("Config"))
    host = as_object(inspect.get("HostConfig"))
    state = as_object(inspect.get("State"))
    labels = _pairs(config.get("Labels"))
    security = as_strs(host.get("SecurityOpt"))
    nnp = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
    restart = as_object(host.get("RestartPolicy"))
    health = state.get("Health")
    return ContainerActual(
        id=_id(inspect),
        name=as_text(inspect.get("Name")).lstrip("/"),
        image_id=as_text(inspect.get("Image")),
        image=as_text(config.get("Image")),
        managed=dict(labels).get(OWNER_LABEL) == "true",
        labels=labels,
        command=_strs(config.get("Cmd")),
        entrypoint=_strs(config.get("Entrypoint")),
        env=split_env(config.get("Env")),
        user=as_text(config.get("User")),
        read_only=bool(host.get("ReadonlyRootfs")),
        cap_drop=normalise_caps(as_strs(host.get("CapDrop"))),
        cap_add=normalise_caps(as_strs(host.get("CapAdd"))),
        no_new_privileges=any(o in nnp for o in security),
        security_opt=tuple(sorted(normalise_security_opt(o) for o in security if o not in nnp)),
        privileged=bool(host.get("Privileged")),
        ports=parse_ports(host.get("PortBindings")),
        publish_all=bool(host.get("PublishAllPorts")),
        network_mode=normalise_network(as_str(host.get("NetworkMode"))),
        mounts=parse_mounts(inspect.get("Mounts"), image.volumes if image else ()),
        tmpfs=_pairs(host.get("Tmpfs")),
        memory=positive_or_none(host.get("Memory")),
        memory_swap=positive_or_none(host.get("MemorySwap")),
        nano_cpus=_cpus(host),
        pids=positive_or_none(host.get("PidsLimit")),
        restart=normalise_restart(
            as_str(restart.get("Name")), as_int(restart.get("MaximumRetryCount"))
        ),
        healthcheck=parse_healthcheck(config.get("Healthcheck")),
        status=as_text(state.get("Status"), "unknown"),
        health=str(health["Status"]) if isinstance(health, dict) else None,
        restart_count=as_int(inspect.get("RestartCount")),
        started_at=parse_time(state.get("StartedAt")),
        exit_code=as_int(state.get("ExitCode")),
        logging=parse_logging(host.get("LogConfig")),
        pid=normalise_namespace(host.get("PidMode")),
        ipc=normalise_namespace(host.get("IpcMode")),
        userns_mode=normalise_namespace(host.get("UsernsMode")),
        devices=parse_devices(host.get("Devices")),
        sysctls=_pairs(host.get("Sysctls")),
    )


def parse_actual(
    containers: Iterable[JSONObject],
    images: Iterable[JSONObject],
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
    "is_managed",
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
