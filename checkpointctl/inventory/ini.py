"""INI inventories, read as Ansible's ``ini`` plugin reads them.

Lines before any section are hosts of ``ungrouped``. ``[group]`` lists host entries
(``name[:port] key=value …``, ranges allowed, shell-like quoting, ``#`` comments);
``[group:vars]`` holds ``key=value`` lines (the value is everything after the first ``=``,
comments included); ``[group:children]`` names child groups, which may be declared further
down the file. Values are Python literals where they parse as one (``1``, ``True``,
``[1, 2]``, ``{'a': 1}``) and strings otherwise, exactly as Ansible converts them (with
``ast.literal_eval``, which evaluates nothing). Every error names the file and line.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from dataclasses import dataclass, field

from checkpointctl.errors import Diagnostic, InventoryError, Location
from checkpointctl.inventory import ranges
from checkpointctl.inventory.data import UNGROUPED, InventoryData
from checkpointctl.inventory.values import as_secrets
from checkpointctl.inventory.yaml_source import NAME

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_COMMENTS = ("#", ";")


def parse_value(text: str) -> object:
    """An INI value: a Python literal when it is one, else the text (Ansible's rule)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: object) -> object:
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if value is Ellipsis:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


@dataclass
class _Pending:
    line: int
    kind: str
    parents: list[str] = field(default_factory=list)


class _IniReader:
    def __init__(self, path: str, data: InventoryData, secret: bool) -> None:
        self.path = path
        self.secret = secret
        self.data = data
        self.line = 0
        self.pending: dict[str, _Pending] = {}

    def fail(self, message: str, line: int | None = None) -> InventoryError:
        return InventoryError([Diagnostic(message, Location(self.path, line or self.line, 1))])

    def value(self, text: str) -> object:
        value = parse_value(text)
        return as_secrets(value) if self.secret else value

    def here(self) -> Location:
        return Location(self.path, self.line, 1)

    def read(self, lines: list[str]) -> None:
        group, state = UNGROUPED, "hosts"
        for number, raw in enumerate(lines, 1):
            self.line = number
            line = raw.strip()
            if not line or line[0] in _COMMENTS:
                continue
            m = _SECTION.match(line)
            if m:
                group, kind = m.group(1), m.group(2) or "hosts"
                state = kind
                self.section(group, kind)
                continue
            if line.startswith("[") and line.endswith("]"):
                raise self.fail(f"invalid section {line!r} (no spaces or other characters allowed)")
            if state == "hosts":
                self.host_line(group, line)
            elif state == "vars":
                key, sep, value = line.partition("=")
                if not sep:
                    raise self.fail(f"expected key=value in [{group}:vars], got {line!r}")
                self.data.set_group_var(group, key.strip(), self.value(value.strip()))
            else:
                self.child_line(group, line)
        for name, decl in self.pending.items():
            if decl.kind == "vars":
                raise self.fail(f"section [{name}:vars] is for a group never declared", decl.line)
            raise self.fail(
                f"section [{decl.parents[-1]}:children] names group {name!r}, never declared",
                decl.line,
            )

    def section(self, group: str, kind: str) -> None:
        if kind not in ("hosts", "vars", "children"):
            raise self.fail(f"section [{group}:{kind}] has an unknown type {kind!r}")
        if not NAME.match(group):
            raise self.fail(f"invalid group name {group!r}")
        if group not in self.data.groups:
            # [g] or [g:children] declares a group; [g:vars] alone must be declared elsewhere
            if kind == "vars" and group not in self.pending:
                self.pending[group] = _Pending(self.line, kind)
            self.data.add_group(group, self.here())
        decl = self.pending.get(group)
        if decl is not None and kind != "vars":
            if decl.kind == "children":
                self.resolve_pending(group)
            else:
                del self.pending[group]

    def resolve_pending(self, group: str) -> None:
        decl = self.pending.pop(group)
        for parent in decl.parents:
            self.data.add_child(parent, group, Location(self.path, decl.line, 1))
            if parent in self.pending and self.pending[parent].kind == "children":
                self.resolve_pending(parent)

    def child_line(self, group: str, line: str) -> None:
        m = _GROUP_NAME.match(line)
        if not m:
            raise self.fail(f"expected a group name in [{group}:children], got {line!r}")
        child = m.group(1)
        if child in self.data.groups:
            self.data.add_child(group, child, self.here())
        elif child in self.pending:
            self.pending[child].parents.append(group)
        else:
            self.pending[child] = _Pending(self.line, "children", [group])

    def host_line(self, group: str, line: str) -> None:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            raise self.fail(f"cannot read host line: {exc}") from None
        if not tokens:
            return
        entry = tokens[0]
        pattern, port = ranges.split_port(entry)
        if entry.endswith(":") and port is None:
            raise self.fail(f"host entry {entry!r} ends in ':' (reserved for a port)")
        try:
            names = ranges.expand(pattern)
        except ranges.RangeError as exc:
            raise self.fail(str(exc)) from None
        variables: dict[str, object] = {}
        for token in tokens[1:]:
            key, sep, text = token.partition("=")
            if not sep:
                raise self.fail(f"expected key=value after the host name, got {token!r}")
            variables[key] = self.value(text)
        for name in names:
            if not NAME.match(name):
                raise self.fail(f"invalid host name {name!r}")
            self.data.add_host(name, group, port, self.here())
            for key, value in variables.items():
                self.data.set_host_var(name, key, value)


def read_ini(text: str, path: str, data: InventoryData, *, secret: bool = False) -> None:
    """Add one INI inventory to ``data``; raises InventoryError at the first problem. With
    ``secret`` (a file vaulted as a whole) every string value is a secret."""
    _IniReader(path, data, secret).read(text.splitlines())
