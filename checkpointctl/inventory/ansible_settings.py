"""Every Ansible setting that matters to reading inventories, connecting, vault and become,
and what checkpointctl does with each: honoured, refused (for which values, and why) or
irrelevant.

The rule for keys not in :data:`SETTINGS` (forks, callbacks, retry files, gathering, roles
paths…): they are irrelevant, because the table holds every setting ansible-core itself
defines for inventories, connections (ssh, paramiko), vault and become — a unit test checks
that against ansible-core's own setting definitions (the test oracle's copy). Names, sections,
environment variables and the order in which several spellings win are Ansible's
(``config/base.yml`` and the plugins' documentation). :mod:`ansiblecfg` reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum


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
