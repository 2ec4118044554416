"""Desired containers against actual ones: the plan and the findings. Pure and deterministic.

Rules that keep the second plan after an apply empty:

* the image is compared by identity: the container's image ID must be the ID of the local image
  whose ``RepoDigests`` hold the pinned ``repo@sha256:…`` (never ImageID against a manifest
  digest, which are different kinds of hash);
* what a container inherits from its image (env, labels, command, entrypoint, healthcheck) is
  expected unless the policy overrides it, so ``PATH`` from the image is not drift, but a key
  nobody asked for is;
* secret env values compare by digest and show as ``<sensitive>``; so does any env value the
  policy does not know, since it may be a secret someone added by hand.

Only containers carrying ``OWNER_LABEL="true"`` are ever planned for; others only yield findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from checkpointctl.model import (
    Action,
    Change,
    FieldChange,
    FieldValue,
    Finding,
    JSONValue,
    Planned,
    Secret,
)
from checkpointctl.resources.containers.compile import (
    desired_healthcheck,
    desired_labels,
    desired_logging,
    desired_mounts,
    desired_nano_cpus,
    desired_ports,
    desired_restart,
    desired_tmpfs,
)
from checkpointctl.resources.containers.images import ScanVerdict, gate_problem
from checkpointctl.resources.containers.parse import (
    NS,
    ContainerActual,
    ContainersActual,
    HealthcheckActual,
    ImageActual,
    PortBinding,
    normalise_caps,
    normalise_network,
)
from checkpointctl.spec import ContainerSpec, DesiredState, RegistriesSpec

KIND = "container"
RESTARTS_DEPENDANTS = "restarts_dependants"
"""The plan field of a created or replaced container that lists the dependants restarted after
it."""
IN_PLACE_FIELDS = frozenset(
    {"limits.memory", "limits.memory_swap", "restart", "state.status", "state.health"}
)
"""Fields ``docker update`` / start / restart can fix; any other difference means a replacement."""
RECENT_RESTARTS = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ContainerTarget:
    """What ``Change.desired`` carries for ``container/<name>``: all apply needs, nothing else.

    Apply re-reads the host and re-derives the work from this target (level-based), so a change
    applied twice, or after the host moved on, still ends in the desired state.
    """

    name: str
    spec: ContainerSpec | None
    """The container to converge to; None means remove (an orphan we own)."""
    registries: RegistriesSpec = field(default_factory=RegistriesSpec)
    """Trust and scan settings, checked again at apply (defence in depth)."""
    scan: ScanVerdict | None = None
    """The scan gate's verdict for ``spec.image.digest``, computed at validate time."""
    health_timeout: float = 60.0
    """Seconds a new or restarted container has to be running (and healthy, if it has a check)."""
    require_healthy: bool = True
    """When False, running is enough even if the container has a healthcheck."""
    dependants: tuple[str, ...] = ()
    """Running containers that depend on this one (``depends_on``, transitively), in start
    order: restarted after this one is created or replaced (see :func:`dependants_to_restart`)."""


def address(name: str) -> str:
    return f"{KIND}/{name}"


def _image_shown(c: ContainerActual, img: ImageActual | None, repository: str) -> str:
    """How to show the image a container runs: its digest in the same repository if known."""
    digests = img.repo_digests if img else ()
    same = [d for d in digests if d.rpartition("@")[0] == repository]
    return (same or list(digests) or [c.image_id])[0]


def _env_changes(
    spec: ContainerSpec, c: ContainerActual, img: ImageActual | None
) -> list[FieldChange]:
    actual = dict(c.env)
    inherited = dict(img.env) if img else {}
    desired = dict(spec.env)
    out: list[FieldChange] = []
    for key in sorted(set(actual) | set(desired)):
        want = desired.get(key)
        have = actual.get(key)
        if want is None:
            if have is not None and inherited.get(key) != have:
                out.append(FieldChange(f"env.{key}", Secret(have), None))
        elif isinstance(want, Secret):
            if have is None or Secret(have) != want:
                out.append(FieldChange(f"env.{key}", None if have is None else Secret(have), want))
        elif have != want:
            out.append(FieldChange(f"env.{key}", have, want))
    return out


