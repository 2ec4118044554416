"""A desired container in the engine's terms: ContainerSpec → Docker ``ContainerCreate`` body.

Pure. The same canonical forms (ports, caps, restart, healthcheck in nanoseconds, labels) are
what the diff compares against the parsed ``docker inspect``, so "what we send" and "what we
expect to read back" cannot drift apart. Secret env values never enter the body: they travel
beside it as :class:`Secret` and are only revealed by the thin executor that posts the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from checkpointctl.errors import ResourceError
from checkpointctl.model import REDACTED, JSONValue, Secret
from checkpointctl.resources.containers.parse import (
    NS,
    HealthcheckActual,
    LogActual,
    MountActual,
    PortBinding,
    normalise_caps,
    normalise_network,
    normalise_restart,
)
from checkpointctl.spec import CONFIG_DIGEST_LABEL, OWNER_LABEL, ContainerSpec, Healthcheck

HEALTH_TEST_KINDS = ("CMD", "CMD-SHELL", "NONE")


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """What to POST to ``/containers/create``: the JSON body and, apart, the secret env."""

    name: str
    body: dict[str, JSONValue]
    secret_env: tuple[tuple[str, Secret], ...] = ()

    def to_json(self) -> dict[str, JSONValue]:
        """For golden files and logs: secret env values appear only as ``<sensitive>``."""
        return {
            "name": self.name,
            "body": self.body,
            "secret_env": {k: REDACTED for k, _ in self.secret_env},
        }


def parse_port(text: str) -> PortBinding:
    """Docker's short syntax ``[ip:][host:]container[/proto]`` → :class:`PortBinding`.

    Raises:
        ResourceError: the text is not a port mapping.
    """
    spec, _, proto = text.strip().partition("/")
    parts = spec.rsplit(":", 2)
    if not parts[-1].isdigit() or (len(parts) > 1 and parts[-2] and not parts[-2].isdigit()):
        raise ResourceError(f"port {text!r}: expected [ip:][host:]container[/tcp|udp]")
    ip = parts[0] if len(parts) == 3 else ""
    return PortBinding(
        container_port=parts[-1],
        proto=proto or "tcp",
        host_port=parts[-2] if len(parts) > 1 else "",
        host_ip="" if ip == "0.0.0.0" else ip.strip("[]"),  # noqa: S104 - a value, not a bind
    )


def desired_ports(spec: ContainerSpec) -> tuple[PortBinding, ...]:
    return tuple(sorted({parse_port(p) for p in spec.ports}, key=str))


def desired_mounts(spec: ContainerSpec) -> tuple[MountActual, ...]:
    """Bind mounts by host path, named volumes as ``volume:<name>`` (how the parse reads them)."""
    return tuple(
        sorted(
            (
                MountActual(
                    m.kind,
                    f"volume:{m.source}" if m.kind == "volume" else m.source,
                    m.target,
                    m.read_only,
                )
                for m in spec.mounts
            ),
            key=lambda m: (m.target, m.source),
        )
    )


def desired_logging(spec: ContainerSpec) -> LogActual | None:
    """The policy's log driver and options, or None when the engine's default is fine."""
    if spec.logging is None:
        return None
    return LogActual(spec.logging.driver, tuple(sorted(spec.logging.options)))


def desired_tmpfs(spec: ContainerSpec) -> tuple[tuple[str, str], ...]:
    """``/tmp`` or ``/tmp:size=64m,mode=1777`` → sorted ``(path, options)`` pairs."""
    out: dict[str, str] = {}
    for entry in spec.tmpfs:
        path, _, options = entry.partition(":")
        out[path] = options
    return tuple(sorted(out.items()))


def desired_restart(spec: ContainerSpec) -> str:
    name, _, count = spec.restart.partition(":")
    return normalise_restart(name, int(count) if count.isdigit() else 0)


def desired_nano_cpus(spec: ContainerSpec) -> int | None:
    return round(spec.limits.cpus * NS) if spec.limits.cpus else None


def desired_healthcheck(hc: Healthcheck) -> HealthcheckActual:
    """A policy healthcheck in the engine's form (a bare command becomes ``CMD …``)."""
    test = tuple(hc.test)
    if test and test[0] not in HEALTH_TEST_KINDS:
        test = ("CMD", *test)
    return HealthcheckActual(
        test=test,
        interval_ns=round(hc.interval * NS),
        timeout_ns=round(hc.timeout * NS),
        retries=hc.retries,
        start_period_ns=round(hc.start_period * NS),
    )


def desired_labels(spec: ContainerSpec) -> dict[str, str]:
    """The policy's labels plus ours: ownership and the digest of the mounted config files."""
    labels = dict(spec.labels)
    labels[OWNER_LABEL] = "true"
    labels[CONFIG_DIGEST_LABEL] = spec.config_digest
    return labels


