"""The step that binds one resource's read → diff → apply for the engine (resources.base).

The engine holds resources of every kind in one list and never sees their types; these tests
show that what it gets back still carries them: each planned change applies through its own
resource with its typed desired object, a batched read joins the host's batch or reads on its
own, and the actual state does not outlive the plan. The host is this machine (local transport).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest

from checkpointctl.model import Action, Change, Finding, Host, Planned
from checkpointctl.resources.base import AnyResource, Resource
from checkpointctl.resources.batched import BatchedResource, ReadPlan, read_all
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.batch import Command
from checkpointctl.transport.local import LocalTransport

HOST = Host("here", "127.0.0.1", connection="local")
DESIRED = DesiredState(host="here")


class Counter(Resource[int, int]):
    """Reads a number on its own; plans one change towards number + 1; records applies."""

    kind: ClassVar[str] = "counter"

    def __init__(self) -> None:
        self.reads = 0
        self.applied: list[int] = []

    def read(self, transport: Transport, desired: DesiredState) -> int:
        self.reads += 1
        return 41

    def diff(self, desired: DesiredState, actual: int) -> list[Planned[int]]:
        return [Planned(Change("counter/n", Action.UPDATE), actual + 1)]

    def findings(self, desired: DesiredState, actual: int) -> list[Finding]:
        return [Finding("counter/n", f"read {actual}", "info")]

    def apply(self, transport: Transport, change: Planned[int]) -> None:
        self.applied.append(change.desired)


class Echo(BatchedResource[str, str, str]):
    """Reads ``echo <word>`` through a read plan whose context is the word."""

    kind: ClassVar[str] = "echo"

    def __init__(self) -> None:
        self.applied: list[str] = []

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[str]:
        return ReadPlan((Command(("echo", "hello")),), context="hello")

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[str],
        results: Sequence[CommandResult],
    ) -> str:
        return f"{plan.context}:{results[0].text().strip()}"

    def diff(self, desired: DesiredState, actual: str) -> list[Planned[str]]:
        return [Planned(Change("echo/word", Action.CREATE), actual)]

    def findings(self, desired: DesiredState, actual: str) -> list[Finding]:
        return []

    def apply(self, transport: Transport, change: Planned[str]) -> None:
        self.applied.append(change.desired)


def test_steps_bind_each_change_to_its_own_resource_and_type() -> None:
    counter, echo = Counter(), Echo()
    kinds: list[AnyResource] = [counter, echo]
    transport = LocalTransport(HOST)
    plans = [step.plan() for step in read_all(transport, DESIRED, kinds)]
    assert [p.kind for p in plans] == ["counter", "echo"]
    assert [c.address for p in plans for c in p.plain] == ["counter/n", "echo/word"]
    assert [f.message for p in plans for f in p.findings] == ["read 41"]
    for plan in plans:
        for bound in plan.changes:
            bound.apply(transport)
    assert counter.applied == [42]
    assert echo.applied == ["hello:hello"]
    assert counter.reads == 1


def test_a_batched_step_reads_on_its_own_when_not_batched() -> None:
    step = Echo().start(DESIRED)
    step.read(LocalTransport(HOST), [])  # commands() never asked: it runs its own
    assert [c.change.address for c in step.plan().changes] == ["echo/word"]


def test_the_actual_state_does_not_outlive_the_plan() -> None:
    for resource in (Counter(), Echo()):
        step = resource.start(DESIRED)
        with pytest.raises(RuntimeError, match="planned before it was read"):
            step.plan()
        step.read(LocalTransport(HOST), [])
        step.plan()
        with pytest.raises(RuntimeError, match="planned before it was read"):
            step.plan()  # taken by the first plan


class Shout(Echo):
    """Another kind whose read needs the very same command as :class:`Echo`, and one of its own."""

    kind: ClassVar[str] = "shout"

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[str]:
        return ReadPlan((Command(("echo", "hello")), Command(("echo", "loud"))), context="shout")

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[str],
        results: Sequence[CommandResult],
    ) -> str:
        return "+".join(r.text().strip() for r in results)


class CountingTransport(LocalTransport):
    """The local transport, recording every batch it was asked to run."""

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.batches: list[list[tuple[str, ...]]] = []

    def run_many(self, commands: Sequence[Command]) -> list[CommandResult]:
        self.batches.append([c.argv for c in commands])
        return super().run_many(commands)


def test_a_command_several_kinds_need_runs_once_and_each_gets_its_answer() -> None:
    echo, shout = Echo(), Shout()
    transport = CountingTransport(HOST)
    steps = read_all(transport, DESIRED, [echo, shout])
    assert transport.batches == [[("echo", "hello"), ("echo", "loud")]]
    for step in steps:
        for bound in step.plan().changes:
            bound.apply(transport)
    assert (echo.applied, shout.applied) == (["hello:hello"], ["hello+loud"])
