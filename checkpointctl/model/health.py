"""Fleet health as plain typed data: what ``status`` learned about each host, and its JSON form.

The engine fills these in (``engine.status``), ``report.status`` renders them; neither needs the
other, as with plans and ``report``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from checkpointctl.model import DataCollection, JSONValue, data_collection_to_json

STATUS_FORMAT = "1.1"
_OK_RESULTS = frozenset({"converged", "in-sync", "ok", "success", "succeeded"})


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    """One checkpoint container as its host's engine reports it."""

    name: str
    state: str
    """``running``, ``exited``…, or ``missing`` when the policy wants it and it is not there."""
    health: str | None = None
    restarts: int = 0
    digest_ok: bool | None = None
    """Runs the image digest the policy pins (None: no policy for it)."""
    wanted: bool = True
    """The policy names it (False: a container of ours the policy no longer wants)."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The last apply or agent run a host recorded: when, how it ended, who."""

    time: str
    result: str
    who: str | None = None
    error: str | None = None
    healthy: bool | None = None
    """What the writer said about the outcome, when it says (the agent's ``healthy``)."""

    @property
    def ok(self) -> bool:
        return self.healthy if self.healthy is not None else self.result in _OK_RESULTS


@dataclass(frozen=True, slots=True)
class Disk:
    used_pct: int
    avail_kb: int


class FirewallState(StrEnum):
    """How the host's firewall table compares with the policy: what ``status`` judges on (the
    text beside it, :attr:`HostHealth.firewall`, is for people)."""

    UNMANAGED = "unmanaged"
    """The policy has no firewall."""
    IN_SYNC = "in-sync"
    DRIFT = "drift"
    ERROR = "error"
    """The table or the policy's host names could not be read."""


@dataclass(frozen=True, slots=True)
class HostHealth:
    """Everything ``status`` learned about one host, and the verdict."""

    host: str
    reachable: bool
    error: str | None = None
    docker: str | None = None
    """Engine version, None without an engine."""
    containers: tuple[ContainerStatus, ...] = ()
    firewall: str = "-"
    """``in sync``, ``drift: …``, ``-`` when the policy has no firewall, or ``error: …``."""
    firewall_state: FirewallState = FirewallState.UNMANAGED
    credentials: tuple[str, ...] = ()
    """Credentials expired or expiring soon, as phrases."""
    last_apply: RunRecord | None = None
    agent: RunRecord | None = None
    security_updates: int | None = None
    """Pending security updates; None when unknown (no apt, or it failed)."""
    disk: Disk | None = None
    security: tuple[str, ...] = ()
    """Managed directories that are not safe to write below (a link, a foreign owner, a
    writable mode) and files a crash left: security drift, as phrases."""
    auto_updaters: tuple[str, ...] = ()
    """Jobs that pull images behind the policy's back (``file:line pulls images (…)``)."""
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    read_errors: tuple[str, ...] = field(default=(), compare=False)
    location: str | None = None
    """The inventory's ``location`` (else ``region``) of the host, for grouping by site."""
    data_collection: tuple[DataCollection, ...] = ()
    """The data-collection switches the policies set on this host (the privacy view)."""

    @property
    def healthy(self) -> bool:
        return self.reachable and not self.problems


def _record_json(r: RunRecord | None) -> dict[str, JSONValue] | None:
    if r is None:
        return None
    return {"time": r.time, "result": r.result, "who": r.who, "error": r.error}


def host_health_json(h: HostHealth) -> dict[str, JSONValue]:
    doc: dict[str, JSONValue] = {
        "host": h.host,
        "healthy": h.healthy,
        "reachable": h.reachable,
        "error": h.error,
        "docker": h.docker,
        "containers": [
            {
                "name": c.name,
                "state": c.state,
                "health": c.health,
                "restarts": c.restarts,
                "digest_matches_policy": c.digest_ok,
                "in_policy": c.wanted,
            }
            for c in h.containers
        ],
        "firewall": h.firewall,
        "security": list(h.security),
        "credentials_expiring": list(h.credentials),
        "last_apply": _record_json(h.last_apply),
        "agent": _record_json(h.agent),
        "security_updates": h.security_updates,
        "disk": None
        if h.disk is None
        else {"used_percent": h.disk.used_pct, "available_kib": h.disk.avail_kb},
        "problems": list(h.problems),
        "warnings": list(h.warnings),
    }
    # format 1.1, optional: what the HTML page shows (by location, the privacy view); left out
    # when unknown, so a host without them is written as format 1 wrote it
    if h.location is not None:
        doc["location"] = h.location
    if h.data_collection:
        doc["data_collection"] = [data_collection_to_json(c) for c in h.data_collection]
    return doc


def fleet_json(hosts: Sequence[HostHealth]) -> dict[str, JSONValue]:
    """``{"format_version": "1.1", "healthy": bool, "summary": {...}, "hosts": [...]}``.

    Minor versions add optional fields (1.1: a host's ``location`` and ``data_collection``, as in
    run reports); a reader of 1.x ignores the fields it does not know.
    """
    healthy = sum(h.healthy for h in hosts)
    return {
        "format_version": STATUS_FORMAT,
        "healthy": healthy == len(hosts),
        "summary": {"hosts": len(hosts), "healthy": healthy, "unhealthy": len(hosts) - healthy},
        "hosts": [host_health_json(h) for h in hosts],
    }
