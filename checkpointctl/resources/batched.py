"""Reads in one round trip: resources that say which commands their read needs, ahead of time.

A resource's ``read`` is thin I/O plus a pure parse. Most of that I/O is a few fixed commands
whose argv depends only on the desired state, so a resource may split its read in two:
``read_plan`` (pure: the commands, and whatever the parse will need, such as a one-time key) and
``read_finish`` (parse their results; rarely, a follow-up read that depends on them). The engine
then sends the commands of *every* resource of a host in one
:func:`~checkpointctl.transport.batch.run_many`, which the SSH transport runs in a single
session: one round trip for all reads of a host instead of one per command.

A resource's own ``read`` is the same two steps, so there is one code path whether or not the
engine batches it; resources without a plan are read on their own, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from checkpointctl.model import Host
from checkpointctl.resources.base import (
    ActualT,
    AnyResource,
    DesiredT,
    HostStep,
    KindPlan,
    Resource,
    plan_of,
    take_actual,
)
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.batch import Command, run_many

ContextT = TypeVar("ContextT")


@dataclass(frozen=True, slots=True)
class ReadPlan(Generic[ContextT]):
    """The commands a read needs, and what its parse needs besides their results (``context``:
    a one-time key, the files wanted...; None when the parse needs nothing more)."""

    commands: tuple[Command, ...] = ()
    context: ContextT = field(kw_only=True)


class BatchedResource(Resource[DesiredT, ActualT], Protocol[DesiredT, ActualT, ContextT]):
    """A resource whose read is a :class:`ReadPlan` and a parse of its results.

    A kind subclasses ``BatchedResource[ItsDesired, ItsActual, ItsContext]`` to inherit
    :meth:`read` (the two steps in a row) and a :meth:`start` whose commands join the host's
    batch.
    """

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[ContextT]:
        """The commands to run for ``desired`` on ``host`` (pure: no I/O).

        Raises:
            ResourceError: the desired state cannot be read safely (checked before any I/O).
        """
        ...

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[ContextT],
        results: Sequence[CommandResult],
    ) -> ActualT:
        """The actual state from the plan's results (one per command, unchecked), plus any
        follow-up read that depends on them."""
        ...

    def read(self, transport: Transport, desired: DesiredState) -> ActualT:
        """The read plan's commands in one batch, then its parse."""
        plan = self.read_plan(transport.host, desired)
        return self.read_finish(transport, desired, plan, run_many(transport, plan.commands))

    def start(self, desired: DesiredState) -> HostStep:
        return BatchedStep(self, desired)


class BatchedStep(Generic[DesiredT, ActualT, ContextT]):
    """The step of a :class:`BatchedResource`: its commands join the host's batch."""

    def __init__(
        self, resource: BatchedResource[DesiredT, ActualT, ContextT], desired: DesiredState
    ) -> None:
        self._resource = resource
        self._desired = desired
        self._plan: ReadPlan[ContextT] | None = None
        self._actual: list[ActualT] = []

    @property
    def kind(self) -> str:
        return self._resource.kind

    def commands(self, host: Host) -> tuple[Command, ...]:
        self._plan = self._resource.read_plan(host, self._desired)
        return self._plan.commands

    def read(self, transport: Transport, results: Sequence[CommandResult]) -> None:
        plan = self._plan
        if plan is None:  # read on its own
            plan = self._resource.read_plan(transport.host, self._desired)
            results = run_many(transport, plan.commands)
        self._plan = None
        self._actual = [self._resource.read_finish(transport, self._desired, plan, results)]

    def plan(self) -> KindPlan:
        return plan_of(self._resource, self._desired, take_actual(self.kind, self._actual))


def read_all(
    transport: Transport, desired: DesiredState, resources: Sequence[AnyResource]
) -> list[HostStep]:
    """Every resource's step on this host, read, in order, with the commands of all their
    plans in one :func:`run_many` (resources without a plan are read on their own, in turn).

    A command that several resources need (the same argv and stdin: "is there a Docker
    socket?" for containers, networks and volumes) runs once and each of them gets its result:
    they are reads of the same moment, so one answer is the answer for all.

    Raises:
        CheckpointctlError: as the resources' reads do; the first failure in resource order.
    """
    steps = [r.start(desired) for r in resources]
    commands = [s.commands(transport.host) for s in steps]
    wanted = [c for mine in commands for c in mine]
    once = list(dict.fromkeys(wanted))
    answers = dict(zip(once, run_many(transport, once), strict=True))
    results = [answers[c] for c in wanted]
    start = 0
    for step, mine in zip(steps, commands, strict=True):
        step.read(transport, results[start : start + len(mine)])
        start += len(mine)
    return steps