def _label_changes(
    spec: ContainerSpec, c: ContainerActual, img: ImageActual | None
) -> list[FieldChange]:
    actual = dict(c.labels)
    inherited = dict(img.labels) if img else {}
    desired = desired_labels(spec)
    out: list[FieldChange] = []
    for key in sorted(set(actual) | set(desired)):
        want, have = desired.get(key), actual.get(key)
        if want is None and have is not None and inherited.get(key) == have:
            continue
        if want != have:
            out.append(FieldChange(f"labels.{key}", have, want))
    return out


def _hc_json(hc: HealthcheckActual | None) -> JSONValue:
    if hc is None:
        return None
    return {
        "test": list(hc.test),
        "interval": hc.interval_ns / NS,
        "timeout": hc.timeout_ns / NS,
        "retries": hc.retries,
        "start_period": hc.start_period_ns / NS,
    }


def _tuple_json(value: tuple[str, ...] | None) -> JSONValue:
    return None if value is None else list(value)


def container_fields(
    spec: ContainerSpec, c: ContainerActual, actual: ContainersActual
) -> list[FieldChange]:
    """Every difference between ``spec`` and container ``c``, in a fixed order."""
    img = actual.image(c.image_id)
    wanted = actual.image_with_digest(spec.image.reference)
    out: list[FieldChange] = []

    def cmp(path: str, have: FieldValue, want: FieldValue) -> None:
        if have != want:
            out.append(FieldChange(path, have, want))

    if wanted is None or wanted.id != c.image_id:
        out.append(
            FieldChange("image", _image_shown(c, img, spec.image.repository), spec.image.reference)
        )
    # An empty or absent command means the image's, exactly as the engine merges it at create.
    inherited_cmd = img.cmd if img else None
    cmp("command", _tuple_json(c.command), _tuple_json(spec.command or inherited_cmd))
    cmp("entrypoint", _tuple_json(c.entrypoint), _tuple_json(img.entrypoint if img else None))
    out.extend(_env_changes(spec, c, img))
    cmp("user", c.user, spec.user)
    cmp("read_only", c.read_only, spec.read_only)
    cmp("cap_drop", list(c.cap_drop), list(normalise_caps(spec.cap_drop)))
    cmp("cap_add", list(c.cap_add), list(normalise_caps(spec.cap_add)))
    cmp("no_new_privileges", c.no_new_privileges, spec.no_new_privileges)
    cmp("security_opt", list(c.security_opt), list(spec.security_opt))
    cmp("pid", c.pid, spec.pid)
    cmp("ipc", c.ipc, spec.ipc)
    cmp("userns_mode", c.userns_mode, spec.userns_mode)
    cmp("devices", list(c.devices), list(spec.devices))
    cmp("sysctls", [f"{k}={v}" for k, v in c.sysctls], [f"{k}={v}" for k, v in spec.sysctls])
    cmp("privileged", c.privileged, spec.privileged)
    cmp("ports", [str(p) for p in c.ports], [str(p) for p in desired_ports(spec)])
    cmp("publish_all_ports", c.publish_all, False)
    cmp("network_mode", c.network_mode, normalise_network(spec.network_mode))
    cmp("mounts", [str(m) for m in c.mounts], [str(m) for m in desired_mounts(spec)])
    cmp(
        "tmpfs",
        [f"{p}:{o}" if o else p for p, o in c.tmpfs],
        [f"{p}:{o}" if o else p for p, o in desired_tmpfs(spec)],
    )
    want_log = desired_logging(spec)
    if want_log is not None:  # no policy logging: whatever the engine's default is, is fine
        cmp("logging", None if c.logging is None else str(c.logging), str(want_log))
    cmp("limits.memory", c.memory, spec.limits.memory)
    if spec.limits.memory:
        cmp("limits.memory_swap", c.memory_swap, spec.limits.memory)
    want_cpus = desired_nano_cpus(spec)
    cmp(
        "limits.cpus",
        None if c.nano_cpus is None else c.nano_cpus / NS,
        None if want_cpus is None else want_cpus / NS,
    )
    cmp("limits.pids", c.pids, spec.limits.pids)
    cmp("restart", c.restart, desired_restart(spec))
    want_hc = (
        desired_healthcheck(spec.healthcheck)
        if spec.healthcheck is not None
        else (img.healthcheck if img else None)
    )
    if c.healthcheck != want_hc:
        out.append(FieldChange("healthcheck", _hc_json(c.healthcheck), _hc_json(want_hc)))
    out.extend(_label_changes(spec, c, img))
    if c.status != "running":
        out.append(FieldChange("state.status", c.status, "running"))
    elif c.health == "unhealthy":
        out.append(FieldChange("state.health", "unhealthy", "healthy"))
    return out


