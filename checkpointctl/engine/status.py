"""``checkpointctl status``: is each host of the fleet healthy, and if not, why?

Per host, over one connection: reachable; the Docker engine's version; each checkpoint
container's state, health, restarts and whether it runs the image digest the policy pins; the
firewall table in sync with the policy; credentials the policy says expire soon; the last apply
(``/var/lib/checkpointctl/last-apply.json``, written by the engine) and the pull agent's last
run (``agent-status.json``), if any; and host hygiene operators are asked to watch: pending OS
security updates (``apt-get -s upgrade``, "unknown" without apt) and space on ``/``.

Everything that is read is parsed and judged by pure functions (:func:`assess` splits what was
seen into *problems*, which make the host unhealthy and ``status`` exit 1, and *warnings*,
which are shown but pass). Read errors of one part are recorded on that part, never fatal for
the host or the fleet.

Problems: unreachable; a wanted container missing, not running, unhealthy or on another image
than the policy's; firewall drift (or unreadable); an expired credential; a last apply or agent
run that failed; ``/`` at least :data:`DISK_PROBLEM_PCT` % full. Warnings: a credential expiring
within 14 days; restarts; pending security updates; ``/`` at least :data:`DISK_WARNING_PCT` %.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date

from checkpointctl.engine.context import with_context
from checkpointctl.engine.fanout import DEFAULT_FORKS, fan_out
from checkpointctl.engine.lock import RECORD_FILE
from checkpointctl.errors import CheckpointctlError
from checkpointctl.model import Host, JSONValue
from checkpointctl.model.health import (
    ContainerStatus,
    Disk,
    FirewallState,
    HostHealth,
    RunRecord,
    fleet_json,
    host_health_json,
)
from checkpointctl.model.jsondoc import JSONObject, as_text
from checkpointctl.resources.containers.parse import ContainersActual
from checkpointctl.resources.credentials.resource import EXPIRY_WARNING, days_left
from checkpointctl.resources.updaters import (
    answer,
    container_updaters,
    parse_updaters,
    read_command,
    vendor_repositories_of,
)
from checkpointctl.spec import STATE_DIR, DesiredState
from checkpointctl.transport import safepath
from checkpointctl.transport.base import Transport

LAST_APPLY_FILE = RECORD_FILE
AGENT_STATUS_FILE = f"{STATE_DIR}/agent-status.json"
DOCKER_SOCKET = "/var/run/docker.sock"
DISK_WARNING_PCT = 85
DISK_PROBLEM_PCT = 95
APT_TIMEOUT = 60.0

Connect = Callable[[Host], Transport]


# -- pure parsing ----------------------------------------------------------------------------


def parse_df(text: str) -> Disk | None:
    """``df -P /`` → use% and available KiB of ``/``."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    parts = lines[-1].split()
    if len(parts) < 6 or not parts[4].endswith("%"):
        return None
    try:
        return Disk(used_pct=int(parts[4][:-1]), avail_kb=int(parts[3]))
    except ValueError:
        return None


_SECURITY = re.compile(r"(?i)(-security|debian-security|ubuntu[^ ]*-security)")


def parse_apt_simulation(text: str) -> tuple[int, int]:
    """``apt-get -s upgrade`` → (upgrades pending, of which from a security archive)."""
    total = security = 0
    for line in text.splitlines():
        if line.startswith("Inst "):
            total += 1
            if _SECURITY.search(line):
                security += 1
    return total, security


def _first(doc: JSONObject, keys: Sequence[str]) -> str | None:
    for key in keys:
        value = doc.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def parse_run_record(raw: bytes | None, *, default_result: str = "unknown") -> RunRecord | None:
    """A JSON record (``last-apply.json``, ``agent-status.json``) → :class:`RunRecord`.

    Tolerant on purpose: the time is ``time``/``finished``/``last_run``, the result
    ``result``/``status``/``outcome``; a record without a result gets ``default_result``. A
    ``healthy`` (the pull agent's ``agent-status.json``) or ``ok`` flag decides whether the run
    counts as good; otherwise the result does (``converged``, ``in-sync``…).
    """
    if raw is None:
        return None
    try:
        doc: JSONValue = json.loads(raw)
    except ValueError:
        return RunRecord(time="?", result="unreadable")
    if not isinstance(doc, dict):
        return RunRecord(time="?", result="unreadable")
    flag = next((v for v in (doc.get("healthy"), doc.get("ok")) if isinstance(v, bool)), None)
    result = _first(doc, ("result", "status", "outcome")) or (
        ("ok" if flag else "failed") if flag is not None else default_result
    )
    return RunRecord(
        time=_first(doc, ("time", "finished", "last_run", "finished_at", "at")) or "?",
        result=result,
        who=_first(doc, ("who", "source")),
        error=_first(doc, ("error", "message")),
        healthy=flag,
    )


