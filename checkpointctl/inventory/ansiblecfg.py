"""``ansible.cfg`` as Ansible finds and reads it: what changes an inventory's meaning.

An operator's Ansible set-up often has an ``ansible.cfg`` (or ``ANSIBLE_*`` variables) that
changes what the same inventory means: ``hash_behaviour = merge`` merges dictionaries across
precedence levels, ``[defaults] inventory`` is the ``-i`` when none is given, ``remote_user``
is who logs in… Reading the inventory without it would give other variables or other logins
than Ansible does, without a word. So every setting Ansible reads for inventories,
connections, vault passwords and privilege escalation is in :data:`SETTINGS`, each one either
*honoured* (it means here what it means to Ansible), *refused* for the values we cannot honour
(an error naming file:line, section and key, with what to do instead), or *irrelevant* (it has
no meaning for checkpointctl: a ControlPath, a retry count, how files are copied).

The rule for keys not in :data:`SETTINGS` (forks, callbacks, retry files, gathering, roles
paths…): they are irrelevant, because the table holds every setting ansible-core itself
defines for inventories, connections (ssh, paramiko), vault and become — the unit tests check
that against ansible-core's own setting definitions (the test oracle's copy).

Finding the file, as Ansible does (first found wins): ``$ANSIBLE_CONFIG`` (a file, or a
directory holding ``ansible.cfg``), ``./ansible.cfg`` — unless the current directory is
world-writable, where anybody could have put it (Ansible then ignores it, and so do we, with
a warning) —, ``~/.ansible.cfg``, ``/etc/ansible/ansible.cfg``. Reading it: Python's
``configparser`` as Ansible configures it (``#`` and ``;`` start a comment line, ``;`` after
a space starts an inline comment, keys are case-insensitive, no ``%`` interpolation), values
unquoted; an ``ANSIBLE_*`` variable wins over the file for the setting it names. Relative
paths in the file are relative to the file's folder, ``~`` and ``$VAR`` are expanded.
"""

from __future__ import annotations

import configparser
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from checkpointctl.errors import Diagnostic, InventoryError, Location, Severity
from checkpointctl.model.access import parse_ssh_args


class Handling(StrEnum):
    """What checkpointctl does with an Ansible setting."""

    HONOURED = "honoured"
    """It means here what it means to Ansible."""
    REFUSED = "refused"
    """Some values cannot be honoured: those are an error (see :class:`Scope`)."""
    IRRELEVANT = "irrelevant"
    """It changes nothing checkpointctl does."""


class Scope(StrEnum):
    """What a refused setting would change, hence when refusing it stops a command."""

    INVENTORY = "inventory"
    """Which hosts, groups or variables the inventory has: an error for every command."""
    CONNECTION = "connection"
    """How hosts are reached: an error for commands that connect, a warning for
    ``checkpointctl inventory`` (which only prints the inventory)."""


def _any(_: str) -> bool:
    return True


def _set(value: str) -> bool:
    return value.strip() != ""


_TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})


def boolean(value: str) -> bool:
    """Ansible's non-strict boolean: ``y yes on 1 true t`` (any case) are true, all else false."""
    return value.strip().lower() in _TRUE


def _true(value: str) -> bool:
    return boolean(value)


def _false(value: str) -> bool:
    return not boolean(value)


@dataclass(frozen=True)
class Setting:
    """One Ansible setting: where Ansible reads it (``[section] key`` entries and environment
    variables, each later one winning over earlier ones, as in Ansible) and what we do."""

    name: str
    ini: tuple[tuple[str, str], ...]
    env: tuple[str, ...]
    handling: Handling
    why: str = ""
    """Refused: what the setting asks for, and what to do instead."""
    refused_if: Callable[[str], bool] = _any
    scope: Scope = Scope.CONNECTION
    transport: str | None = None
    """Read by Ansible only with this connection plugin (paramiko's own section)."""


H, R, X = Handling.HONOURED, Handling.REFUSED, Handling.IRRELEVANT
D, PE, SSH, PAR, INV = (
    "defaults",
    "privilege_escalation",
    "ssh_connection",
    "paramiko_connection",
    "inventory",
)
_KEYS_ONLY = "password logins (checkpointctl logs in with keys: the agent or an identity file)"
_MOVE = "checkpointctl reads the [defaults] spelling of this setting: move it there"

