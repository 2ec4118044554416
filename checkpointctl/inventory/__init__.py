"""Ansible inventories as Ansible reads them, and ``--limit`` host patterns.

Users come from Ansible, so inventories are read as ``ansible-inventory`` reads them: YAML and
INI files, directories of sources, several ``-i`` merged in order, executable dynamic
inventories and their ``--list`` JSON, ``group_vars``/``host_vars``, host ranges, Ansible's
variable precedence, and Ansible Vault (``!vault`` values and encrypted files, which become
secrets). Our own connection names (``address``, ``port``, ``user``, ``connection``) are
accepted beside Ansible's. Modules:

``sources`` (load_inventory) · ``yaml_source`` · ``ini`` · ``dynamic`` · ``vars_dirs`` ·
``ansible_vault`` · ``data`` (groups and hosts as sources build them) · ``merge``
(precedence) · ``hosts`` (connection settings) · ``ranges`` · ``patterns`` (``--limit``) ·
``listing`` (``ansible-inventory --list``) · ``model`` (:class:`Inventory`) · ``ansiblecfg``
(``ansible.cfg`` and ``ANSIBLE_*``, as Ansible reads them) · ``ansible_settings`` (which of
its settings are honoured, refused or irrelevant).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from checkpointctl.inventory.model import GroupNode, Inventory
from checkpointctl.inventory.patterns import match_pattern
from checkpointctl.inventory.sources import load_inventory
from checkpointctl.model import Host

__all__ = [
    "GroupNode",
    "Inventory",
    "host_names",
    "label_value",
    "load_inventory",
    "match_pattern",
]


def host_names(hosts: Iterable[Host]) -> list[str]:
    return [h.name for h in hosts]


def label_value(host: Host, key: str) -> object:
    """A selector label of a host: ``labels.<key>`` if the host has a labels mapping, else the
    host variable ``<key>``."""
    labels = host.vars.get("labels")
    if isinstance(labels, dict) and key in labels:
        return cast(object, labels[key])
    return host.vars.get(key)
