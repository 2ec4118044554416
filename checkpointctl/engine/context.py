"""What reports show about a host beyond its run: where it stands and what it may collect.

The run and ``status`` learn these from the inventory and the desired state, not from the host,
so they are attached here once the host's result is known, and renderers need neither.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from checkpointctl.model import DataCollection, Host, HostResult
from checkpointctl.model.health import HostHealth
from checkpointctl.spec import DesiredState

LOCATION_VARS = ("location", "region")
"""Inventory variables naming a host's site, in order of preference."""

_Result = TypeVar("_Result", HostResult, HostHealth)


def location_of(host: Host) -> str | None:
    """The host's ``location`` variable, else its ``region``; None when neither is a string."""
    for name in LOCATION_VARS:
        value = host.vars.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def data_collection_of(state: DesiredState | None) -> tuple[DataCollection, ...]:
    """The collection switches ``state`` sets, one entry per container, in policy order."""
    if state is None:
        return ()
    return tuple(DataCollection(c.container, c.profile, c.settings) for c in state.collection)


def with_context(result: _Result, host: Host, state: DesiredState | None) -> _Result:
    """``result`` with the host's location and data-collection switches filled in."""
    return dataclasses.replace(
        result, location=location_of(host), data_collection=data_collection_of(state)
    )
