"""Ansible-layout YAML inventories and ``--limit`` host patterns.

Users come from Ansible, so the layout (``all: hosts/children/vars``), the variable names
(``ansible_host``, ``ansible_port``, ``ansible_user``) and the pattern language (globs, groups,
``!exclude``, ``&intersect``, ``~regex``) behave as they expect. Our own names (``address``,
``port``, ``user``, ``connection``) win when both are given.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from checkpointctl.errors import Diagnostic, InventoryError, Location
from checkpointctl.model import Host
from checkpointctl.yamlsource import Document, SourceError, field_path, load_file

_SECTION_KEYS = {"hosts", "children", "vars"}
_ALIASES = {
    "ansible_host": "address",
    "ansible_port": "port",
    "ansible_user": "user",
    "ansible_connection": "connection",
    "ansible_ssh_private_key_file": "identity_file",
    "ansible_timeout": "connect_timeout",
}


def _normalise(level: dict[str, Any]) -> dict[str, Any]:
    """Map Ansible's names to ours *within one level*, so a host's ``ansible_user`` still
    beats a group's ``user`` (precedence is by level first, then our name over Ansible's)."""
    out = dict(level)
    for theirs, ours in _ALIASES.items():
        if theirs in out and ours not in out:
            out[ours] = out[theirs]
    return out
_NAME = re.compile(r"^[A-Za-z0-9_.:-][A-Za-z0-9_.:@-]*$")


@dataclass(frozen=True)
class Inventory:
    """Hosts in file order, and each group's member host names."""

    hosts: tuple[Host, ...]
    groups: Mapping[str, frozenset[str]]
    path: str = ""

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


def _split_pattern(pattern: str) -> list[str]:
    # Ansible accepts ',' and ':' as separators; ':' only when not part of an IPv6 or regex
    parts = [p.strip() for p in pattern.split(",")]
    out: list[str] = []
    for p in parts:
        if p.startswith("~") or p.count(":") > 1:
            out.append(p)
        else:
            out.extend(q.strip() for q in p.split(":"))
    return [p for p in out if p]


def _match_one(term: str, names: list[str], groups: Mapping[str, frozenset[str]]) -> set[str]:
    if term in ("all", "*"):
        return set(names)
    if term in groups:
        return set(groups[term])
    if term.startswith("~"):
        try:
            rx = re.compile(term[1:])
        except re.error as exc:
            raise InventoryError([Diagnostic(f"bad regex in pattern {term!r}: {exc}")]) from None
        return {n for n in names if rx.search(n)}
    hits = {n for n in names if fnmatch.fnmatchcase(n, term)}
    for g, members in groups.items():
        if fnmatch.fnmatchcase(g, term) and any(ch in term for ch in "*?["):
            hits |= members
    return hits


