"""Hosts by location and health per location (pure; status reads the hosts for real in the
lab tests)."""

from __future__ import annotations

import pytest

from checkpointctl.errors import InventoryError
from checkpointctl.model import Host
from checkpointctl.model.health import HostHealth
from checkpointctl.model.locations import NO_LOCATION, by_location, location_health, min_healthy_of
from checkpointctl.report.status import render_locations


def host(name: str, **vars: object) -> Host:
    return Host(name, "10.0.0.1", vars=vars)


HOSTS = (
    host("cp-ams-1", location="ams"),
    host("cp-fra-1", location="fra", min_healthy=2),
    host("cp-ams-2", location="ams"),
    host("cp-fra-2", location="fra"),
    host("cp-lab"),
)


def test_hosts_group_by_location_in_inventory_order() -> None:
    groups = {k: [h.name for h in v] for k, v in by_location(HOSTS).items()}
    assert groups == {
        "ams": ["cp-ams-1", "cp-ams-2"],
        "fra": ["cp-fra-1", "cp-fra-2"],
        NO_LOCATION: ["cp-lab"],
    }


def test_min_healthy_defaults_to_one_and_the_largest_wins() -> None:
    groups = by_location(HOSTS)
    assert min_healthy_of(groups["ams"]) == 1
    assert min_healthy_of(groups["fra"]) == 2
    with pytest.raises(InventoryError, match="min_healthy must be a whole number"):
        min_healthy_of([host("x", min_healthy="two")])


def test_health_per_location_against_its_minimum() -> None:
    healths = {
        "cp-ams-1": HostHealth("cp-ams-1", reachable=True),
        "cp-ams-2": HostHealth("cp-ams-2", reachable=False, error="timeout"),
        "cp-fra-1": HostHealth("cp-fra-1", reachable=True),
        "cp-fra-2": HostHealth("cp-fra-2", reachable=True, problems=("probe: unhealthy",)),
    }
    locs = {loc.location: loc for loc in location_health(HOSTS, healths)}
    assert (locs["ams"].healthy, locs["ams"].ok) == (("cp-ams-1",), True)
    assert (locs["fra"].healthy, locs["fra"].ok) == (("cp-fra-1",), False)
    assert render_locations(list(locs.values())).splitlines()[:2] == [
        "location ams: 1 of 2 healthy (minimum 1): ok; not healthy: cp-ams-2",
        "location fra: 1 of 2 healthy (minimum 2): BELOW MINIMUM; not healthy: cp-fra-2",
    ]
