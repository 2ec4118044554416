"""``ansible.cfg`` as Ansible finds and reads it: what changes an inventory's meaning.

An operator's Ansible set-up often has an ``ansible.cfg`` (or ``ANSIBLE_*`` variables) that
changes what the same inventory means: ``hash_behaviour = merge`` merges dictionaries across
precedence levels, ``[defaults] inventory`` is the ``-i`` when none is given, ``remote_user``
is who logs in… Reading the inventory without it would give other variables or other logins
than Ansible does, without a word. So every setting Ansible reads for inventories,
connections, vault passwords and privilege escalation is in
:data:`~checkpointctl.inventory.ansible_settings.SETTINGS`, each one either
*honoured* (it means here what it means to Ansible), *refused* for the values we cannot honour
(an error naming file:line, section and key, with what to do instead), or *irrelevant* (it has
no meaning for checkpointctl: a ControlPath, a retry count, how files are copied).

Keys not in that table (forks, callbacks, retry files, gathering…) are irrelevant: see
:mod:`ansible_settings` for the rule.

Finding the file, as Ansible does (first found wins): ``$ANSIBLE_CONFIG`` (a file, or a
directory holding ``ansible.cfg``), ``./ansible.cfg`` — unless the current directory is
world-writable, where anybody could have put it (Ansible then ignores it, and so do we, with
a warning) —, ``~/.ansible.cfg``, ``/etc/ansible/ansible.cfg``. Reading it: Python's
``configparser`` as Ansible configures it (``#`` and ``;`` start a comment line, ``;`` after
a space starts an inline comment, keys are case-insensitive, no ``%`` interpolation), values
unquoted; an ``ANSIBLE_*`` variable wins over the file for the setting it names. Relative
paths in the file are relative to the file's folder, ``~`` and ``$VAR`` are expanded, and
``{{CWD}}`` in a path setting is the current directory (Ansible's ``resolve_path``).
"""

from __future__ import annotations

import configparser
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from checkpointctl.errors import Diagnostic, InventoryError, Location, Severity
from checkpointctl.inventory.ansible_settings import (
    BY_NAME,
    DEFAULT_PLUGINS,
    KNOWN_PLUGINS,
    SETTINGS,
    TRANSPORTS,
    Handling,
    Scope,
    Setting,
    boolean,
)
from checkpointctl.model.access import parse_ssh_args

# --- the values a config gives ----------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where a value was set: a file line (``location``, ``field`` ``[section] key``) or an
    environment variable (``field`` ``$NAME``). ``base``: what relative paths start from."""

    field: str
    location: Location | None
    base: Path

    def __str__(self) -> str:
        return f"{self.location}: {self.field}" if self.location else self.field


@dataclass(frozen=True)
class ConnectionDefaults:
    """Connection settings from the config: the lowest precedence, below every inventory
    variable. None: not set (the usual default applies, and ssh_config may supply it)."""

    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    connect_timeout: float | None = None
    connection: str | None = None
    ssh_args: str | None = None
    ssh_common_args: str | None = None
    ssh_extra_args: str | None = None
    become: bool | None = None
    become_user: str | None = None
    become_method: str | None = None

    def as_variables(self) -> dict[str, object]:
        """The settings under the inventory variables' names (what a host's own variables
        override); ``ssh_args`` is not a variable we read (it goes first, see hosts)."""
        pairs: dict[str, object] = {
            "ansible_user": self.user,
            "ansible_port": self.port,
            "ansible_private_key_file": self.identity_file,
            "ansible_timeout": self.connect_timeout,
            "ansible_connection": self.connection,
            "ansible_ssh_common_args": self.ssh_common_args,
            "ansible_ssh_extra_args": self.ssh_extra_args,
            "ansible_become": self.become,
            "ansible_become_user": self.become_user,
            "ansible_become_method": self.become_method,
        }
        return {k: v for k, v in pairs.items() if v is not None}


@dataclass(frozen=True)
class VaultDefaults:
    """Vault passwords from the config, as Ansible combines them with ``--vault-id``: the
    ``vault_identity_list`` first, then the command line's, then ``vault_password_file``
    (labelled ``vault_identity``); ``ask``: also ask on the terminal."""

    identity_list: tuple[str, ...] = ()
    password_file: str | None = None
    identity: str | None = None
    ask: bool = False


@dataclass(frozen=True)
class Refusal:
    """A setting whose value we cannot honour."""

    diagnostic: Diagnostic
    scope: Scope


@dataclass(frozen=True)
class AnsibleConfig:
    """What the Ansible configuration in effect says that matters to checkpointctl."""

    path: str | None = None
    merge_hashes: bool = False
    inventory: tuple[str, ...] = ()
    """``[defaults] inventory``: the ``-i`` when the command line gives none (() if unset)."""
    enabled_plugins: frozenset[str] = DEFAULT_PLUGINS
    enabled_plugins_origin: Origin | None = None
    connection: ConnectionDefaults = field(default_factory=ConnectionDefaults)
    vault: VaultDefaults = field(default_factory=VaultDefaults)
    refusals: tuple[Refusal, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()

    def check(self, *, strict: bool) -> list[Diagnostic]:
        """The warnings to print; raises the errors. ``strict`` (every command that may
        connect): a refused connection setting is an error, else a warning.

        Raises:
            InventoryError: every refused setting that matters to this command.
        """
        errors = [r.diagnostic for r in self.refusals if strict or r.scope is Scope.INVENTORY]
        if errors:
            raise InventoryError(errors)
        demoted = [
            Diagnostic(
                r.diagnostic.message, r.diagnostic.location, r.diagnostic.field,
                hint=r.diagnostic.hint, severity=Severity.WARNING,
            )
            for r in self.refusals
        ]  # fmt: skip
        return [*self.warnings, *demoted]


NO_CONFIG = AnsibleConfig()
"""Ansible's defaults: no file, no variables."""


