"""Locations: the sites checkpoints stand in (inventory variable ``location``), as plain data.

``min_healthy`` (default 1) is how many healthy checkpoints a location must keep while it is
updated; a host or group variable, so a location sets it once for its hosts (when hosts of one
location disagree, the largest wins: the safer reading).

A monitoring location keeps measuring while at least one of its checkpoints runs, so the
vendor's advice is to update a location's checkpoints one at a time and never take down the
last healthy one. ``status`` shows health per location; the rollout (``engine.locations``)
plans by it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from checkpointctl.errors import Diagnostic, InventoryError
from checkpointctl.model import Host, JSONValue
from checkpointctl.model.health import HostHealth

NO_LOCATION = "(no location)"
DEFAULT_MIN_HEALTHY = 1


@dataclass(frozen=True, slots=True)
class LocationHealth:
    """How many of a location's checkpoints are healthy, against its minimum."""

    location: str
    hosts: tuple[str, ...]
    healthy: tuple[str, ...]
    min_healthy: int = DEFAULT_MIN_HEALTHY

    @property
    def ok(self) -> bool:
        return len(self.healthy) >= min(self.min_healthy, len(self.hosts))


def location_health_json(loc: LocationHealth) -> dict[str, JSONValue]:
    return {
        "location": loc.location,
        "hosts": list(loc.hosts),
        "healthy": list(loc.healthy),
        "min_healthy": loc.min_healthy,
        "ok": loc.ok,
    }


def location_of(host: Host) -> str:
    value = host.vars.get("location")
    return str(value) if value not in (None, "") else NO_LOCATION


def has_locations(hosts: Sequence[Host]) -> bool:
    return any(location_of(h) != NO_LOCATION for h in hosts)


def by_location(hosts: Sequence[Host]) -> dict[str, list[Host]]:
    """Hosts per location, locations and hosts in inventory order."""
    out: dict[str, list[Host]] = {}
    for host in hosts:
        out.setdefault(location_of(host), []).append(host)
    return out


def min_healthy_of(hosts: Sequence[Host]) -> int:
    """The location's ``min_healthy`` (the largest its hosts say; default 1).

    Raises:
        InventoryError: a value that is not a whole number of 0 or more.
    """
    found: list[int] = []
    for host in hosts:
        value = host.vars.get("min_healthy")
        if value is None:
            continue
        if isinstance(value, bool) or not str(value).isdigit():
            raise InventoryError(
                [
                    Diagnostic(
                        f"host {host.name}: min_healthy must be a whole number of 0 or more "
                        f"(got {value!r})"
                    )
                ]
            )
        found.append(int(str(value)))
    return max(found) if found else DEFAULT_MIN_HEALTHY


def location_health(
    hosts: Sequence[Host], healths: Mapping[str, HostHealth]
) -> list[LocationHealth]:
    """``status`` per location: which hosts are healthy, against the location's minimum."""
    out = []
    for location, members in by_location(hosts).items():
        names = tuple(h.name for h in members)
        healthy = tuple(n for n in names if n in healths and healths[n].healthy)
        out.append(LocationHealth(location, names, healthy, min_healthy_of(members)))
    return out
