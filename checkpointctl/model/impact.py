"""A change to the repository, per host, as plain typed data (``gitops.impact`` computes it,
``report.impact`` renders it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class _Absent:
    """A field that one side does not have (distinct from a field set to null)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()
NONE_TEXT = "(none)"

Action = Literal["create", "update", "delete"]
HostStatus = Literal["added", "removed", "changed", "unchanged"]


@dataclass(frozen=True, slots=True)
class FieldDelta:
    """One field that differs: a value change, or items added to / removed from a list."""

    path: str
    before: object = ABSENT
    after: object = ABSENT
    added: tuple[object, ...] = ()
    removed: tuple[object, ...] = ()

    @property
    def is_items(self) -> bool:
        return bool(self.added or self.removed)


@dataclass(frozen=True, slots=True)
class ResourceDelta:
    address: str
    action: Action
    fields: tuple[FieldDelta, ...] = ()


@dataclass(frozen=True, slots=True)
class HostImpact:
    host: str
    status: HostStatus
    resources: tuple[ResourceDelta, ...] = ()


@dataclass(frozen=True, slots=True)
class ChangeGroup:
    """One change, identical on every host listed."""

    address: str
    """Resource address; empty for host-level changes (newly or no longer managed)."""
    path: str
    """Field path; empty for a whole resource created or deleted."""
    summary: str
    hosts: tuple[str, ...]

    @property
    def label(self) -> str:
        head = " ".join(p for p in (self.address, self.path) if p)
        return f"{head}: {self.summary}" if head else self.summary


@dataclass(frozen=True, slots=True)
class Impact:
    """The comparison of two revisions for a whole inventory."""

    base: str
    head: str
    inventory: str
    hosts: tuple[HostImpact, ...]
    groups: tuple[ChangeGroup, ...]
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[HostImpact, ...]:
        return tuple(h for h in self.hosts if h.status != "unchanged")

    @property
    def unchanged(self) -> tuple[str, ...]:
        return tuple(h.host for h in self.hosts if h.status == "unchanged")