# --- finding and parsing ------------------------------------------------------------------------


def _expand(path: str, base: Path) -> str:
    """A path as Ansible resolves it: ``~`` and ``$VAR`` expanded, relative to ``base``."""
    full = os.path.expanduser(os.path.expandvars(path))
    return os.path.normpath(full if os.path.isabs(full) else os.path.join(base, full))


CWD = "{{CWD}}"
"""Ansible's magic in a path setting: the current directory, put in before anything else."""


def _setting_path(reader: _Reader, value: str, origin: Origin) -> str:
    """A path setting as Ansible's ``resolve_path`` resolves it: :data:`CWD` replaced by the
    current directory, then :func:`_expand` from the setting's base."""
    return _expand(value.replace(CWD, str(reader.cwd)), origin.base)


def find_config_file(env: Mapping[str, str], cwd: Path) -> tuple[Path | None, list[Diagnostic]]:
    """The config file Ansible would read (see the module docstring), and a warning when a
    ``./ansible.cfg`` was passed over because the current directory is world-writable."""
    candidates: list[Path] = []
    from_env: Path | None = None
    if "ANSIBLE_CONFIG" in env:
        from_env = Path(_expand(env["ANSIBLE_CONFIG"], cwd))
        if from_env.is_dir():
            from_env = from_env / "ansible.cfg"
        candidates.append(from_env)
    skipped: Path | None = None
    try:
        here = cwd / "ansible.cfg"
        if os.stat(cwd).st_mode & stat.S_IWOTH:
            if here.exists():
                skipped = here
        else:
            candidates.append(here)
    except OSError:
        pass
    home = env.get("HOME")
    candidates.append(Path(home) / ".ansible.cfg" if home else Path("~/.ansible.cfg").expanduser())
    candidates.append(Path("/etc/ansible/ansible.cfg"))
    found = next((p for p in candidates if p.exists() and os.access(p, os.R_OK)), None)
    warnings: list[Diagnostic] = []
    if skipped is not None and found != from_env:
        warnings.append(
            Diagnostic(
                f"ignoring {skipped}: the current directory {cwd} is world-writable, so "
                "anybody could have written it (Ansible ignores it too)",
                hint="run from a folder only you can write to, or point ANSIBLE_CONFIG at it",
                severity=Severity.WARNING,
            )
        )
    return found, warnings


_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]")
_KEY = re.compile(r"^(?P<key>[^\s=:#;][^=:]*?)\s*[=:]")