def container_statuses(
    desired: DesiredState | None, actual: ContainersActual
) -> tuple[ContainerStatus, ...]:
    """The policy's containers (missing ones included) and any other of ours (pure)."""
    out: list[ContainerStatus] = []
    wanted = set()
    for spec in desired.containers if desired else ():
        wanted.add(spec.name)
        c = actual.container(spec.name)
        if c is None:
            out.append(ContainerStatus(spec.name, "missing"))
            continue
        image = actual.image_with_digest(spec.image.reference)
        out.append(
            ContainerStatus(
                name=spec.name,
                state=c.status,
                health=c.health,
                restarts=c.restart_count,
                digest_ok=image is not None and image.id == c.image_id,
            )
        )
    for c in actual.containers:
        if c.managed and c.name not in wanted:
            out.append(
                ContainerStatus(c.name, c.status, c.health, c.restart_count, None, wanted=False)
            )
    return tuple(out)


def expiring_credentials(desired: DesiredState | None, today: date) -> list[tuple[str, bool]]:
    """(phrase, expired) for each credential expired or expiring within 14 days (pure)."""
    out: list[tuple[str, bool]] = []
    for spec in desired.credentials if desired else ():
        left = days_left(spec, today)
        if left is None:
            continue
        if left < 0:
            out.append((f"{spec.name} expired {-left} day(s) ago", True))
        elif left <= EXPIRY_WARNING.days:
            out.append((f"{spec.name} expires in {left} day(s)", False))
    return out