def _host_ports(ports: Iterable[PortBinding]) -> set[tuple[str, str]]:
    return {(p.proto, p.host_port) for p in ports if p.host_port}


def replace_action(spec: ContainerSpec, old: ContainerActual) -> Action:
    """How container ``old`` is replaced by ``spec``: create-first, so the checkpoint keeps
    running until its successor is ready, unless the old one runs publishing a host port the
    new one needs too (two containers cannot bind it at once): then destroy-first."""
    clash = old.status == "running" and _host_ports(old.ports) & _host_ports(desired_ports(spec))
    return Action.REPLACE_DESTROY_FIRST if clash else Action.REPLACE_CREATE_FIRST


def action_for(fields: list[FieldChange], spec: ContainerSpec, old: ContainerActual) -> Action:
    """``update`` when every difference can be fixed in place, else a replacement of ``old``
    (see :func:`replace_action`).

    Removing a memory limit cannot be done with ``docker update``, so it is a replacement.
    """
    for f in fields:
        if f.path not in IN_PLACE_FIELDS:
            return replace_action(spec, old)
        if f.path.startswith("limits.memory") and not spec.limits.memory:
            return replace_action(spec, old)
    return Action.UPDATE


def verdicts_of(desired: DesiredState) -> Mapping[str, ScanVerdict]:
    """Scan verdicts by digest, as the policy loader attaches them to the desired state
    (``DesiredState.scan_verdicts``); a digest without one is refused by a required gate."""
    return {
        digest: ScanVerdict(digest, ok, reason)
        for digest, (ok, reason) in desired.scan_verdicts.items()
    }


def target_for(
    desired: DesiredState,
    spec: ContainerSpec | None,
    name: str,
    verdicts: Mapping[str, ScanVerdict],
    dependants: tuple[str, ...] = (),
) -> ContainerTarget:
    return ContainerTarget(
        name=name,
        spec=spec,
        registries=desired.registries,
        scan=verdicts.get(spec.image.digest) if spec else None,
        health_timeout=desired.health.timeout,
        require_healthy=desired.health.require_healthy,
        dependants=dependants,
    )


def dependants_to_restart(
    desired: DesiredState, name: str, actual: ContainersActual, recreated: set[str]
) -> tuple[str, ...]:
    """The containers to restart after ``name`` is created or replaced, as Compose restarts a
    service's dependants when it recreates the service (``depends_on`` with ``restart: true``):
    every desired container depending on it, directly or through another, in start order, that
    runs now and is ours, except those this plan recreates anyway (``recreated``: they start
    after their dependencies by the plan's order, and restart their own dependants then)."""
    affected = {name}
    out: list[str] = []
    for spec in desired.containers:  # start order: dependencies come first
        if spec.name in recreated or not affected.intersection(spec.depends_on):
            continue
        affected.add(spec.name)
        c = actual.container(spec.name)
        if c is not None and c.managed and c.status == "running":
            out.append(spec.name)
    return tuple(out)


def plan_container(
    spec: ContainerSpec, actual: ContainersActual
) -> tuple[Action, tuple[FieldChange, ...]]:
    """The action and fields for one desired container (``NOOP`` when in sync)."""
    c = actual.container(spec.name)
    if c is None or not c.managed:
        return Action.CREATE, (FieldChange("image", None, spec.image.reference),)
    fields = container_fields(spec, c, actual)
    if not fields:
        return Action.NOOP, ()
    return action_for(fields, spec, c), tuple(fields)


_REASONS = {
    Action.CREATE: "not present",
    Action.UPDATE: "can be fixed in place",
    Action.REPLACE_CREATE_FIRST: "settings fixed at creation differ",
    Action.REPLACE_DESTROY_FIRST: "settings fixed at creation differ",
}