SETTINGS: tuple[Setting, ...] = (
    # --- inventory --------------------------------------------------------------------------
    Setting("hash_behaviour", ((D, "hash_behaviour"),), ("ANSIBLE_HASH_BEHAVIOUR",), H),
    Setting("inventory", ((D, "inventory"),), ("ANSIBLE_INVENTORY",), H),
    Setting("enable_plugins", ((INV, "enable_plugins"),), ("ANSIBLE_INVENTORY_ENABLED",), H),
    Setting(
        "precedence", ((D, "precedence"),), ("ANSIBLE_PRECEDENCE",), R,
        "another variable precedence order (checkpointctl applies Ansible's default order): "
        "remove it", scope=Scope.INVENTORY,
    ),
    Setting(
        "inventory_ignore_extensions",
        ((D, "inventory_ignore_extensions"), (INV, "ignore_extensions")),
        ("ANSIBLE_INVENTORY_IGNORE",), R,
        "other file extensions to skip in inventory folders (checkpointctl skips Ansible's "
        "default ones): remove it", scope=Scope.INVENTORY,
    ),
    Setting(
        "inventory_ignore_patterns",
        ((D, "inventory_ignore_patterns"), (INV, "ignore_patterns")),
        ("ANSIBLE_INVENTORY_IGNORE_REGEX",), R,
        "file name patterns to skip in inventory folders: remove it", scope=Scope.INVENTORY,
    ),
    Setting(
        "vars_plugins_enabled", ((D, "vars_plugins_enabled"),), ("ANSIBLE_VARS_ENABLED",), R,
        "other vars plugins than host_group_vars (checkpointctl reads group_vars/host_vars "
        "only): remove it",
        refused_if=lambda v: {p.strip() for p in v.split(",")}
        - {"host_group_vars", "ansible.builtin.host_group_vars"} != set()
        or not v.strip(),
        scope=Scope.INVENTORY,
    ),
    Setting(
        "playbook_vars_root", ((D, "playbook_vars_root"),), ("ANSIBLE_PLAYBOOK_VARS_ROOT",), R,
        "another folder for group_vars/host_vars beside the playbook (checkpointctl reads "
        "them beside the policies): remove it", scope=Scope.INVENTORY,
    ),
    Setting("unparsed_is_failed", ((INV, "unparsed_is_failed"),),
            ("ANSIBLE_INVENTORY_UNPARSED_FAILED",), X),  # we always fail
    Setting("any_unparsed_is_failed", ((INV, "any_unparsed_is_failed"),),
            ("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED",), X),  # we always fail
    Setting("inventory_unparsed_warning", ((INV, "inventory_unparsed_warning"),),
            ("ANSIBLE_INVENTORY_UNPARSED_WARNING",), X),
    Setting("inventory_export", ((INV, "export"),), ("ANSIBLE_INVENTORY_EXPORT",), X),
    Setting("inventory_plugins", ((D, "inventory_plugins"),), ("ANSIBLE_INVENTORY_PLUGINS",), X),
    Setting("vars_plugins", ((D, "vars_plugins"),), ("ANSIBLE_VARS_PLUGINS",), X),
    Setting("run_vars_plugins", ((D, "run_vars_plugins"),), ("ANSIBLE_RUN_VARS_PLUGINS",), X),
    # --- vault ------------------------------------------------------------------------------
    Setting("vault_password_file", ((D, "vault_password_file"),),
            ("ANSIBLE_VAULT_PASSWORD_FILE",), H),
    Setting("vault_identity_list", ((D, "vault_identity_list"),),
            ("ANSIBLE_VAULT_IDENTITY_LIST",), H),
    Setting("vault_identity", ((D, "vault_identity"),), ("ANSIBLE_VAULT_IDENTITY",), H),
    Setting("ask_vault_pass", ((D, "ask_vault_pass"),), ("ANSIBLE_ASK_VAULT_PASS",), H),
    Setting(
        "vault_id_match", ((D, "vault_id_match"),), ("ANSIBLE_VAULT_ID_MATCH",), R,
        "only the password of a value's own vault id may open it (checkpointctl tries that "
        "one first, then the others): remove it", refused_if=_true, scope=Scope.INVENTORY,
    ),
    Setting("vault_encrypt_identity", ((D, "vault_encrypt_identity"),),
            ("ANSIBLE_VAULT_ENCRYPT_IDENTITY",), X),  # encrypting only
    Setting("vault_encrypt_salt", ((D, "vault_encrypt_salt"),),
            ("ANSIBLE_VAULT_ENCRYPT_SALT",), X),  # encrypting only
    # --- connection -------------------------------------------------------------------------
    Setting("transport", ((D, "transport"),), ("ANSIBLE_TRANSPORT",), H),
    Setting("remote_user", ((D, "remote_user"),), ("ANSIBLE_REMOTE_USER",), H),
    Setting("remote_port", ((D, "remote_port"),), ("ANSIBLE_REMOTE_PORT",), H),
    Setting("private_key_file", ((D, "private_key_file"),), ("ANSIBLE_PRIVATE_KEY_FILE",), H),
    Setting("timeout", ((D, "timeout"), (SSH, "timeout")),
            ("ANSIBLE_TIMEOUT", "ANSIBLE_SSH_TIMEOUT"), H),
    Setting(
        "host_key_checking", ((D, "host_key_checking"), (SSH, "host_key_checking")),
        ("ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_SSH_HOST_KEY_CHECKING"), R,
        "disabling host key checking: checkpointctl always checks host keys; remove it, and "
        "to record the keys of hosts met for the first time put `StrictHostKeyChecking "
        "accept-new` in the ssh_config (~/.ssh/config or -F FILE)",
        refused_if=_false,
    ),
    Setting("ssh_args", ((SSH, "ssh_args"),), ("ANSIBLE_SSH_ARGS",), H),
    Setting("ssh_common_args", ((SSH, "ssh_common_args"),), ("ANSIBLE_SSH_COMMON_ARGS",), H),
    Setting("ssh_extra_args", ((SSH, "ssh_extra_args"),), ("ANSIBLE_SSH_EXTRA_ARGS",), H),
    Setting("ask_pass", ((D, "ask_pass"),), ("ANSIBLE_ASK_PASS",), R, _KEYS_ONLY,
            refused_if=_true),
    Setting("connection_password_file", ((D, "connection_password_file"),),
            ("ANSIBLE_CONNECTION_PASSWORD_FILE",), R, _KEYS_ONLY, refused_if=_set),
    Setting(
        "ssh_executable", ((SSH, "ssh_executable"),), ("ANSIBLE_SSH_EXECUTABLE",), R,
        "another ssh program (checkpointctl speaks SSH itself): remove it",
        refused_if=lambda v: v.strip() not in ("", "ssh"),
    ),
    Setting(
        "pkcs11_provider", ((SSH, "pkcs11_provider"),), ("ANSIBLE_PKCS11_PROVIDER",), R,
        "keys on a PKCS#11 token (not supported; the ssh agent can offer them)",
        refused_if=_set,
    ),
    Setting("pipelining", ((D, "pipelining"), ("connection", "pipelining"), (SSH, "pipelining")),
            ("ANSIBLE_PIPELINING", "ANSIBLE_SSH_PIPELINING"), X),
    Setting("retries", (("connection", "retries"), (SSH, "retries")), ("ANSIBLE_SSH_RETRIES",), X),
    Setting("control_path", ((SSH, "control_path"),), ("ANSIBLE_SSH_CONTROL_PATH",), X),
    Setting("control_path_dir", ((SSH, "control_path_dir"),),
            ("ANSIBLE_SSH_CONTROL_PATH_DIR",), X),
    Setting("transfer_method", ((SSH, "transfer_method"),), ("ANSIBLE_SSH_TRANSFER_METHOD",), X),
    Setting("sftp_batch_mode", ((SSH, "sftp_batch_mode"),), ("ANSIBLE_SFTP_BATCH_MODE",), X),
    Setting("usetty", ((SSH, "usetty"),), ("ANSIBLE_SSH_USETTY",), X),
    Setting("verbosity", ((SSH, "verbosity"),), ("ANSIBLE_SSH_VERBOSITY",), X),
    Setting("scp_executable", ((SSH, "scp_executable"),), ("ANSIBLE_SCP_EXECUTABLE",), X),
    Setting("sftp_executable", ((SSH, "sftp_executable"),), ("ANSIBLE_SFTP_EXECUTABLE",), X),
    Setting("scp_extra_args", ((SSH, "scp_extra_args"),), ("ANSIBLE_SCP_EXTRA_ARGS",), X),
    Setting("sftp_extra_args", ((SSH, "sftp_extra_args"),), ("ANSIBLE_SFTP_EXTRA_ARGS",), X),
    Setting("password_mechanism", ((SSH, "password_mechanism"),),
            ("ANSIBLE_SSH_PASSWORD_MECHANISM",), X),
    Setting("sshpass_prompt", ((SSH, "sshpass_prompt"),), ("ANSIBLE_SSHPASS_PROMPT",), X),
    Setting("ssh_agent", (("connection", "ssh_agent"),), ("ANSIBLE_SSH_AGENT",), X),
    Setting("ssh_agent_executable", (("connection", "ssh_agent_executable"),),
            ("ANSIBLE_SSH_AGENT_EXECUTABLE",), X),
    Setting("ssh_agent_key_lifetime", (("connection", "ssh_agent_key_lifetime"),),
            ("ANSIBLE_SSH_AGENT_KEY_LIFETIME",), X),
    Setting("use_persistent_connections", ((D, "use_persistent_connections"),),
            ("ANSIBLE_USE_PERSISTENT_CONNECTIONS",), X),
    Setting("task_timeout", ((D, "task_timeout"),), ("ANSIBLE_TASK_TIMEOUT",), X),
    Setting("connection_plugins", ((D, "connection_plugins"),),
            ("ANSIBLE_CONNECTION_PLUGINS",), X),
    # paramiko's own section: Ansible reads it only with `transport = paramiko`
    Setting("paramiko_remote_user", ((PAR, "remote_user"),), ("ANSIBLE_PARAMIKO_REMOTE_USER",),
            R, _MOVE, transport="paramiko"),
    Setting("paramiko_remote_port", ((PAR, "remote_port"),), ("ANSIBLE_REMOTE_PARAMIKO_PORT",),
            R, _MOVE, transport="paramiko"),
    Setting("paramiko_timeout", ((PAR, "timeout"),), ("ANSIBLE_PARAMIKO_TIMEOUT",), R, _MOVE,
            transport="paramiko"),
    Setting("paramiko_private_key_file", ((PAR, "private_key_file"),),
            ("ANSIBLE_PARAMIKO_PRIVATE_KEY_FILE",), R, _MOVE, transport="paramiko"),
    Setting("paramiko_host_key_checking", ((PAR, "host_key_checking"),),
            ("ANSIBLE_PARAMIKO_HOST_KEY_CHECKING",), R,
            "disabling host key checking: checkpointctl always checks host keys; remove it "
            "(`StrictHostKeyChecking accept-new` in ssh_config records new hosts' keys)",
            refused_if=_false, transport="paramiko"),
    Setting("host_key_auto_add", ((PAR, "host_key_auto_add"),),
            ("ANSIBLE_PARAMIKO_HOST_KEY_AUTO_ADD",), R,
            "accepting unknown host keys: use `StrictHostKeyChecking accept-new` in ssh_config "
            "instead", refused_if=_true, transport="paramiko"),
    Setting("look_for_keys", ((PAR, "look_for_keys"),), ("ANSIBLE_PARAMIKO_LOOK_FOR_KEYS",), R,
            "not trying ~/.ssh keys: use `IdentitiesOnly yes` in ssh_config instead",
            refused_if=_false, transport="paramiko"),
    Setting("proxy_command", ((PAR, "proxy_command"),), ("ANSIBLE_PARAMIKO_PROXY_COMMAND",), R,
            "a proxy command: set ProxyCommand or ProxyJump in ssh_config, or in "
            "ansible_ssh_common_args", refused_if=_set, transport="paramiko"),
    Setting("paramiko_pty", ((PAR, "pty"),), ("ANSIBLE_PARAMIKO_PTY",), X),
    Setting("record_host_keys", ((PAR, "record_host_keys"),),
            ("ANSIBLE_PARAMIKO_RECORD_HOST_KEYS",), X),
    Setting("banner_timeout", ((PAR, "banner_timeout"),), ("ANSIBLE_PARAMIKO_BANNER_TIMEOUT",), X),
    Setting("use_rsa_sha2_algorithms", ((PAR, "use_rsa_sha2_algorithms"),),
            ("ANSIBLE_PARAMIKO_USE_RSA_SHA2_ALGORITHMS",), X),
    # --- privilege escalation ---------------------------------------------------------------
    Setting("become", ((PE, "become"),), ("ANSIBLE_BECOME",), H),
    Setting("become_method", ((PE, "become_method"),), ("ANSIBLE_BECOME_METHOD",), H),
    Setting("become_user", ((PE, "become_user"), ("sudo_become_plugin", "user")),
            ("ANSIBLE_BECOME_USER", "ANSIBLE_SUDO_USER"), H),
    Setting("become_ask_pass", ((PE, "become_ask_pass"),), ("ANSIBLE_BECOME_ASK_PASS",), R,
            "asking for the sudo password (give a vaulted ansible_become_password, or a "
            "NOPASSWD sudo rule)", refused_if=_true),
    Setting("become_password_file", ((D, "become_password_file"),),
            ("ANSIBLE_BECOME_PASSWORD_FILE",), R,
            "a sudo password file (give a vaulted ansible_become_password, or a NOPASSWD "
            "sudo rule)", refused_if=_set),
    Setting("become_pass", (("sudo_become_plugin", "password"),),
            ("ANSIBLE_BECOME_PASS", "ANSIBLE_SUDO_PASS"), R,
            "a sudo password in plain text (give a vaulted ansible_become_password)",
            refused_if=_set),
    Setting("become_exe", ((PE, "become_exe"), ("sudo_become_plugin", "executable")),
            ("ANSIBLE_BECOME_EXE", "ANSIBLE_SUDO_EXE"), R,
            "another sudo program (checkpointctl runs `sudo -n` or `sudo -S`)", refused_if=_set),
    Setting("become_flags", ((PE, "become_flags"), ("sudo_become_plugin", "flags")),
            ("ANSIBLE_BECOME_FLAGS", "ANSIBLE_SUDO_FLAGS"), R,
            "other sudo flags (checkpointctl runs `sudo -n` or `sudo -S`)", refused_if=_set),
    Setting("su", ((D, "su"),), ("ANSIBLE_SU",), R, "escalating with su (only sudo)",
            refused_if=_true),
    Setting("sudo_chdir", (("sudo_become_plugin", "chdir"),), ("ANSIBLE_SUDO_CHDIR",), X),
    Setting("become_allow_same_user", ((PE, "become_allow_same_user"),),
            ("ANSIBLE_BECOME_ALLOW_SAME_USER",), X),
    Setting("agnostic_become_prompt", ((PE, "agnostic_become_prompt"),),
            ("ANSIBLE_AGNOSTIC_BECOME_PROMPT",), X),
    Setting("become_plugins", ((D, "become_plugins"),), ("ANSIBLE_BECOME_PLUGINS",), X),
)  # fmt: skip
"""Every setting Ansible reads for inventories, connections, vault and become."""

BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}

#: Inventory plugins whose formats checkpointctl reads (``auto`` only reads plugin
#: configuration files, ``toml`` TOML files: listing them enables nothing we read otherwise).
KNOWN_PLUGINS = frozenset({"host_list", "script", "yaml", "ini", "auto", "toml"})
DEFAULT_PLUGINS = frozenset(KNOWN_PLUGINS)
TRANSPORTS = {"ssh": "ssh", "smart": "ssh", "paramiko": "ssh", "paramiko_ssh": "ssh",
              "local": "local"}  # fmt: skip


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
    return tuple(_expand(p.strip(), origin.base) for p in value.split(",") if p.strip())


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
        identity_file=_expand(key[0], key[1].base) if key and key[0] else None,
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
        password_file=_expand(password_file[0], password_file[1].base)
        if password_file and password_file[0]
        else None,
        identity=identity[0].strip() if identity and identity[0].strip() else None,
        ask=boolean(ask[0]) if ask else False,
    )
