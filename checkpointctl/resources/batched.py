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
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from checkpointctl.model import Host
from checkpointctl.resources.base import Resource
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.batch import Command, run_many


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The commands a read needs, and what its parse needs besides their results."""

    commands: tuple[Command, ...] = ()
    context: object = None


@runtime_checkable
class BatchedRead(Protocol):
    """A resource whose read is a :class:`ReadPlan` and a parse of its results."""

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan:
        """The commands to run for ``desired`` on ``host`` (pure: no I/O).

        Raises:
            ResourceError: the desired state cannot be read safely (checked before any I/O).
        """
        ...

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan,
        results: Sequence[CommandResult],
    ) -> object:
        """The actual state from the plan's results (one per command, unchecked), plus any
        follow-up read that depends on them."""
        ...


def read_batched(resource: BatchedRead, transport: Transport, desired: DesiredState) -> object:
    """``read`` for a resource with a plan: its commands in one batch, then its parse."""
    plan = resource.read_plan(transport.host, desired)
    return resource.read_finish(transport, desired, plan, run_many(transport, plan.commands))


def read_all(
    transport: Transport, desired: DesiredState, resources: Sequence[Resource]
) -> list[object]:
    """Every resource's actual state, in order, with the commands of all their plans in one
    :func:`run_many` (resources without a plan are read on their own, in turn).

    Raises:
        CheckpointctlError: as the resources' reads do; the first failure in resource order.
    """
    plans: dict[int, ReadPlan] = {}
    for i, resource in enumerate(resources):
        if isinstance(resource, BatchedRead):
            plans[i] = resource.read_plan(transport.host, desired)
    results = run_many(transport, [c for p in plans.values() for c in p.commands])
    out: list[object] = []
    start = 0
    for i, resource in enumerate(resources):
        plan = plans.get(i)
        if plan is None:
            out.append(resource.read(transport, desired))
            continue
        mine = results[start : start + len(plan.commands)]
        start += len(plan.commands)
        assert isinstance(resource, BatchedRead)
        out.append(resource.read_finish(transport, desired, plan, mine))
    return out