def diff_containers(
    desired: DesiredState, actual: ContainersActual
) -> list[Planned[ContainerTarget]]:
    """The plan: desired containers in policy order, then orphans by name."""
    verdicts = verdicts_of(desired)
    changes: list[Planned[ContainerTarget]] = []
    wanted = {s.name for s in desired.containers}
    planned = [(spec, *plan_container(spec, actual)) for spec in desired.containers]
    recreated = {s.name for s, action, _ in planned if action is Action.CREATE or action.is_replace}
    for spec, action, fields in planned:
        if action is Action.NOOP:
            continue
        dependants: tuple[str, ...] = ()
        if spec.name in recreated:
            dependants = dependants_to_restart(desired, spec.name, actual, recreated)
        if dependants:
            fields = (*fields, FieldChange(RESTARTS_DEPENDANTS, None, list(dependants)))
        change = Change(
            address=address(spec.name),
            action=action,
            fields=fields,
            reason=_REASONS[action] + ("; then restarts its dependants" if dependants else ""),
            source=desired.source(f"containers.{spec.name}"),
        )
        target = target_for(desired, spec, spec.name, verdicts, dependants)
        changes.append(Planned(change, target))
    for c in actual.containers:
        if c.managed and c.name not in wanted:
            orphan = Change(
                address=address(c.name),
                action=Action.DELETE,
                fields=(FieldChange("image", c.image, None),),
                reason="managed by checkpointctl but in no policy (orphan)",
            )
            changes.append(Planned(orphan, target_for(desired, None, c.name, verdicts)))
    return changes


def _publishes(c: ContainerActual) -> list[str]:
    out = []
    for p in c.ports:
        where = f"{p.proto}/{p.host_port}" if p.host_port else f"{p.proto}/<random port>"
        out.append(f"{where} on {p.host_ip}" if p.host_ip else where)
    return out


def container_findings(desired: DesiredState, actual: ContainersActual) -> list[Finding]:
    """What deserves a person's attention but will not be changed, in a fixed order."""
    out: list[Finding] = []
    wanted = {s.name for s in desired.containers}
    verdicts = verdicts_of(desired)
    for spec in desired.containers:
        problem = gate_problem(spec.image, desired.registries, verdicts.get(spec.image.digest))
        if problem:
            out.append(Finding(address(spec.name), f"will not roll out: {problem}", "error"))
    for c in actual.containers:
        if not c.managed:
            for where in _publishes(c):
                out.append(
                    Finding(
                        address(c.name),
                        f"container {c.name} (not managed) publishes {where} → an inbound "
                        "opening the policy did not ask for",
                    )
                )
            if c.publish_all:
                out.append(
                    Finding(
                        address(c.name),
                        f"container {c.name} (not managed) publishes all its exposed ports → "
                        "inbound openings the policy did not ask for",
                    )
                )
            if c.network_mode == "host":
                out.append(
                    Finding(
                        address(c.name),
                        f"container {c.name} (not managed) uses the host network → any port it "
                        "listens on is an inbound opening the policy did not ask for",
                    )
                )
            if c.name in wanted:
                out.append(
                    Finding(
                        address(c.name),
                        f"a container named {c.name} exists without checkpointctl's label; it "
                        "will not be touched, so the desired one cannot be created: remove or "
                        "rename it",
                        "error",
                    )
                )
        elif c.restart_count > 0 and (
            c.started_at is None or actual.read_at - c.started_at <= RECENT_RESTARTS
        ):
            since = c.started_at.isoformat(timespec="seconds") if c.started_at else "unknown"
            out.append(
                Finding(
                    address(c.name),
                    f"container {c.name} restarted {c.restart_count} time(s) (last start {since})",
                )
            )
    return out


__all__ = [
    "IN_PLACE_FIELDS",
    "KIND",
    "RESTARTS_DEPENDANTS",
    "ContainerTarget",
    "action_for",
    "address",
    "container_fields",
    "container_findings",
    "dependants_to_restart",
    "diff_containers",
    "plan_container",
    "replace_action",
    "target_for",
    "verdicts_of",
]
