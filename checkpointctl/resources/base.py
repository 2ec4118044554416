"""The resource contract, typed end to end.

A resource owns one coarse slice of a host's state (all containers, one nftables table, the
credential files, the collection files). ``read`` is thin I/O plus a pure parse; ``diff`` is
pure and deterministic; ``apply`` executes one change atomically. Because read and diff have no
side effects, ``drift`` is simply ``apply`` without the last step, for every resource.

:class:`Resource` is generic over what a kind plans towards (``Desired``, carried by each
:class:`~checkpointctl.model.Planned` change) and what it reads (``Actual``), so the type checker
sees that ``diff`` gets what ``read`` returned and ``apply`` what ``diff`` planned. The engine
holds resources of every kind in one list, so it never sees those types: it asks each resource
for a :class:`HostStep` (``start``), which binds read → diff → apply for one host and hands back
the plain :class:`~checkpointctl.model.Change` of each planned change with its apply bound to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Protocol, TypeVar

from checkpointctl.model import Change, Finding, Host, Planned
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.batch import Command

DesiredT = TypeVar("DesiredT")
ActualT = TypeVar("ActualT")


class Resource(Protocol[DesiredT, ActualT]):
    """A kind of host state. Implementations are stateless; all state is passed in.

    A kind subclasses ``Resource[ItsDesired, ItsActual]`` to inherit :meth:`start`.
    """

    kind: ClassVar[str]

    def read(self, transport: Transport, desired: DesiredState) -> ActualT:
        """Read the actual state relevant to ``desired`` (no side effects)."""
        ...

    def diff(self, desired: DesiredState, actual: ActualT) -> list[Planned[DesiredT]]:
        """Changes that turn ``actual`` into ``desired``; pure, deterministic order."""
        ...

    def findings(self, desired: DesiredState, actual: ActualT) -> list[Finding]:
        """Observations to report that the resource will not change (may be empty)."""
        ...

    def apply(self, transport: Transport, change: Planned[DesiredT]) -> None:
        """Make one change real, atomically for its address."""
        ...

    def start(self, desired: DesiredState) -> HostStep:
        """This resource's step on one host, towards ``desired`` (reads on its own)."""
        return ReadingStep(self, desired)


class AnyResource(Protocol):
    """A resource as the engine holds it, whatever its desired and actual types."""

    @property
    def kind(self) -> str: ...

    def start(self, desired: DesiredState) -> HostStep: ...


class Applicable(Protocol):
    """One planned change with its resource's apply bound to it."""

    @property
    def change(self) -> Change: ...

    def apply(self, transport: Transport) -> None:
        """Make the change real (the resource's ``apply`` with its typed desired object)."""
        ...


@dataclass(frozen=True, slots=True)
class BoundChange(Generic[DesiredT]):
    """A :class:`~checkpointctl.model.Planned` change and the apply of the resource that
    planned it: what the engine applies without knowing the desired type."""

    planned: Planned[DesiredT]
    apply_with: Callable[[Transport, Planned[DesiredT]], None] = field(repr=False, compare=False)

    @property
    def change(self) -> Change:
        return self.planned.change

    def apply(self, transport: Transport) -> None:
        self.apply_with(transport, self.planned)


@dataclass(frozen=True, slots=True)
class KindPlan:
    """What one resource plans for one host: its changes (in apply order) and findings."""

    kind: str
    changes: tuple[Applicable, ...]
    findings: tuple[Finding, ...]

    @property
    def plain(self) -> tuple[Change, ...]:
        return tuple(c.change for c in self.changes)


class HostStep(Protocol):
    """One resource on one host: its read (which may join the host's batch of commands), then
    its plan. The actual state lives only between :meth:`read` and :meth:`plan`."""

    @property
    def kind(self) -> str: ...

    def commands(self, host: Host) -> tuple[Command, ...]:
        """The commands of this read the engine may run in one batch with the others' (pure);
        empty for a resource that reads on its own."""
        ...

    def read(self, transport: Transport, results: Sequence[CommandResult]) -> None:
        """Read the actual state, given the results of :meth:`commands` (one per command)."""
        ...

    def plan(self) -> KindPlan:
        """Diff and findings of what :meth:`read` found; the actual state is dropped."""
        ...


def plan_of(
    resource: Resource[DesiredT, ActualT], desired: DesiredState, actual: ActualT
) -> KindPlan:
    """Diff and findings of ``actual`` towards ``desired``, each change bound to its apply."""
    return KindPlan(
        resource.kind,
        tuple(BoundChange(p, resource.apply) for p in resource.diff(desired, actual)),
        tuple(resource.findings(desired, actual)),
    )


class ReadingStep(Generic[DesiredT, ActualT]):
    """The step of a resource that reads on its own (:meth:`Resource.read`)."""

    def __init__(self, resource: Resource[DesiredT, ActualT], desired: DesiredState) -> None:
        self._resource = resource
        self._desired = desired
        self._actual: list[ActualT] = []  # what read() found, until plan() takes it

    @property
    def kind(self) -> str:
        return self._resource.kind

    def commands(self, host: Host) -> tuple[Command, ...]:
        return ()

    def read(self, transport: Transport, results: Sequence[CommandResult]) -> None:
        self._actual = [self._resource.read(transport, self._desired)]

    def plan(self) -> KindPlan:
        return plan_of(self._resource, self._desired, take_actual(self.kind, self._actual))


def take_actual(kind: str, held: list[ActualT]) -> ActualT:
    """The actual state a step's read left in ``held``, removed from it (memory stays per
    resource: the plan outlives the read, the actual state does not)."""
    if not held:
        raise RuntimeError(f"{kind}: a step was planned before it was read")
    return held.pop()
