"""From a host's variable layers to the :class:`~checkpointctl.model.Host` the transport uses.

Connection settings are read under our names (``address``, ``port``, ``user``,
``connection``, ``identity_file``, ``known_hosts``, ``connect_timeout``) and Ansible's
(``ansible_host``, ``ansible_port``, ``ansible_user``, …, and the older ``ansible_ssh_*``
spellings). Precedence is by layer first (a host's ``ansible_user`` beats a group's
``user``); within one layer our name wins over Ansible's.

SSH arguments (``ansible_ssh_common_args``/``ansible_ssh_extra_args``: ProxyJump,
ProxyCommand, ``-F``...), jump hosts (``ssh_jump``/``bastion``) and privilege escalation
(``ansible_become*``) become the host's typed :class:`~checkpointctl.model.SshSettings` and
:class:`~checkpointctl.model.Become` (see :mod:`checkpointctl.model.access`). Connection
variables that change *how* Ansible would reach a host but that checkpointctl does not implement
(custom ``ansible_ssh_args``, password logins, disabled host key checking) are never dropped:
they stay in the host's variables, and :func:`unsupported_settings` names each one so loading
refuses the host (connecting otherwise than the inventory asks would reach the wrong machine or
fail obscurely). Inert ones (``ansible_python_interpreter``) are left alone.

The Ansible config's connection settings (``remote_user``, ``remote_port``,
``private_key_file``, ``timeout``, ``transport``, ``[ssh_connection]`` arguments,
``[privilege_escalation]``; see :mod:`ansiblecfg`) are the lowest layer, below every inventory
variable, as in Ansible; they are not host variables (``--list`` does not print them).
``ssh_args`` go before every other SSH argument, as Ansible puts them first on ssh's command
line (where the first value of an option wins).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from checkpointctl.errors import Diagnostic, InventoryError, Location
from checkpointctl.inventory.ansiblecfg import ConnectionDefaults
from checkpointctl.inventory.merge import Layer
from checkpointctl.model import INVENTORY_FIELDS, Host, Secret
from checkpointctl.model.access import host_access, parse_ssh_args

ALIASES: dict[str, tuple[str, ...]] = {
    "address": ("address", "ansible_host", "ansible_ssh_host"),
    "port": ("port", "ansible_port", "ansible_ssh_port"),
    "user": ("user", "ansible_user", "ansible_ssh_user"),
    "connection": ("connection", "ansible_connection"),
    "identity_file": (
        "identity_file",
        "ansible_ssh_private_key_file",
        "ansible_private_key_file",
    ),
    "known_hosts": ("known_hosts", "ansible_ssh_known_hosts_file"),
    "connect_timeout": ("connect_timeout", "ansible_timeout", "ansible_ssh_timeout"),
    "trust_on_first_use": ("trust_on_first_use",),
}

_TRUE = {"true", "yes", "on", "1", "y", "t"}


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in _TRUE


def _set(value: object) -> bool:
    return value is not None and value != "" and value != []


UNSUPPORTED: dict[str, tuple[Callable[[object], bool], str]] = {
    "ansible_ssh_args": (_set, "custom ssh arguments"),
    "ansible_sudo": (_truthy, "the old spelling of privilege escalation (use ansible_become)"),
    "ansible_password": (_set, "password logins"),
    "ansible_ssh_pass": (_set, "password logins"),
    "ansible_ssh_password": (_set, "password logins"),
    "ansible_ssh_private_key_passphrase": (_set, "passphrase-protected keys"),
    "ansible_host_key_checking": (lambda v: not _truthy(v), "disabling host key checking"),
    "ansible_ssh_host_key_checking": (lambda v: not _truthy(v), "disabling host key checking"),
}
"""Variable → (is this value one that needs support, what it asks for)."""


def unsupported_settings(merged: dict[str, object]) -> list[str]:
    """``name (what it asks for)`` for every connection variable set to a value we cannot
    honour yet."""
    out: list[str] = []
    for name, (needs, what) in UNSUPPORTED.items():
        if name in merged and needs(merged[name]):
            out.append(f"{name} ({what})")
    return out


def pick(layers: list[Layer], setting: str) -> object:
    """The value of a connection setting: the highest layer that sets any of its names; in
    that layer our name, then Ansible's, then the old ``ansible_ssh_`` one."""
    for layer in reversed(layers):
        for key in ALIASES[setting]:
            if layer.get(key) is not None:
                return layer[key]
    return None


