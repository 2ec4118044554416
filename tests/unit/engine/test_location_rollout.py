"""The order and the decisions of a location-aware rollout, over plain functions standing for
the engine's steps (the lab story with real hosts is tests/integration/test_location_rollout.py).
"""

from __future__ import annotations

import threading

from checkpointctl.engine.location_rollout import Lane, below_minimum, run_lane, run_lanes
from checkpointctl.model import Action, Change, FailureReason, HostResult, HostStatus

REPLACE = Change("container/probe", Action.REPLACE_CREATE_FIRST)
FIREWALL = Change("firewall/checkpointctl", Action.UPDATE)


class Fleet:
    """Hosts that converge (or fail), each healthy or not, recording what happened in order."""

    def __init__(
        self,
        unhealthy: frozenset[str] = frozenset(),
        failing: dict[str, FailureReason] | None = None,
    ) -> None:
        self.unhealthy = set(unhealthy)
        self.failing = failing or {}
        self.log: list[str] = []
        self.lock = threading.Lock()

    def converge(self, host: str) -> HostResult:
        with self.lock:
            self.log.append(f"apply {host}")
        reason = self.failing.get(host)
        if reason is not None:
            return HostResult(host, HostStatus.FAILED, error="probe is unhealthy", failure=reason)
        return HostResult(host, HostStatus.CONVERGED)

    def plan(self, host: str) -> list[Change]:
        return [REPLACE]

    def healthy(self, host: str) -> bool:
        return host not in self.unhealthy

    def roll_back(self, host: str) -> None:
        with self.lock:
            self.log.append(f"rollback {host}")


def test_a_location_goes_one_host_at_a_time() -> None:
    fleet = Fleet()
    lane = Lane("ams", ("cp-1", "cp-2"), 1)
    assert run_lane(lane, fleet.converge, fleet.plan, fleet.healthy, fleet.roll_back) is None
    assert fleet.log == ["apply cp-1", "apply cp-2"]


def test_a_location_that_would_fall_below_its_minimum_stops_and_names_itself() -> None:
    fleet = Fleet(unhealthy=frozenset({"cp-2"}))
    lane = Lane("ams", ("cp-1", "cp-2", "cp-3"), 2)
    stop = run_lane(lane, fleet.converge, fleet.plan, fleet.healthy, fleet.roll_back)
    assert stop == (
        "location ams stopped before cp-1: taking it down would leave 1 of 2 other "
        "checkpoint(s) healthy, below its minimum of 2"
    )
    assert fleet.log == []  # nothing touched


def test_a_host_already_down_is_fixed_without_a_quorum() -> None:
    fleet = Fleet(unhealthy=frozenset({"cp-1", "cp-2"}))
    lane = Lane("ams", ("cp-1", "cp-2"), 1)
    assert run_lane(lane, fleet.converge, fleet.plan, fleet.healthy, fleet.roll_back) is None
    assert fleet.log == ["apply cp-1", "apply cp-2"]


def test_a_host_that_does_not_take_its_checkpoint_down_needs_no_quorum() -> None:
    fleet = Fleet(unhealthy=frozenset({"lt-2"}))
    lane = Lane("fra", ("lt-1", "lt-2"), 1)
    assert (
        run_lane(lane, fleet.converge, lambda h: [FIREWALL], fleet.healthy, fleet.roll_back) is None
    )
    assert fleet.log == ["apply lt-1", "apply lt-2"]


def test_a_failed_health_gate_rolls_the_host_back_and_stops_only_its_location() -> None:
    fleet = Fleet(failing={"cp-1": FailureReason.GATE_FAILED})
    lanes = [Lane("ams", ("cp-1", "cp-2"), 1), Lane("fra", ("cp-3", "cp-4"), 1)]
    stops = run_lanes(lanes, fleet.converge, fleet.plan, fleet.healthy, fleet.roll_back)
    assert stops == [
        "location ams stopped: cp-1 failed its health gate and was rolled back (probe is unhealthy)"
    ]
    assert [e for e in fleet.log if "cp-1" in e or "cp-2" in e] == ["apply cp-1", "rollback cp-1"]
    assert [e for e in fleet.log if "cp-3" in e or "cp-4" in e] == ["apply cp-3", "apply cp-4"]


def test_below_minimum_counts_only_the_other_hosts() -> None:
    lane = Lane("ams", ("cp-1",), 1)
    assert below_minimum(lane, "cp-1", []) is not None  # the last checkpoint of a location
    assert below_minimum(Lane("ams", ("cp-1",), 0), "cp-1", []) is None