class _Ini:
    """One config file's values and the line each key is on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        where = Location(str(path), 1, 1)
        if path.suffix not in (".cfg", ".ini"):
            raise InventoryError(
                [Diagnostic(f"Ansible reads .cfg or .ini config files, not {path.suffix!r}", where)]
            )
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeError) as exc:
            raise InventoryError(
                [Diagnostic(f"cannot read the Ansible config: {exc}", where)]
            ) from None
        self.parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
        try:
            self.parser.read_string(text, str(path))
        except configparser.Error as exc:
            line = getattr(exc, "lineno", None)
            spot = Location(str(path), line, 1) if isinstance(line, int) else where
            message = str(exc).splitlines()[0]
            raise InventoryError(
                [Diagnostic(f"cannot parse the Ansible config: {message}", spot)]
            ) from None
        self.lines: dict[tuple[str, str], int] = {}
        section = ""
        for number, line in enumerate(text.splitlines(), 1):
            head = _SECTION.match(line)
            if head:
                section = head["name"].strip()
                continue
            key = _KEY.match(line)
            if key and section:
                self.lines[(section, key["key"].strip().lower())] = number

    def get(self, section: str, key: str) -> tuple[str, Location] | None:
        value = self.parser.get(section, key, raw=True, fallback=None)
        if value is None:
            return None
        return value, Location(str(self.path), self.lines.get((section, key), 1), 1)


def unquote(value: str) -> str:
    """Ansible's unquoting of ini values: one pair of matching outer quotes comes off."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


class _Reader:
    def __init__(self, ini: _Ini | None, env: Mapping[str, str], cwd: Path) -> None:
        self.ini, self.env, self.cwd = ini, env, cwd
        self.refusals: list[Refusal] = []

    def raw(self, setting: Setting) -> tuple[str, Origin] | None:
        """The setting's value and where it was set: the last of its environment variables
        that is set, else the last of its ini entries present, as Ansible's loops do."""
        for name in reversed(setting.env):
            if name in self.env:
                return self.env[name], Origin(f"${name}", None, self.cwd)
        if self.ini is not None:
            for section, key in reversed(setting.ini):
                found = self.ini.get(section, key)
                if found is not None:
                    value, where = found
                    origin = Origin(f"[{section}] {key}", where, self.ini.path.parent)
                    return unquote(value), origin
        return None

    def refuse(self, origin: Origin, message: str, hint: str | None, scope: Scope) -> None:
        self.refusals.append(
            Refusal(Diagnostic(message, origin.location, origin.field, hint=hint), scope)
        )

    def text(self, name: str) -> tuple[str, Origin] | None:
        return self.raw(BY_NAME[name])

    def integer(self, name: str) -> tuple[int, Origin] | None:
        found = self.text(name)
        if found is None:
            return None
        value, origin = found
        try:
            return int(value.strip()), origin
        except ValueError:
            self.refuse(origin, f"{value!r} is not a whole number", None, Scope.INVENTORY)
            return None


