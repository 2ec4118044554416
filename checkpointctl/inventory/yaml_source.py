"""YAML inventories (``all: hosts/children/vars``), read as Ansible's ``yaml`` plugin reads them.

Top-level keys are groups; a group holds ``hosts`` (host entries, ranges allowed, each with
its variables), ``children`` (groups, recursively) and ``vars``. A section written as a single
string is that one name, as in Ansible. Where Ansible only warns and skips (an unknown key in
a group, a group that is not a mapping), this is an error naming the place: such a key is
almost always a typo (``host:`` for ``hosts:``) that would silently drop hosts.
"""

from __future__ import annotations

import re
from typing import Any

from checkpointctl.errors import Diagnostic, InventoryError
from checkpointctl.inventory import ranges
from checkpointctl.inventory.ansible_vault import VaultPasswords
from checkpointctl.inventory.data import InventoryData
from checkpointctl.inventory.values import resolve
from checkpointctl.yamlsource import Document, PathKey, field_path

SECTIONS = ("vars", "children", "hosts")
NAME = re.compile(r"^[A-Za-z0-9_.:-][A-Za-z0-9_.:@-]*$")


class _Reader:
    def __init__(self, doc: Document, data: InventoryData, passwords: VaultPasswords) -> None:
        self.doc = doc
        self.data = data
        self.passwords = passwords
        self.errors: list[Diagnostic] = []

    def err(self, msg: str, at: PathKey, hint: str | None = None, *, key: bool = False) -> None:
        loc = self.doc.where_key(at) if key else self.doc.where(at)
        self.errors.append(Diagnostic(msg, loc, field=field_path(at) or None, hint=hint))

    def value(self, raw: object, at: PathKey) -> object:
        return resolve(raw, self.passwords, self.doc.where, at, field_path(at))

    def section(self, body: dict[str, Any], key: str, at: PathKey, what: str) -> dict[str, Any]:
        raw = body.get(key)
        if raw is None:
            return {}
        if isinstance(raw, str):  # Ansible: a single name
            return {raw: None}
        if not isinstance(raw, dict):
            self.err(f"{key} must be a mapping of {what}", at + (key,))
            return {}
        return raw

    def group(self, name: str, body: object, at: PathKey) -> str | None:
        if not NAME.match(name):
            self.err(f"invalid group name {name!r}", at, key=True)
            return None
        self.data.add_group(name, self.doc.where_key(at))
        if body is None:
            return name
        if not isinstance(body, dict):
            self.err("a group must be a mapping with hosts, children or vars", at)
            return name
        for key in body:
            if key not in SECTIONS:
                self.err(
                    f"unknown key {key!r} in group {name!r}",
                    at + (key,),
                    hint="a group holds only 'hosts', 'children' and 'vars'",
                    key=True,
                )
        sections = {
            key: self.section(body, key, at, what)
            for key, what in (("vars", "variables"), ("children", "groups"), ("hosts", "hosts"))
        }
        for key in body:  # in the file's order, as Ansible reads them
            if key == "vars":
                for var, raw in sections["vars"].items():
                    self.data.set_group_var(name, var, self.value(raw, at + ("vars", var)))
            elif key == "children":
                for child, cbody in sections["children"].items():
                    cat = at + ("children", child)
                    child_name = self.group(child, cbody, cat)
                    if child_name is not None:
                        self.data.add_child(name, child_name, self.doc.where_key(cat))
            elif key == "hosts":
                for entry, hvars in sections["hosts"].items():
                    self.hosts(name, entry, hvars, at + ("hosts", entry))
        return name

    def hosts(self, group: str, entry: str, hvars: object, at: PathKey) -> None:
        if hvars is not None and not isinstance(hvars, dict):
            self.err("host variables must be a mapping", at)
            return
        pattern, port = ranges.split_port(entry)
        try:
            names = ranges.expand(pattern)
        except ranges.RangeError as exc:
            self.err(str(exc), at, key=True)
            return
        for hname in names:
            if not NAME.match(hname):
                self.err(f"invalid host name {hname!r}", at, key=True)
                continue
            self.data.add_host(hname, group, port, self.doc.where_key(at))
            for var, raw in (hvars or {}).items():
                self.data.set_host_var(hname, var, self.value(raw, at + (var,)))


def read_yaml(doc: Document, data: InventoryData, passwords: VaultPasswords) -> None:
    """Add one YAML inventory document to ``data``; raises InventoryError listing every
    problem of the document."""
    if not isinstance(doc.data, dict) or not doc.data:
        raise InventoryError(
            [Diagnostic("an inventory is a mapping with a top-level 'all' group", doc.where(()))]
        )
    if "plugin" in doc.data:
        raise InventoryError(
            [
                Diagnostic(
                    "inventory plugin configurations (plugin: ...) are not supported",
                    doc.where_key(("plugin",)),
                    hint="export it with `ansible-inventory -i FILE --list > inv.json`, or use "
                    "an executable inventory script",
                )
            ]
        )
    reader = _Reader(doc, data, passwords)
    for top, body in doc.data.items():
        reader.group(top, body, (top,))
    if reader.errors:
        raise InventoryError(reader.errors)