WINDOWS_REFUSED = (
    "os: windows is not supported yet: checkpointctl manages Linux hosts only (SSH and sh, "
    "nftables, the Docker socket, POSIX modes); the Windows backend is designed in "
    "docs/windows.md"
)
"""Why a host marked ``os: windows`` is refused (per host: the other hosts go on)."""


def build_host(
    name: str,
    layers: list[Layer],
    variables: dict[str, object],
    groups: frozenset[str],
    base: Path,
    where: Location | None,
    defaults: ConnectionDefaults | None = None,
) -> Host:
    """The Host for ``name``; raises InventoryError naming the host and setting.
    ``defaults``: the Ansible config's connection settings (the lowest layer)."""
    config_vars = defaults.as_variables() if defaults is not None else {}
    if config_vars:
        layers = [config_vars, *layers]
    access_vars = {**config_vars, **variables}

    def fail(message: str, hint: str | None = None) -> InventoryError:
        return InventoryError([Diagnostic(message, where, name, hint=hint)])

    def get(setting: str) -> object:
        if not any(key in access_vars for key in ALIASES[setting]):
            return None
        value = pick(layers, setting)
        if isinstance(value, Secret):
            raise fail(
                f"{setting} comes from a vaulted value; connection settings must be plain",
                hint="vault passwords and tokens, not addresses, users or ports",
            )
        return value

    def path_of(setting: str) -> str | None:
        value = get(setting)
        if value is None:
            return None
        try:
            p = Path(str(value)).expanduser()
        except RuntimeError:  # '~user/...' for a user that does not exist
            raise fail(f"cannot expand '~' in {str(value)!r}") from None
        return str(p if p.is_absolute() else base / p)

    refused = None
    if str(variables.get("os") or "").strip().lower() == "windows":
        refused = str(Diagnostic(WINDOWS_REFUSED, where, name))
    conn_raw = str(get("connection") or "ssh")
    connection: Literal["ssh", "local"]
    if conn_raw == "local":
        connection = "local"
    elif conn_raw in ("ssh", "paramiko", "smart"):
        connection = "ssh"
    else:
        raise fail(f"unsupported connection {conn_raw!r} (use ssh or local)")
    port_raw, timeout_raw = get("port"), get("connect_timeout")
    try:
        port = int(str(port_raw)) if port_raw is not None else 22
        timeout = float(str(timeout_raw)) if timeout_raw is not None else 10.0
    except ValueError:
        raise fail("port and connect_timeout must be numbers") from None
    if not 0 < port < 65536:
        raise fail(f"port {port} out of range")
    address, user = get("address"), get("user")
    try:
        ssh, become = host_access(access_vars)
    except ValueError as e:
        raise fail(str(e)) from None
    if defaults is not None and defaults.ssh_args:
        first = parse_ssh_args(defaults.ssh_args, "ssh_args")  # checked when the config was read
        ssh = dataclasses.replace(
            ssh,
            options=first.options + ssh.options,
            config_file=ssh.config_file or first.config_file,
        )
    given = frozenset(f for f in INVENTORY_FIELDS if get(f) is not None)
    return Host(
        name=name,
        address=name if address is None else str(address),
        port=port,
        user="root" if user is None else str(user),
        connection=connection,
        groups=groups,
        identity_file=path_of("identity_file"),
        known_hosts=path_of("known_hosts"),
        trust_on_first_use=get("trust_on_first_use") is True,
        connect_timeout=timeout,
        vars=variables,
        ssh=dataclasses.replace(ssh, given=given),
        become=become,
        refused=refused,
    )
