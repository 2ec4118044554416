"""The loaded inventory: hosts ready to connect to, group membership, and the group tree."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from checkpointctl.errors import Diagnostic, InventoryError
from checkpointctl.inventory.patterns import match_pattern
from checkpointctl.model import Host
from checkpointctl.model.access import with_default_config_file


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

    def with_ssh_config(self, path: str, *, given_by: str = "ssh_config") -> Inventory:
        """This inventory with ``path`` as the ssh_config file (``ssh -F``) of every host whose
        inventory names none; a host's own (``-F`` in ``ansible_ssh_common_args``, or
        ``ssh_config_file``) wins. The path is made absolute here, so it means what it meant
        where the command was given; ``given_by`` names where it came from in the error.

        Raises:
            InventoryError: there is no such file.
        """
        full = os.path.abspath(os.path.expanduser(path))
        if not os.path.isfile(full):
            raise InventoryError([Diagnostic(f"{given_by}: ssh_config file {full} does not exist")])
        return dataclasses.replace(
            self, hosts=tuple(with_default_config_file(h, full) for h in self.hosts)
        )