def read_ansible_config(
    env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> AnsibleConfig:
    """The Ansible configuration in effect for a command run in ``cwd`` with ``env`` (by
    default this process's).

    Raises:
        InventoryError: the config file cannot be read or parsed (file:line).
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    path, warnings = find_config_file(env, cwd)
    reader = _Reader(_Ini(path) if path is not None else None, env, cwd)
    transport = reader.text("transport")
    transport_name = transport[0].strip() if transport else "ssh"
    for setting in SETTINGS:
        if setting.handling is not Handling.REFUSED:
            continue
        if setting.transport is not None and setting.transport != transport_name:
            continue
        found = reader.raw(setting)
        if found is not None and setting.refused_if(found[0]):
            value, origin = found
            reader.refuse(origin, f"{value!r} asks for {setting.why}", None, setting.scope)
    merge = _hash_behaviour(reader)
    inventory = _inventory(reader)
    plugins, plugins_origin = _plugins(reader)
    connection = _connection(reader, transport)
    vault = _vault(reader)
    return AnsibleConfig(
        path=None if path is None else str(path),
        merge_hashes=merge,
        inventory=inventory,
        enabled_plugins=plugins,
        enabled_plugins_origin=plugins_origin,
        connection=connection,
        vault=vault,
        refusals=tuple(reader.refusals),
        warnings=tuple(warnings),
    )


def _hash_behaviour(reader: _Reader) -> bool:
    found = reader.text("hash_behaviour")
    if found is None:
        return False
    value, origin = found
    if value.strip() not in ("replace", "merge"):
        reader.refuse(origin, f"{value!r} is not replace or merge", None, Scope.INVENTORY)
    return value.strip() == "merge"


def _inventory(reader: _Reader) -> tuple[str, ...]:
    found = reader.text("inventory")
    if found is None:
        return ()
    value, origin = found
    return tuple(_setting_path(reader, p.strip(), origin) for p in value.split(",") if p.strip())


def _plugins(reader: _Reader) -> tuple[frozenset[str], Origin | None]:
    found = reader.text("enable_plugins")
    if found is None:
        return DEFAULT_PLUGINS, None
    value, origin = found
    names = [unquote(p.strip()) for p in value.split(",") if p.strip()]
    short = {n.removeprefix("ansible.builtin.") for n in names}
    unknown = sorted(short - KNOWN_PLUGINS)
    if unknown:
        reader.refuse(
            origin,
            f"enables inventory plugins checkpointctl does not implement: {', '.join(unknown)}",
            "checkpointctl reads host lists, scripts, YAML and INI inventories: give the "
            "inventory as one of those (e.g. `ansible-inventory --list > inventory.json`)",
            Scope.INVENTORY,
        )
    return frozenset(short & KNOWN_PLUGINS), origin


def _ssh_args(reader: _Reader, name: str) -> str | None:
    found = reader.text(name)
    if found is None or not found[0].strip():
        return None
    value, origin = found
    try:
        parse_ssh_args(value, str(origin))
    except ValueError as exc:
        reader.refuse(origin, str(exc).removeprefix(f"{origin}: "), None, Scope.CONNECTION)
        return None
    return value


def _connection(reader: _Reader, transport: tuple[str, Origin] | None) -> ConnectionDefaults:
    connection: str | None = None
    if transport is not None:
        connection = TRANSPORTS.get(transport[0].strip())
        if connection is None:
            reader.refuse(
                transport[1],
                f"connection {transport[0]!r} is not supported (ssh, smart, paramiko, local)",
                None,
                Scope.CONNECTION,
            )
    user = reader.text("remote_user")
    key = reader.text("private_key_file")
    port = reader.integer("remote_port")
    timeout = reader.integer("timeout")
    if port is not None and not 0 < port[0] < 65536:
        reader.refuse(port[1], f"port {port[0]} out of range", None, Scope.CONNECTION)
        port = None
    become = reader.text("become")
    method = reader.text("become_method")
    if method is not None and method[0].strip() != "sudo":
        reader.refuse(
            method[1], f"{method[0]!r} is not supported (only sudo)", None, Scope.CONNECTION
        )
        method = None  # refused: a listing shows the hosts without it
    become_user = reader.text("become_user")
    return ConnectionDefaults(
        user=user[0] if user and user[0] else None,
        port=port[0] if port else None,
        identity_file=_setting_path(reader, key[0], key[1]) if key and key[0] else None,
        connect_timeout=float(timeout[0]) if timeout else None,
        connection=connection,
        ssh_args=_ssh_args(reader, "ssh_args"),
        ssh_common_args=_ssh_args(reader, "ssh_common_args"),
        ssh_extra_args=_ssh_args(reader, "ssh_extra_args"),
        become=boolean(become[0]) if become else None,
        become_user=become_user[0] if become_user and become_user[0] else None,
        become_method=method[0].strip() if method else None,
    )


def _vault(reader: _Reader) -> VaultDefaults:
    identities = reader.text("vault_identity_list")
    password_file = reader.text("vault_password_file")
    identity = reader.text("vault_identity")
    ask = reader.text("ask_vault_pass")
    return VaultDefaults(
        identity_list=tuple(unquote(i.strip()) for i in identities[0].split(",") if i.strip())
        if identities
        else (),
        password_file=_setting_path(reader, *password_file)
        if password_file and password_file[0]
        else None,
        identity=identity[0].strip() if identity and identity[0].strip() else None,
        ask=boolean(ask[0]) if ask else False,
    )
