"""``group_vars/`` and ``host_vars/``: variables kept in files beside an inventory or playbook.

For a group (or host) named N, Ansible looks in ``<dir>/group_vars`` (``host_vars``) for the
first of ``N``, ``N.yml``, ``N.yaml``, ``N.json`` that exists; if that is a directory, every
file inside it (recursively, in name order, skipping hidden files, ``~`` backups and names
with another extension; subdirectories with a dot in their name are skipped) is read in turn,
later files overwriting earlier ones' keys (or merged into them: see :mod:`merge`). Files
are YAML (JSON being YAML), may hold ``!vault`` values, and may be vault-encrypted as a
whole. An empty file adds nothing; a file that is not a mapping is an error.
"""

from __future__ import annotations

from pathlib import Path

from checkpointctl.errors import Diagnostic, InventoryError, Location
from checkpointctl.inventory.ansible_vault import VaultPasswords, is_vaulted
from checkpointctl.inventory.values import TAGS, as_secrets, decrypt_file, resolve
from checkpointctl.yamlsource import SourceError, field_path, parse_documents, read_text

EXTENSIONS = (".yml", ".yaml", ".json")


def _dir_files(path: Path, seen: set[Path] | None = None) -> list[Path]:
    seen = set() if seen is None else seen
    real = path.resolve()
    if real in seen:  # a symlink back up the tree: its files are being listed
        return []
    seen.add(real)  # the folders being listed, from the top down to here
    found: list[Path] = []
    try:
        entries = sorted(path.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise InventoryError(
            [Diagnostic(f"cannot read folder: {exc.strerror}", Location(str(path), 1, 1))]
        ) from None
    for entry in entries:
        name = entry.name
        if name.startswith(".") or name.endswith("~"):
            continue
        ext = entry.suffix
        if entry.is_dir():
            if not ext:
                found.extend(_dir_files(entry, seen))
        elif entry.is_file() and (not ext or ext in EXTENSIONS):
            found.append(entry)
    seen.discard(real)
    return found


def find_files(base: Path, name: str) -> list[Path]:
    """The files holding the variables of ``name`` in ``base`` (``…/group_vars``), in the
    order they apply."""
    if not base.is_dir() or name.startswith("/"):
        return []
    for ext in ("", *EXTENSIONS):
        candidate = base / (name + ext)
        if candidate.exists():
            return _dir_files(candidate) if candidate.is_dir() else [candidate]
    return []


class VarsFiles:
    """Reads and caches variable files (a group's file serves every host of the group)."""

    def __init__(self, passwords: VaultPasswords) -> None:
        self.passwords = passwords
        self._cache: dict[Path, dict[str, object]] = {}
        self._found: dict[tuple[Path, str], list[Path]] = {}
        self._is_dir: dict[Path, bool] = {}

    def files_of(self, folder: Path, name: str) -> list[Path]:
        """:func:`find_files`, remembered: every host of a group asks for the same files,
        and a folder that does not exist is looked at once."""
        if folder not in self._is_dir:
            self._is_dir[folder] = folder.is_dir()
        if not self._is_dir[folder]:
            return []
        key = (folder, name)
        if key not in self._found:
            self._found[key] = find_files(folder, name)
        return self._found[key]

    def load(self, path: Path) -> dict[str, object]:
        if path not in self._cache:
            self._cache[path] = self._read(path)
        return self._cache[path]

    def _read(self, path: Path) -> dict[str, object]:
        where = Location(str(path), 1, 1)
        try:
            text = read_text(path)
        except SourceError as exc:
            raise InventoryError([exc.diagnostic]) from None
        secret = is_vaulted(text)
        if secret:
            text = decrypt_file(text, self.passwords, where)
        try:
            docs = [d for d in parse_documents(text, str(path), TAGS) if d.data is not None]
        except SourceError as exc:
            raise InventoryError([exc.diagnostic]) from None
        if not docs:
            return {}
        doc = docs[0]
        if not isinstance(doc.data, dict):
            raise InventoryError(
                [Diagnostic("a variables file must be a mapping of names to values", where)]
            )
        out: dict[str, object] = {}
        for key, raw in doc.data.items():
            value = resolve(raw, self.passwords, doc.where, (key,), field_path((key,)))
            out[key] = as_secrets(value) if secret else value
        return out

    def layers_of(self, base: Path, kind: str, name: str) -> list[dict[str, object]]:
        """The variables of group or host ``name`` in ``<base>/<kind>`` (``kind`` is
        ``group_vars`` or ``host_vars``), one mapping per file, in the order they apply."""
        return [self.load(path) for path in self.files_of(base / kind, name)]