def assess(h: HostHealth, expired: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """(problems, warnings) for what was seen on a host (pure); see the module docstring."""
    problems: list[str] = []
    warnings: list[str] = []
    if not h.reachable:
        return [f"unreachable: {h.error}" if h.error else "unreachable"], []
    for c in h.containers:
        if not c.wanted:
            warnings.append(f"container {c.name} is ours but in no policy")
            continue
        if c.state != "running":
            problems.append(f"container {c.name} is {c.state}")
        elif c.health not in (None, "healthy"):
            problems.append(f"container {c.name} is {c.health}")
        if c.digest_ok is False:
            problems.append(f"container {c.name} does not run the policy's image digest")
        if c.restarts:
            warnings.append(f"container {c.name} restarted {c.restarts} time(s)")
    if h.firewall_state in (FirewallState.DRIFT, FirewallState.ERROR):
        problems.append(f"firewall {h.firewall}")
    problems.extend(f"security: {s}" for s in h.security)
    for phrase in h.credentials:
        (problems if phrase in expired else warnings).append(f"credential {phrase}")
    if h.last_apply is not None and not h.last_apply.ok:
        problems.append(f"last apply {h.last_apply.result} at {h.last_apply.time}")
    if h.agent is not None and not h.agent.ok:
        problems.append(f"pull agent's last run {h.agent.result} at {h.agent.time}")
    for updater in h.auto_updaters:
        warnings.append(f"auto-updater {updater}: it replaces the digests pinned in Git")
    if h.security_updates:
        warnings.append(f"{h.security_updates} security update(s) pending")
    if h.disk is not None:
        if h.disk.used_pct >= DISK_PROBLEM_PCT:
            problems.append(f"/ is {h.disk.used_pct}% full")
        elif h.disk.used_pct >= DISK_WARNING_PCT:
            warnings.append(f"/ is {h.disk.used_pct}% full")
    problems.extend(f"cannot read {e}" for e in h.read_errors)
    return problems, warnings


# -- reading one host -------------------------------------------------------------------------


def _docker_part(
    transport: Transport, desired: DesiredState | None
) -> tuple[str | None, tuple[ContainerStatus, ...], list[str], tuple[str, ...]]:
    """The engine's version, the containers' statuses, read errors, and the updaters running
    as containers (Watchtower, a vendor's Compose project), from one read of the containers."""
    from checkpointctl.resources.containers.resource import read_actual

    wanted = desired.containers if desired else ()
    if transport.stat(DOCKER_SOCKET) is None:
        if not wanted:
            return None, (), [], ()
        missing = tuple(ContainerStatus(c.name, "missing") for c in wanted)
        return None, missing, ["docker: the host has no Docker engine socket"], ()
    try:
        api = transport.docker().api
        version = as_text(api.version().get("Version"), "?")
        actual = read_actual(api)
        vendors = vendor_repositories_of(desired) if desired else frozenset()
        updaters = tuple(u.describe() for u in container_updaters(actual.containers, vendors))
        return version, container_statuses(desired, actual), [], updaters
    except Exception as exc:  # the engine's client raises its own types; any is "cannot read"
        return None, (), [f"docker: {exc}"], ()


def _firewall_part(transport: Transport, desired: DesiredState | None) -> tuple[FirewallState, str]:
    """How the firewall compares with the policy, and the same in words."""
    if desired is None or desired.firewall is None:
        return FirewallState.UNMANAGED, "-"
    from checkpointctl.resources.firewall.resource import FirewallResource

    resource = FirewallResource()
    try:
        changes = resource.diff(desired, resource.read(transport, desired))
    except CheckpointctlError as exc:
        return FirewallState.ERROR, f"error: {exc}"
    if not changes:
        return FirewallState.IN_SYNC, "in sync"
    fields = sum(len(c.fields) for c in changes)
    where = ", ".join(c.address for c in changes)
    return FirewallState.DRIFT, f"drift: {fields} difference(s) in {where}"


def _security_part(transport: Transport, desired: DesiredState | None) -> list[str]:
    """The managed paths' security drift (see :mod:`checkpointctl.resources.paths`)."""
    from checkpointctl.resources.paths import PathsResource

    resource = PathsResource()
    state = desired or DesiredState(host=transport.host.name)
    return [c.reason for c in resource.diff(state, resource.read(transport, state))]


def _hygiene(transport: Transport) -> tuple[int | None, Disk | None]:
    security: int | None = None
    with contextlib.suppress(CheckpointctlError):
        # a simulation only (-s), without taking dpkg's lock, at the lowest CPU priority:
        # resolving upgrades is the slowest thing status does, and the host has work to do
        apt = transport.run(
            ["nice", "-n", "19", "apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"],
            check=False,
            timeout=APT_TIMEOUT,
        )
        if apt.ok:
            security = parse_apt_simulation(apt.text())[1]
    disk = None
    with contextlib.suppress(CheckpointctlError):
        df = transport.run(["df", "-P", "/"], check=False)
        if df.ok:
            disk = parse_df(df.text())
    return security, disk


def read_host(
    host: Host,
    desired: DesiredState | None,
    connect: Connect,
    *,
    today: date,
) -> HostHealth:
    """Everything ``status`` shows for one host, judged. Never raises."""
    if host.refused is not None:  # a host checkpointctl cannot manage: no connection at all
        h = HostHealth(host.name, reachable=False, error=f"refused: {host.refused}")
        return _with_verdict(h, *assess(h))
    try:
        transport = connect(host)
    except CheckpointctlError as exc:
        h = HostHealth(host.name, reachable=False, error=exc.diagnostics())
        return _with_verdict(h, *assess(h))
    try:
        errors: list[str] = []
        docker, containers, docker_errors, in_containers = _docker_part(transport, desired)
        errors.extend(docker_errors)
        firewall_state, firewall = _firewall_part(transport, desired)
        security: list[str] = []
        try:
            security = _security_part(transport, desired)
        except CheckpointctlError as exc:
            errors.append(f"managed paths: {exc}")
        creds = expiring_credentials(desired, today)
        records: list[RunRecord | None] = []
        for path, default in ((LAST_APPLY_FILE, "converged"), (AGENT_STATUS_FILE, "unknown")):
            try:
                raw = safepath.read(transport, path)
                records.append(parse_run_record(raw, default_result=default))
            except CheckpointctlError as exc:
                errors.append(f"{path}: {exc}")
                records.append(None)
        updates, disk = _hygiene(transport)
        updaters: tuple[str, ...] = in_containers
        try:
            found = transport.run(list(read_command().argv), check=False)
            updaters += tuple(u.describe() for u in parse_updaters(answer(host.name, found)))
        except CheckpointctlError as exc:
            errors.append(f"auto-updaters: {exc}")
        seen = HostHealth(
            host=host.name,
            reachable=True,
            docker=docker,
            containers=containers,
            firewall=firewall,
            firewall_state=firewall_state,
            credentials=tuple(p for p, _ in creds),
            last_apply=records[0],
            agent=records[1],
            security_updates=updates,
            security=tuple(security),
            disk=disk,
            auto_updaters=updaters,
            read_errors=tuple(errors),
        )
        problems, warnings = assess(seen, [p for p, expired in creds if expired])
        return _with_verdict(seen, problems, warnings)
    except Exception as exc:  # a bug in one reader must not hide the rest of the fleet
        return HostHealth(
            host.name, True, f"internal error: {exc}", problems=(f"internal error: {exc}",)
        )
    finally:
        with contextlib.suppress(Exception):
            transport.close()


def _with_verdict(h: HostHealth, problems: list[str], warnings: list[str]) -> HostHealth:
    return dataclasses.replace(h, problems=tuple(problems), warnings=tuple(warnings))


def read_fleet(
    hosts: Sequence[Host],
    states: Mapping[str, DesiredState],
    connect: Connect,
    *,
    forks: int = DEFAULT_FORKS,
    today: date | None = None,
) -> list[HostHealth]:
    """:func:`read_host` for every host, ``forks`` at once, in inventory order."""
    day = today or date.today()

    def one(host: Host) -> HostHealth:
        state = states.get(host.name)
        return with_context(read_host(host, state, connect, today=day), host, state)

    return fan_out(one, hosts, forks=forks)


# -- JSON -----------------------------------------------------------------------------------


def exit_code(hosts: Sequence[HostHealth]) -> int:
    """0 when every host is healthy, else 1 (the DESIGN.md contract for ``status``)."""
    return 0 if all(h.healthy for h in hosts) else 1


__all__ = [
    "ContainerStatus",
    "Disk",
    "HostHealth",
    "RunRecord",
    "assess",
    "container_statuses",
    "exit_code",
    "expiring_credentials",
    "fleet_json",
    "host_health_json",
    "parse_apt_simulation",
    "parse_df",
    "parse_run_record",
    "read_fleet",
    "read_host",
]
