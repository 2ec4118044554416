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
``hash_behaviour = replace``: dictionaries are not merged). With ``hash_behaviour = merge``
(``ansible.cfg`` or ``$ANSIBLE_HASH_BEHAVIOUR``, see :mod:`ansiblecfg`) a dictionary is merged
recursively into the same name's dictionary of the layers below, key by key; any other value
(lists included) still replaces. Ansible combines that way wherever it combines variables:
in :mod:`data` and :mod:`vars_dirs` within one layer, and here between layers. A merge is not
associative (a dictionary, then a string, then a dictionary), so the layers are combined in
Ansible's own nesting: each numbered level above is combined on its own first (and a level
read beside several sources, source by source), then the levels in order. The layers are
also kept one by one, so connection settings can be resolved layer by layer (see
:mod:`hosts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from checkpointctl.inventory.data import ALL, InventoryData, combine
from checkpointctl.inventory.vars_dirs import VarsFiles

Layer = dict[str, object]
Level = list[list[Layer]]
"""One precedence level: for each source it is read beside (one, for a level not read from
files), that source's layers in order (a file's, a group's or the host's variables)."""


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
        self._cache: dict[tuple[str, str], tuple[list[list[Layer]], list[Layer]]] = {}

    def of(self, kind: str, name: str) -> tuple[list[list[Layer]], list[Layer]]:
        """``kind`` (``group_vars``/``host_vars``) of ``name``: for each inventory source its
        files' layers, and the files' layers beside the playbook."""
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = (
                [self.files.layers_of(base, kind, name) for base in self.inventory],
                [layer for base in self.play for layer in self.files.layers_of(base, kind, name)],
            )
        return self._cache[key]


def host_levels(
    data: InventoryData, host: str, layers_of: FileLayers
) -> tuple[list[str], list[Level]]:
    """The host's groups (in precedence order, without ``all``) and its variables' precedence
    levels, lowest first (see the module docstring)."""
    groups = sorted_groups(data, data.host_groups(host))
    all_inv, all_play = layers_of.of("group_vars", ALL)
    group_files = [layers_of.of("group_vars", g) for g in groups]
    host_inv, host_play = layers_of.of("host_vars", host)
    sources = range(len(layers_of.inventory))
    levels: list[Level] = [
        [[data.groups[ALL].vars]],
        [[data.groups[g].vars for g in groups]],
        all_inv,
        [all_play],
        [[layer for inv, _ in group_files for layer in inv[i]] for i in sources],
        [[layer for _, play in group_files for layer in play]],
        [[data.hosts[host].vars]],
        host_inv,
        [host_play],
    ]
    return groups, levels


def layers(levels: list[Level]) -> list[Layer]:
    """Every non-empty layer, lowest precedence first."""
    return [layer for level in levels for source in level for layer in source if layer]


def flatten(levels: list[Level], merge_hashes: bool = False) -> dict[str, object]:
    """The host's variables: each source's layers combined, then each level's sources, then
    the levels, in Ansible's nesting (which matters only when merging dictionaries)."""
    merged: dict[str, object] = {}
    for level in levels:
        combined: dict[str, object] = {}
        for source in level:
            part: dict[str, object] = {}
            for layer in source:
                part = combine(part, layer, merge_hashes)
            combined = combine(combined, part, merge_hashes)
        merged = combine(merged, combined, merge_hashes)
    return merged
