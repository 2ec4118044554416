"""Locations: the sites checkpoints stand in (inventory variable ``location``), as plain data.

A monitoring location keeps measuring while at least one of its checkpoints runs, so the
vendor's advice is to update a location's checkpoints one at a time and never take down the
last healthy one. ``status`` shows health per location; the rollout (``engine.locations``)
plans by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from checkpointctl.model import JSONValue

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
