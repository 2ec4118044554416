"""Ansible's variable precedence, for one host: the layers its variables come from, in order.

From lowest to highest (Ansible's documented order, ``VARIABLE_PRECEDENCE``'s default):

1. the ``all`` group's variables in inventory sources;
2. every other group of the host in inventory sources, shallow groups first, then by
   ``ansible_group_priority``, then by name;
3. ``group_vars/all`` beside each inventory source, then 4. beside the playbook (for us: the
   policy repository, the folder holding ``policies/``);
5. ``group_vars/<group>`` beside each inventory source (source by source, groups in the order
   of 2.), then 6. beside the playbook;
7. the host's own variables in inventory sources; 8. ``host_vars/<host>`` beside each
   inventory source; 9. beside the playbook.

A later layer replaces an earlier one's value of the same name whole (Ansible's default
``hash_behaviour=replace``: dictionaries are not merged). Each layer is kept separately, so
connection settings can be resolved level by level (see :mod:`hosts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from checkpointctl.inventory.data import ALL, InventoryData
from checkpointctl.inventory.vars_dirs import VarsFiles

Layer = dict[str, object]


@dataclass(frozen=True)
class VarsDirs:
    """Where ``group_vars``/``host_vars`` are looked for: beside each inventory source (in
    ``-i`` order), then beside the playbook."""

    inventory: tuple[Path, ...]
    playbook: Path | None = None


def sorted_groups(data: InventoryData, names: set[str]) -> list[str]:
    """Groups in the order their variables apply (Ansible's ``sort_groups``)."""
    return sorted(
        (g for g in names if g != ALL),
        key=lambda g: (data.groups[g].depth, data.groups[g].priority, g),
    )


class FileLayers:
    """The group_vars/host_vars layers of each group and host name, read once per name (every
    host of a group shares the group's files)."""

    def __init__(self, dirs: VarsDirs, files: VarsFiles) -> None:
        self.inventory = list(dirs.inventory)
        self.play = [dirs.playbook] if dirs.playbook is not None else []
        self.files = files
        self._groups: dict[str, tuple[Layer, Layer]] = {}

    def group(self, name: str) -> tuple[Layer, Layer]:
        """(beside the inventory sources, beside the playbook) for group ``name``."""
        if name not in self._groups:
            self._groups[name] = (
                self.files.vars_of(self.inventory, "group_vars", name),
                self.files.vars_of(self.play, "group_vars", name),
            )
        return self._groups[name]

    def per_source(self, name: str) -> list[Layer]:
        """Group ``name``'s files beside each inventory source, one layer per source."""
        return [self.files.vars_of([base], "group_vars", name) for base in self.inventory]

    def host(self, name: str) -> tuple[Layer, Layer]:
        return (
            self.files.vars_of(self.inventory, "host_vars", name),
            self.files.vars_of(self.play, "host_vars", name),
        )


def host_layers(
    data: InventoryData, host: str, layers_of: FileLayers
) -> tuple[list[str], list[Layer]]:
    """The host's groups (in precedence order, without ``all``) and its variable layers,
    lowest precedence first."""
    groups = sorted_groups(data, data.host_groups(host))
    all_inv, all_play = layers_of.group(ALL)
    layers: list[Layer] = [data.groups[ALL].vars]
    layers.extend(data.groups[g].vars for g in groups)
    layers += [all_inv, all_play]
    if len(layers_of.inventory) > 1:
        # source by source, each source's groups in order (Ansible's loop nesting)
        per_group = [layers_of.per_source(g) for g in groups]
        for i in range(len(layers_of.inventory)):
            layers.extend(layer[i] for layer in per_group)
    else:
        layers.extend(layers_of.group(g)[0] for g in groups)
    layers.extend(layers_of.group(g)[1] for g in groups)
    layers.append(data.hosts[host].vars)
    layers.extend(layers_of.host(host))
    return groups, [layer for layer in layers if layer]


def flatten(layers: list[Layer]) -> dict[str, object]:
    merged: dict[str, object] = {}
    for layer in layers:
        merged.update(layer)
    return merged
