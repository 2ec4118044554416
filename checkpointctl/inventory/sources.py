"""Loading inventories from ``-i`` sources, as Ansible does, into one :class:`Inventory`.

A source is a file, a directory or a comma-separated host list (``-i 'cp-1,cp-2,'``).
Sources are read in the order given into one inventory (later sources add members and
overwrite variables of the same name). A directory is read entry by entry in name order,
recursively, skipping hidden entries, ``group_vars``, ``host_vars``, ``vars_plugins`` and
Ansible's ignored extensions (``.md``, ``.txt``, ``.cfg``, ``.bak``, …). A file is:

- executable → a dynamic inventory (:mod:`dynamic`);
- vault-encrypted as a whole → decrypted, then read as below, every string value a secret;
- ``.yml``/``.yaml``/``.json`` → YAML (:mod:`yaml_source`), or, when it has a top-level
  ``_meta`` (what ``ansible-inventory --list`` prints), a listing (:mod:`dynamic`);
- no extension → YAML if it reads as a YAML mapping, INI otherwise; any other extension → INI.

``group_vars``/``host_vars`` are read beside each source and beside the playbook directory
(:mod:`merge` has the precedence).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from checkpointctl.errors import Diagnostic, InventoryError, Location, Severity
from checkpointctl.inventory import ranges
from checkpointctl.inventory.ansible_vault import VaultPasswords, is_vaulted
from checkpointctl.inventory.ansiblecfg import NO_CONFIG, AnsibleConfig
from checkpointctl.inventory.data import ALL, UNGROUPED, InventoryData
from checkpointctl.inventory.dynamic import read_listing, read_script
from checkpointctl.inventory.hosts import build_host, unsupported_settings
from checkpointctl.inventory.ini import read_ini
from checkpointctl.inventory.merge import FileLayers, VarsDirs, flatten, host_levels, layers
from checkpointctl.inventory.model import GroupNode, Inventory
from checkpointctl.inventory.values import TAGS, as_secrets, decrypt_file
from checkpointctl.inventory.vars_dirs import VarsFiles
from checkpointctl.inventory.yaml_source import read_yaml
from checkpointctl.model import Host
from checkpointctl.yamlsource import Document, SourceError, parse_documents, read_text

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
IGNORED = re.compile(
    r"^\.|^host_vars$|^group_vars$|^vars_plugins$|"
    r"(\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.cfg|\.retry)$"
)
"""Directory entries Ansible does not read as inventory sources (its defaults)."""


def _is_listing(doc: Document) -> bool:
    return isinstance(doc.data, dict) and "_meta" in doc.data


def _parse_yaml(text: str, path: str) -> list[Document]:
    try:
        return [d for d in parse_documents(text, path, TAGS) if d.data is not None]
    except SourceError as exc:
        raise InventoryError([exc.diagnostic]) from None


class _Loader:
    def __init__(self, passwords: VaultPasswords, config: AnsibleConfig) -> None:
        self.passwords = passwords
        self.config = config
        self.data = InventoryData(config.merge_hashes)
        self.seen_dirs: set[Path] = set()

    def plugin(self, name: str, source: str) -> None:
        """Refuse a source whose inventory plugin the Ansible config does not enable: Ansible
        would not read it (``[inventory] enable_plugins``)."""
        if name in self.config.enabled_plugins:
            return
        origin = self.config.enabled_plugins_origin
        raise InventoryError(
            [
                Diagnostic(
                    f"Ansible would not read this source: its config does not enable the "
                    f"{name!r} inventory plugin ({origin})",
                    Location(source, 1, 1),
                    hint=f"add {name} to enable_plugins, or give another source",
                )
            ]
        )

    def source(self, source: str) -> Path | None:
        """Read one ``-i`` source; returns where its group_vars/host_vars are looked for."""
        path = Path(source)
        if not path.exists():
            if "," in source:
                self.plugin("host_list", source)
                self.host_list(source)
                return None
            raise InventoryError(
                [Diagnostic("cannot read: no such file or directory", Location(source, 1, 1))]
            )
        if path.is_dir():
            self.directory(path)
            return path.resolve()
        self.file(path)
        return path.resolve().parent

    def host_list(self, source: str) -> None:
        for entry in (e.strip() for e in source.split(",")):
            if entry:
                name, port = ranges.split_port(entry)
                self.data.add_host(name, UNGROUPED, port)

    def directory(self, path: Path) -> None:
        real = path.resolve()
        if real in self.seen_dirs:  # a symlink back up the tree
            raise InventoryError(
                [Diagnostic("inventory folder links back into itself", Location(str(path), 1, 1))]
            )
        self.seen_dirs.add(real)  # the folders being read, from the source down to here
        try:
            entries = sorted(os.listdir(path))
        except OSError as exc:
            raise InventoryError(
                [Diagnostic(f"cannot read folder: {exc.strerror}", Location(str(path), 1, 1))]
            ) from None
        for entry in entries:
            if IGNORED.search(entry):
                continue
            full = path / entry
            if full.is_dir():
                self.directory(full)
            elif full.is_file():
                self.file(full)
        self.seen_dirs.discard(real)

    def file(self, path: Path) -> None:
        name = str(path)
        if os.access(path, os.X_OK):
            self.plugin("script", name)
            read_script(name, self.data, self.passwords)
            return
        try:
            text = read_text(path)
        except SourceError as exc:
            raise InventoryError([exc.diagnostic]) from None
        secret = is_vaulted(text)
        if secret:
            text = decrypt_file(text, self.passwords, Location(name, 1, 1))
        ext = path.suffix
        if ext in YAML_EXTENSIONS or not ext:
            docs = _parse_yaml(text, name) if ext else self._maybe_yaml(text, name)
            if docs is not None:
                self.plugin("yaml", name)
                self.yaml(docs, name, secret)
                return
        self.plugin("ini", name)
        read_ini(text, name, self.data, secret=secret)

    def _maybe_yaml(self, text: str, name: str) -> list[Document] | None:
        """YAML documents if an extensionless file reads as a YAML mapping, else None (INI)."""
        try:
            docs = [d for d in parse_documents(text, name, TAGS) if d.data is not None]
        except SourceError:
            return None
        return docs if docs and isinstance(docs[0].data, dict) else None

    def yaml(self, docs: list[Document], name: str, secret: bool) -> None:
        if not docs:
            raise InventoryError([Diagnostic("inventory is empty", Location(name, 1, 1))])
        doc = docs[0]
        listing = _is_listing(doc)
        if secret:
            data = _secret_values(doc.data, listing)
            doc = Document(doc.path, data, doc.locations, doc.key_locations)
        if listing:
            read_listing(doc.data, self.data, name, self.passwords)
        else:
            read_yaml(doc, self.data, self.passwords)


def _secret_values(data: object, listing: bool) -> object:
    """A whole-file-vaulted inventory with every variable value made secret; names of
    groups and hosts, and the structure, stay plain."""
    if not isinstance(data, dict):
        return data
    out: dict[str, object] = {}
    for group, body in data.items():
        if not isinstance(body, dict):
            out[group] = body
            continue
        new = dict(body)
        if isinstance(body.get("vars"), dict):
            new["vars"] = as_secrets(body["vars"])
        if listing and group == "_meta" and isinstance(body.get("hostvars"), dict):
            new["hostvars"] = {h: as_secrets(v) for h, v in body["hostvars"].items()}
        if not listing and isinstance(body.get("hosts"), dict):
            new["hosts"] = {h: as_secrets(v) for h, v in body["hosts"].items()}
        if not listing and isinstance(body.get("children"), dict):
            new["children"] = _secret_values(body["children"], listing)
        out[group] = new
    return out


def _tree(data: InventoryData) -> dict[str, GroupNode]:
    return {name: GroupNode(tuple(g.hosts), tuple(g.children)) for name, g in data.groups.items()}


def load_inventory(
    sources: str | Sequence[str],
    *,
    passwords: VaultPasswords | None = None,
    playbook_dir: str | Path | None = None,
    strict: bool = True,
    config: AnsibleConfig = NO_CONFIG,
) -> Inventory:
    """Load one or several inventory sources (in order) into one inventory.

    ``playbook_dir`` is where ``group_vars``/``host_vars`` beside the "playbook" are read
    (the policy repository). With ``strict`` (every command that may connect), a connection
    variable we cannot honour yet is an error; without it (listing), a warning. ``config``:
    the Ansible configuration in effect (:func:`~checkpointctl.inventory.ansiblecfg.
    read_ansible_config`): its hash behaviour, enabled plugins and connection defaults (its
    refusals are the caller's to check, with :meth:`AnsibleConfig.check`).

    Raises:
        InventoryError: every problem, with file:line:col where known.
    """
    names = [sources] if isinstance(sources, str) else list(sources)
    if not names:
        raise InventoryError([Diagnostic("no inventory given: -i INVENTORY")])
    loader = _Loader(passwords if passwords is not None else VaultPasswords([]), config)
    bases: list[Path] = []
    for name in names:
        base = loader.source(name)
        if base is not None:
            bases.append(base)
    data = loader.data
    data.reconcile()
    dirs = VarsDirs(tuple(bases), Path(playbook_dir).resolve() if playbook_dir else None)
    layers_of = FileLayers(dirs, VarsFiles(loader.passwords))
    hosts: list[Host] = []
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    members: dict[str, set[str]] = {g: set() for g in data.groups}
    folders: dict[str, Path] = {}  # a source's folder, which relative key paths start from
    for hname, hdata in data.hosts.items():
        groups, levels = host_levels(data, hname, layers_of)
        merged = flatten(levels, config.merge_hashes)
        for setting in unsupported_settings(merged):
            diag = Diagnostic(
                f"{setting} is not supported yet",
                hdata.location,
                hname,
                hint="checkpointctl would not connect as the inventory asks; "
                "remove it or reach this host another way",
                severity=Severity.ERROR if strict else Severity.WARNING,
            )
            (errors if strict else warnings).append(diag)
        all_groups = frozenset(groups) | {ALL}
        for g in all_groups:
            members[g].add(hname)
        variables = dict(merged)
        variables.setdefault("inventory_hostname", hname)
        variables["group_names"] = sorted(groups)
        where = hdata.location
        path = where.path if where else ""
        if path not in folders:
            folders[path] = Path(path).resolve().parent if path else Path.cwd()
        base = folders[path]
        try:
            hosts.append(
                build_host(
                    hname, layers(levels), variables, all_groups, base, where, config.connection
                )
            )
        except InventoryError as exc:
            errors.extend(exc.items)
    if errors:
        raise InventoryError(errors)
    return Inventory(
        tuple(hosts),
        {g: frozenset(m) for g, m in members.items()},
        path=",".join(names),
        tree=_tree(data),
        sources=tuple(names),
        warnings=tuple(warnings),
    )
