"""``drift --watch``: the loop, the interval parser, and connections kept between cycles.

Hosts are this machine over the local transport, wrapped so a test can count connects and
"break" a connection; the resource reads a file per host through a batched read plan (the same
path the engine uses for real resources), so a cycle sees a change made between cycles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from checkpointctl.engine.run import ApplyOptions, run_fleet
from checkpointctl.engine.watch import Cycle, watch
from checkpointctl.model import (
    Action,
    Change,
    FieldChange,
    Finding,
    Host,
    HostStatus,
    Planned,
    RunReport,
)
from checkpointctl.model.provenance import DriftOrigin
from checkpointctl.resources.batched import BatchedResource, ReadPlan, read_all
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.batch import Command
from checkpointctl.transport.local import LocalTransport
from checkpointctl.transport.pool import ConnectionPool, PooledTransport, is_alive

HOSTS = [Host(f"h{i}", "127.0.0.1", connection="local") for i in range(1, 4)]
STATES = {h.name: DesiredState(host=h.name) for h in HOSTS}


class Breakable(LocalTransport):
    """The local transport with a connection that can die (``alive`` is what the pool asks)."""

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.up = True
        self.closed = False

    def alive(self) -> bool:
        return self.up

    def close(self) -> None:
        self.closed = True
        super().close()


class Counting:
    def __init__(self) -> None:
        self.made: list[Breakable] = []

    def __call__(self, host: Host) -> Transport:
        t = Breakable(host)
        self.made.append(t)
        return t


class FileValue(BatchedResource[None, str | None, None]):
    """Each host's file must hold "ok"; read with ``cat`` through a read plan."""

    kind: ClassVar[str] = "file"

    def __init__(self, root: Path) -> None:
        self.root = root

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[None]:
        return ReadPlan((Command(("cat", str(self.root / desired.host))),), context=None)

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[None],
        results: Sequence[CommandResult],
    ) -> str | None:
        return results[0].text() if results[0].ok else None

    def diff(self, desired: DesiredState, actual: str | None) -> list[Planned[None]]:
        if actual == "ok":
            return []
        change = Change(f"file/{desired.host}", Action.UPDATE, (FieldChange("v", actual, "ok"),))
        return [Planned(change, None)]

    def findings(self, desired: DesiredState, actual: str | None) -> list[Finding]:
        return []

    def apply(self, transport: Transport, change: Planned[None]) -> None:
        raise AssertionError("drift never applies")


def test_watch_runs_cycles_interval_apart() -> None:
    now = [100.0]
    slept: list[float] = []
    seen: list[Cycle] = []
    reports = [RunReport("drift", ()), RunReport("drift", ()), RunReport("drift", ())]

    def cycle() -> RunReport:
        now[0] += 2.0  # every cycle takes 2 s
        return reports[len(seen)]

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    last = watch(
        cycle, interval=5.0, cycles=3, on_cycle=seen.append, clock=lambda: now[0], sleep=sleep
    )
    assert last is reports[2]
    assert [c.number for c in seen] == [1, 2, 3]
    assert [c.seconds for c in seen] == [2.0, 2.0, 2.0]
    assert slept == [3.0, 3.0]  # no sleep after the last cycle


def test_a_slow_cycle_is_followed_at_once() -> None:
    now = [0.0]
    slept: list[float] = []

    def cycle() -> RunReport:
        now[0] += 9.0
        return RunReport("drift", ())

    watch(
        cycle,
        interval=5.0,
        cycles=2,
        on_cycle=lambda c: None,
        clock=lambda: now[0],
        sleep=slept.append,
    )
    assert slept == [0.0]


def test_steady_cycles_reuse_connections_and_see_changes(tmp_path: Path) -> None:
    for h in HOSTS:
        (tmp_path / h.name).write_text("ok")
    made = Counting()
    pool = ConnectionPool(made)
    resource = FileValue(tmp_path)

    def cycle() -> RunReport:
        return run_fleet(HOSTS, STATES, "drift", pool.connect, resources=[resource])

    first = cycle()
    assert [h.status for h in first.hosts] == [HostStatus.IN_SYNC] * 3
    assert pool.connects == 3
    (tmp_path / "h2").write_text("changed")
    second = cycle()
    assert pool.connects == 3  # nothing reconnected
    assert {h.host: h.status for h in second.hosts}["h2"] is HostStatus.DRIFT
    assert not any(t.closed for t in made.made)

    made.made[0].up = False  # h1's connection dies between cycles
    third = cycle()
    assert pool.connects == 4
    assert made.made[0].closed
    assert made.made[3].host.name == "h1"
    assert [h.status for h in third.hosts].count(HostStatus.IN_SYNC) == 2
    pool.close()
    assert all(t.closed for t in made.made)


def test_a_connection_dead_on_return_is_closed_not_kept() -> None:
    made = Counting()
    pool = ConnectionPool(made)
    loan = pool.connect(HOSTS[0])
    assert isinstance(loan, PooledTransport)
    made.made[0].up = False
    loan.close()
    assert made.made[0].closed
    loan.close()  # twice is harmless
    pool.connect(HOSTS[0])
    assert pool.connects == 2


def test_pooled_transport_batches_like_the_real_one(tmp_path: Path) -> None:
    (tmp_path / "h1").write_text("ok")
    pool = ConnectionPool(Counting())
    loan = pool.connect(HOSTS[0])
    [step] = read_all(loan, STATES["h1"], [FileValue(tmp_path)])
    assert step.kind == "file"
    assert step.plan().plain == ()  # it read "ok"
    assert loan.run(["echo", "x"]).stdout == b"x\n"
    assert is_alive(loan) is True  # no alive(): treated as alive


def test_drift_carries_fail_on_from_the_options_the_same_for_every_cycle(tmp_path: Path) -> None:
    for h in HOSTS:
        (tmp_path / h.name).write_text("changed")
    pending = frozenset({DriftOrigin.PENDING})
    options = ApplyOptions(fail_on=pending)
    resource = FileValue(tmp_path)

    def cycle() -> RunReport:
        return run_fleet(HOSTS, STATES, "drift", LocalTransport, resources=[resource],
                         options=options)  # fmt: skip

    plain = run_fleet(HOSTS, STATES, "drift", LocalTransport, resources=[resource])
    assert plain.fail_on is None
    assert plain.exit_code == 2
    last = watch(cycle, interval=0.0, cycles=2, on_cycle=lambda c: None, sleep=lambda s: None)
    assert last.fail_on == pending
    applied = run_fleet(HOSTS, STATES, "check", LocalTransport, resources=[resource],
                        options=options)  # fmt: skip
    assert applied.fail_on is None  # only drift reports are judged by class