def _device(entry: str) -> dict[str, JSONValue]:
    host, container, permissions = entry.split(":", 2)
    return {"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": permissions}


def _restart_policy(spec: ContainerSpec) -> dict[str, JSONValue]:
    name, _, count = desired_restart(spec).partition(":")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def compile_create(spec: ContainerSpec, name: str | None = None) -> CreateRequest:
    """The ``ContainerCreate`` request for ``spec`` (under ``name``, default ``spec.name``).

    ``MemorySwap`` equals ``Memory``: a checkpoint gets no swap on top of its limit, so the limit
    means what it says and a later in-place ``update`` of the memory cannot trip over a stale
    swap limit.
    """
    plain: list[JSONValue] = []
    secrets: list[tuple[str, Secret]] = []
    for key, value in spec.env:
        if isinstance(value, Secret):
            secrets.append((key, value))
        else:
            plain.append(f"{key}={value}")
    ports = desired_ports(spec)
    bindings: dict[str, list[JSONValue]] = {}
    for p in ports:
        bindings.setdefault(f"{p.container_port}/{p.proto}", []).append(
            {"HostIp": p.host_ip, "HostPort": p.host_port}
        )
    security: list[JSONValue] = ["no-new-privileges:true"] if spec.no_new_privileges else []
    security.extend(spec.security_opt)
    host: dict[str, JSONValue] = {
        "NetworkMode": normalise_network(spec.network_mode),
        "ReadonlyRootfs": spec.read_only,
        "Privileged": spec.privileged,
        "CapDrop": list(normalise_caps(spec.cap_drop)),
        "CapAdd": list(normalise_caps(spec.cap_add)),
        "SecurityOpt": security,
        "PidMode": "" if spec.pid == "private" else spec.pid,
        "IpcMode": spec.ipc,
        "UsernsMode": "" if spec.userns_mode == "private" else spec.userns_mode,
        "Devices": [_device(d) for d in spec.devices],
        "Sysctls": dict(spec.sysctls),
        "PortBindings": dict(bindings),
        "PublishAllPorts": False,
        "Mounts": [
            {
                "Type": m.type,
                "Source": m.source.removeprefix("volume:") if m.type == "volume" else m.source,
                "Target": m.target,
                "ReadOnly": m.read_only,
            }
            for m in desired_mounts(spec)
        ],
        "Tmpfs": dict(desired_tmpfs(spec)),
        "RestartPolicy": _restart_policy(spec),
    }
    log = desired_logging(spec)
    if log is not None:
        host["LogConfig"] = {"Type": log.driver, "Config": dict(log.options)}
    if spec.limits.memory:
        host["Memory"] = spec.limits.memory
        host["MemorySwap"] = spec.limits.memory
    nano = desired_nano_cpus(spec)
    if nano:
        host["NanoCpus"] = nano
    if spec.limits.pids:
        host["PidsLimit"] = spec.limits.pids
    body: dict[str, JSONValue] = {
        "Image": spec.image.reference,
        "User": spec.user,
        "Env": plain,
        "Labels": dict(sorted(desired_labels(spec).items())),
        "ExposedPorts": {f"{p.container_port}/{p.proto}": {} for p in ports},
        "HostConfig": host,
    }
    if spec.command is not None:
        body["Cmd"] = list(spec.command)
    if spec.healthcheck is not None:
        hc = desired_healthcheck(spec.healthcheck)
        body["Healthcheck"] = {
            "Test": list(hc.test),
            "Interval": hc.interval_ns,
            "Timeout": hc.timeout_ns,
            "Retries": hc.retries,
            "StartPeriod": hc.start_period_ns,
        }
    return CreateRequest(name=name or spec.name, body=body, secret_env=tuple(secrets))


class UpdateRequest(TypedDict, total=False):
    """Keyword arguments of ``APIClient.update_container`` (see ``transport.base.DockerApi``)."""

    restart_policy: dict[str, JSONValue]
    mem_limit: int
    memswap_limit: int


def compile_update(spec: ContainerSpec) -> UpdateRequest:
    """Keyword arguments for ``APIClient.update_container``: what may change in place.

    Only the memory limit (when the policy sets one) and the restart policy: everything else
    about a container is fixed at creation and needs a replacement.
    """
    out: UpdateRequest = {"restart_policy": _restart_policy(spec)}
    if spec.limits.memory:
        out["mem_limit"] = spec.limits.memory
        out["memswap_limit"] = spec.limits.memory
    return out


__all__ = [
    "CreateRequest",
    "UpdateRequest",
    "compile_create",
    "compile_update",
    "desired_healthcheck",
    "desired_labels",
    "desired_logging",
    "desired_mounts",
    "desired_nano_cpus",
    "desired_ports",
    "desired_restart",
    "desired_tmpfs",
    "parse_port",
]
