"""The loaded inventory: hosts ready to connect to, group membership, and the group tree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from checkpointctl.errors import Diagnostic, InventoryError
from checkpointctl.inventory.patterns import match_pattern
from checkpointctl.model import Host


@dataclass(frozen=True)
class GroupNode:
    """A group's direct hosts and child groups, in the order the sources gave them (what
    ``ansible-inventory --list`` prints)."""

    hosts: tuple[str, ...] = ()
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """Hosts in inventory order, and each group's member host names (transitively)."""

    hosts: tuple[Host, ...]
    groups: Mapping[str, frozenset[str]]
    path: str = ""
    tree: Mapping[str, GroupNode] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise InventoryError([Diagnostic(f"no host named {name!r} in the inventory")])

    def select(self, pattern: str | None) -> tuple[Host, ...]:
        """Hosts matching an Ansible-style pattern (None or empty = all), in inventory order."""
        if not pattern:
            return self.hosts
        names = match_pattern(pattern, [h.name for h in self.hosts], self.groups)
        if not names:
            raise InventoryError([Diagnostic(f"--limit {pattern!r} matches no host")])
        return tuple(h for h in self.hosts if h.name in names)