def match_pattern(
    pattern: str, names: list[str], groups: Mapping[str, frozenset[str]]
) -> set[str]:
    """Names selected by ``pattern``: union of plain terms, then ``&`` terms, then ``!`` terms."""
    include: set[str] = set()
    has_plain = False
    intersect: list[set[str]] = []
    exclude: set[str] = set()
    for term in _split_pattern(pattern):
        if term.startswith("!"):
            exclude |= _match_one(term[1:], names, groups)
        elif term.startswith("&"):
            intersect.append(_match_one(term[1:], names, groups))
        else:
            has_plain = True
            include |= _match_one(term, names, groups)
    if not has_plain:
        include = set(names)
    for s in intersect:
        include &= s
    return include - exclude


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.errors: list[Diagnostic] = []
        self.host_order: list[str] = []
        self.host_vars: dict[str, dict[str, Any]] = {}
        self.host_groups: dict[str, set[str]] = {}
        self.group_vars: dict[str, dict[str, Any]] = {}
        self.group_depth: dict[str, int] = {}
        self.group_parents: dict[str, set[str]] = {}
        self.group_hosts: dict[str, set[str]] = {}
        self.host_loc: dict[str, Location] = {}

    def err(
        self, msg: str, at: tuple[str | int, ...], hint: str | None = None, *, key: bool = False
    ) -> None:
        loc = self.doc.where_key(at) if key else self.doc.where(at)
        self.errors.append(Diagnostic(msg, loc, field=field_path(at) or None, hint=hint))

    def group(self, name: str, body: Any, at: tuple[str | int, ...], depth: int) -> None:
        if not _NAME.match(name):
            self.err(f"invalid group name {name!r}", at, key=True)
            return
        self.group_depth[name] = max(self.group_depth.get(name, 0), depth)
        self.group_hosts.setdefault(name, set())
        if body is None:
            return
        if not isinstance(body, dict):
            self.err("a group must be a mapping with hosts, children or vars", at)
            return
        for key in body:
            if key not in _SECTION_KEYS:
                self.err(
                    f"unknown key {key!r} in group {name!r}",
                    at + (key,),
                    hint="a group holds only 'hosts', 'children' and 'vars'",
                    key=True,
                )
        gvars = body.get("vars") or {}
        if not isinstance(gvars, dict):
            self.err("vars must be a mapping", at + ("vars",))
        else:
            self.group_vars.setdefault(name, {}).update(_normalise(gvars))
        hosts = body.get("hosts") or {}
        if not isinstance(hosts, dict):
            self.err("hosts must be a mapping of host names", at + ("hosts",))
            hosts = {}
        for hname, hvars in hosts.items():
            hat = at + ("hosts", hname)
            if not _NAME.match(hname):
                self.err(f"invalid host name {hname!r}", hat, key=True)
                continue
            if hvars is not None and not isinstance(hvars, dict):
                self.err("host variables must be a mapping", hat)
                continue
            if hname not in self.host_vars:
                self.host_order.append(hname)
                self.host_vars[hname] = {}
                self.host_groups[hname] = set()
                self.host_loc[hname] = self.doc.where_key(hat)
            self.host_vars[hname].update(_normalise(hvars or {}))
            self.host_groups[hname].add(name)
            self.group_hosts[name].add(hname)
        children = body.get("children") or {}
        if not isinstance(children, dict):
            self.err("children must be a mapping of group names", at + ("children",))
            children = {}
        for cname, cbody in children.items():
            self.group_parents.setdefault(cname, set()).add(name)
            self.group(cname, cbody, at + ("children", cname), depth + 1)

    def ancestors(self, group: str) -> set[str]:
        seen: set[str] = set()
        stack = [group]
        while stack:
            g = stack.pop()
            for p in self.group_parents.get(g, ()):
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return seen


def _str(v: object, default: str) -> str:
    return default if v is None else str(v)


