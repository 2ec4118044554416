"""The inventory as sources build it: groups (vars, children, direct hosts) and hosts.

Every source (YAML, INI, dynamic script, ``--list`` JSON) adds to one :class:`InventoryData`,
in the order the sources were given, with the operations Ansible's own inventory offers (add
a group, add a host to a group, make a group a child, set a variable), so several ``-i`` merge
as they do in Ansible: later sources add members and overwrite variables of the same name.
:meth:`InventoryData.reconcile` then applies Ansible's rules for ``all`` and ``ungrouped``.

A group's *depth* is the longest path from ``all``; it orders group variables (deeper groups
win). A child that is already an ancestor of its new parent would make a loop: that is an
error naming both groups and where the edge was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from checkpointctl.errors import Diagnostic, InventoryError, Location


def merge_hash(low: dict[str, object], high: dict[str, object]) -> dict[str, object]:
    """``high`` merged into ``low`` recursively (dictionaries merge, anything else, lists
    included, is replaced): Ansible's ``hash_behaviour = merge``. Neither is changed."""
    merged = dict(low)
    for key, value in high.items():
        below = merged.get(key)
        if isinstance(below, dict) and isinstance(value, dict):
            merged[key] = merge_hash(below, value)
        else:
            merged[key] = value
    return merged


def combine(
    low: dict[str, object], high: dict[str, object], merge_hashes: bool
) -> dict[str, object]:
    """``high`` over ``low``: replacing values of the same name, or merging dictionaries
    (``merge_hashes``, see :func:`merge_hash`)."""
    return merge_hash(low, high) if merge_hashes else {**low, **high}


ALL = "all"
UNGROUPED = "ungrouped"
PRIORITY_VAR = "ansible_group_priority"


@dataclass
class GroupData:
    """One group: its own variables, children and direct hosts, in the order they were added."""

    name: str
    vars: dict[str, object] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    depth: int = 0
    priority: int = 1
    location: Location | None = None


@dataclass
class HostData:
    """One host: its own variables and the groups it was put in directly."""

    name: str
    vars: dict[str, object] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    location: Location | None = None


class InventoryData:
    """Groups and hosts of all sources, with Ansible's operations on them."""

    def __init__(self, merge_hashes: bool = False) -> None:
        self.merge_hashes = merge_hashes
        """``hash_behaviour = merge``: a dictionary set again on a group or host is merged
        into the one it has (Ansible's ``set_variable``), not replaced."""
        self.groups: dict[str, GroupData] = {}
        self.hosts: dict[str, HostData] = {}
        self.add_group(ALL)
        self.add_group(UNGROUPED)
        self.add_child(ALL, UNGROUPED)

    # --- building ----------------------------------------------------------------------------

    def add_group(self, name: str, where: Location | None = None) -> GroupData:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = GroupData(name, location=where)
        return group

    def add_host(
        self, name: str, group: str | None, port: int | None = None, where: Location | None = None
    ) -> HostData:
        """Add ``name`` (to ``group``). A port from ``host:port`` is set only when the host is
        new, as Ansible does."""
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = HostData(name, location=where)
            if port is not None:
                host.vars["ansible_port"] = port
        if group is not None:
            g = self.groups[group]
            if name not in g.hosts:
                g.hosts.append(name)
                host.groups.append(group)
        return host

    def add_child(self, parent: str, child: str, where: Location | None = None) -> None:
        """Make group ``child`` a child of group ``parent`` (both must exist)."""
        p, c = self.groups[parent], self.groups[child]
        if child in p.children:
            return
        if parent == child or child in self.ancestors(parent):
            raise InventoryError(
                [
                    Diagnostic(
                        f"group {child!r} as a child of {parent!r} makes a loop "
                        f"({child!r} is already {parent!r} or one of its parents)",
                        where,
                    )
                ]
            )
        p.children.append(child)
        if parent not in c.parents:
            c.parents.append(parent)
        self._deepen(child, p.depth + 1)

    def _deepen(self, name: str, depth: int) -> None:
        stack = [(name, depth)]
        while stack:
            g, d = stack.pop()
            group = self.groups[g]
            if d <= group.depth:
                continue
            group.depth = d
            stack.extend((c, d + 1) for c in group.children)

    def set_group_var(self, group: str, key: str, value: object) -> None:
        """A variable of a group; ``ansible_group_priority`` sets the group's priority (an
        integer, lower applies first) and, as in Ansible, is not a variable."""
        g = self.groups[group]
        if key == PRIORITY_VAR:
            try:
                g.priority = int(str(value))
            except ValueError:
                raise InventoryError(
                    [Diagnostic(f"{PRIORITY_VAR} of group {group!r} must be an integer")]
                ) from None
            return
        self._set(g.vars, key, value)

    def set_host_var(self, host: str, key: str, value: object) -> None:
        self._set(self.hosts[host].vars, key, value)

    def _set(self, variables: dict[str, object], key: str, value: object) -> None:
        old = variables.get(key)
        if self.merge_hashes and isinstance(old, dict) and isinstance(value, dict):
            variables[key] = merge_hash(old, value)
        else:
            variables[key] = value

    # --- reading -----------------------------------------------------------------------------

    def ancestors(self, group: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.groups[group].parents)
        while stack:
            g = stack.pop()
            if g not in seen:
                seen.add(g)
                stack.extend(self.groups[g].parents)
        return seen

    def host_groups(self, host: str) -> set[str]:
        """Every group ``host`` belongs to: its direct groups and all their ancestors."""
        out: set[str] = set()
        for g in self.hosts[host].groups:
            out.add(g)
            out |= self.ancestors(g)
        return out

    def reconcile(self) -> None:
        """Ansible's rules once every source is read: a group without parents is a child of
        ``all``; a host in no group but ``all`` is in ``ungrouped``, and a host in another
        group is taken out of ``ungrouped``."""
        for name in list(self.groups):
            if name != ALL and not self.groups[name].parents:
                self.add_child(ALL, name)
        ungrouped = self.groups[UNGROUPED]
        for name, host in self.hosts.items():
            mine = self.host_groups(name)
            if UNGROUPED in mine:
                if mine - {ALL, UNGROUPED}:
                    ungrouped.hosts.remove(name)
                    host.groups.remove(UNGROUPED)
            elif not mine - {ALL}:
                self.add_host(name, UNGROUPED)
