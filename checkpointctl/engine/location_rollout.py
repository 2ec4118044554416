"""Location-aware rollouts: one host at a time per location, locations in parallel.

A monitoring location keeps measuring while one of its checkpoints runs, so apply, when hosts
carry a ``location``, rolls each location as its own lane: hosts one at a time (the first is
the location's canary), each through the health gate before the next starts. Before a host
whose plan takes its healthy checkpoint down (a container replaced or removed), the location's
other hosts are read: if fewer than ``min_healthy`` of them are healthy right now, the lane
stops there, names the location, and leaves its remaining hosts untouched. A host that fails
(its apply, or its health gate, in which case it is rolled back to its previous images at
once) stops its lane the same way. Other locations go on: a bad site never blocks a good one.

The engine's own steps come in as functions (converge a host, plan it, read a host's health,
roll it back), so this module holds only the order and the decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from checkpointctl.engine.fanout import fan_out
from checkpointctl.model import Action, Change, FailureReason, HostResult, HostStatus

Converge = Callable[[str], HostResult]
"""Apply one host (lock, converge, verify, health gate, record): its result."""
Plan = Callable[[str], Sequence[Change]]
"""What apply would change on one host now (a check-mode plan)."""
Healthy = Callable[[str], bool]
"""Whether one host's checkpoint containers run healthy right now (no waiting)."""
RollBack = Callable[[str], None]

_BAD = frozenset({HostStatus.FAILED, HostStatus.UNREACHABLE})


@dataclass(frozen=True, slots=True)
class Lane:
    """One location's hosts, in rollout order, and how many must stay healthy."""

    location: str
    hosts: tuple[str, ...]
    min_healthy: int


def takes_down(changes: Sequence[Change]) -> bool:
    """Whether applying ``changes`` stops a checkpoint container for a while."""
    return any(
        c.kind == "container" and (c.action.is_replace or c.action is Action.DELETE)
        for c in changes
    )


def below_minimum(lane: Lane, host: str, healthy_others: Sequence[str]) -> str | None:
    """Why taking ``host`` down now would leave ``lane`` below its minimum, or None (pure)."""
    if len(healthy_others) >= lane.min_healthy:
        return None
    others = len(lane.hosts) - 1
    return (
        f"location {lane.location} stopped before {host}: taking it down would leave "
        f"{len(healthy_others)} of {others} other checkpoint(s) healthy, below its minimum of "
        f"{lane.min_healthy}"
    )


def run_lane(
    lane: Lane, converge: Converge, plan: Plan, healthy: Healthy, roll_back: RollBack
) -> str | None:
    """Roll one location; the reason it stopped early, or None when every host went."""
    for host in lane.hosts:
        # a host whose checkpoint is down already loses the location nothing: fixing it is
        # how a location gets back above its minimum
        if takes_down(plan(host)) and healthy(host):
            up = [h for h in lane.hosts if h != host and healthy(h)]
            stop = below_minimum(lane, host, up)
            if stop:
                return stop
        result = converge(host)
        if result.status in _BAD:
            if result.failure is FailureReason.GATE_FAILED:
                roll_back(host)
                why = f"{host} failed its health gate and was rolled back"
            else:
                why = f"{host} failed"
            detail = f" ({result.error})" if result.error else ""
            return f"location {lane.location} stopped: {why}{detail}"
    return None


def run_lanes(
    lanes: Sequence[Lane],
    converge: Converge,
    plan: Plan,
    healthy: Healthy,
    roll_back: RollBack,
) -> list[str]:
    """Every location in parallel; the reasons of the lanes that stopped, in lane order."""
    if not lanes:
        return []
    stops = fan_out(
        lambda lane: run_lane(lane, converge, plan, healthy, roll_back), lanes, forks=len(lanes)
    )
    return [s for s in stops if s]