def _host_from_vars(
    name: str, hvars: dict[str, Any], groups: frozenset[str], base: Path, loc: Location
) -> Host:
    def pick(*keys: str) -> Any:
        for k in keys:
            if hvars.get(k) is not None:
                return hvars[k]
        return None

    def path_var(*keys: str) -> str | None:
        v = pick(*keys)
        if v is None:
            return None
        try:
            p = Path(str(v)).expanduser()
        except RuntimeError:  # '~user/...' for a user that does not exist
            raise InventoryError(
                [Diagnostic(f"cannot expand '~' in {str(v)!r}", loc, name)]
            ) from None
        return str(p if p.is_absolute() else (base / p))

    os_name = _str(pick("os"), "linux").strip().lower()
    if os_name == "windows":
        raise InventoryError(
            [
                Diagnostic(
                    "os: windows is not supported yet: checkpointctl manages Linux hosts only "
                    "(SSH + sh, nftables, the Docker socket, POSIX modes); the Windows backend "
                    "is designed in docs/windows.md",
                    loc,
                    name,
                )
            ]
        )
    if os_name != "linux":
        raise InventoryError(
            [Diagnostic(f"unsupported os {os_name!r} (linux, or windows once supported)", loc,
                        name)]
        )
    conn_raw = _str(pick("connection", "ansible_connection"), "ssh")
    connection: Literal["ssh", "local"]
    if conn_raw == "local":
        connection = "local"
    elif conn_raw in ("ssh", "paramiko", "smart"):
        connection = "ssh"
    else:
        raise InventoryError(
            [Diagnostic(f"unsupported connection {conn_raw!r} (use ssh or local)", loc, name)]
        )
    port_raw = pick("port", "ansible_port")
    try:
        port = int(port_raw) if port_raw is not None else 22
        timeout_raw = pick("connect_timeout", "ansible_timeout")
        timeout = float(timeout_raw) if timeout_raw is not None else 10.0
    except (TypeError, ValueError):
        raise InventoryError(
            [Diagnostic("port and connect_timeout must be numbers", loc, name)]
        ) from None
    if not 0 < port < 65536:
        raise InventoryError([Diagnostic(f"port {port} out of range", loc, name)])
    address = _str(pick("address", "ansible_host"), name)
    tofu = pick("trust_on_first_use")
    return Host(
        name=name,
        address=address,
        port=port,
        user=_str(pick("user", "ansible_user"), "root"),
        connection=connection,
        groups=groups,
        identity_file=path_var("identity_file", "ansible_ssh_private_key_file"),
        known_hosts=path_var("known_hosts", "ansible_ssh_known_hosts_file"),
        trust_on_first_use=tofu is True,
        connect_timeout=timeout,
        vars=hvars,
    )


def parse_inventory(doc: Document, base: Path) -> Inventory:
    """Build an inventory from a parsed document; raises InventoryError listing every problem."""
    data = doc.data
    b = _Builder(doc)
    if not isinstance(data, dict) or not data:
        raise InventoryError(
            [Diagnostic("an inventory is a mapping with a top-level 'all' group", doc.where(()))]
        )
    for top, body in data.items():
        b.group(top, body, (top,), 0)
    if b.errors:
        raise InventoryError(b.errors)
    hosts: list[Host] = []
    groups_out: dict[str, set[str]] = {g: set(m) for g, m in b.group_hosts.items()}
    for hname in b.host_order:
        direct = b.host_groups[hname]
        all_groups: set[str] = set(direct)
        for g in direct:
            all_groups |= b.ancestors(g)
        all_groups.add("all")
        for g in all_groups:
            groups_out.setdefault(g, set()).add(hname)
        merged: dict[str, Any] = {}
        # Ansible precedence: shallower groups first, then deeper ones, same depth by name
        for g in sorted(all_groups, key=lambda g: (b.group_depth.get(g, 0), g)):
            merged.update(b.group_vars.get(g, {}))
        merged.update(b.host_vars[hname])
        merged.setdefault("inventory_hostname", hname)
        merged["group_names"] = sorted(all_groups - {"all"})
        hosts.append(_host_from_vars(hname, merged, frozenset(all_groups), base, b.host_loc[hname]))
    return Inventory(
        tuple(hosts), {g: frozenset(m) for g, m in groups_out.items()}, path=doc.path
    )


def load_inventory(path: str) -> Inventory:
    """Load an inventory file; every problem is an InventoryError with file:line:col."""
    p = Path(path)
    try:
        docs = load_file(p)
    except SourceError as exc:
        raise InventoryError([exc.diagnostic]) from None
    if not docs:
        raise InventoryError([Diagnostic("inventory is empty", Location(path, 1, 1))])
    return parse_inventory(docs[0], p.parent.resolve())


def host_names(hosts: Iterable[Host]) -> list[str]:
    return [h.name for h in hosts]


def label_value(host: Host, key: str) -> object:
    """A selector label of a host: ``labels.<key>`` if the host has a labels mapping, else the
    host variable ``<key>``."""
    labels = host.vars.get("labels")
    if isinstance(labels, dict) and key in labels:
        return cast(object, labels[key])
    return host.vars.get(key)
