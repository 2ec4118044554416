"""Executable (dynamic) inventories and the JSON ``ansible-inventory --list`` prints.

A dynamic inventory is an executable run as ``[path, "--list"]`` (argv, no shell, a timeout,
the caller's environment): it prints JSON whose keys are groups (``{"hosts": [...], "vars":
{...}, "children": [...]}``, or a bare list of hosts) plus ``_meta.hostvars`` with each
host's variables. Without ``_meta.hostvars`` the script is asked ``--host NAME`` once per host,
as Ansible does. The same shape in a static ``.json`` file (what ``ansible-inventory --list``
or ``checkpointctl inventory --list`` printed) is read the same way. Vaulted values in that
JSON (``{"__ansible_vault": "$ANSIBLE_VAULT;…"}``) become secrets; ``{"__ansible_unsafe": x}``
is ``x``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable

from checkpointctl.errors import Diagnostic, InventoryError, Location
from checkpointctl.inventory.ansible_vault import VaultPasswords
from checkpointctl.inventory.data import InventoryData
from checkpointctl.inventory.values import decrypt_value

SCRIPT_TIMEOUT = 120.0
"""Seconds a dynamic inventory may take; cloud APIs can be slow, a hung one must not be."""

MAX_OUTPUT = 64 * 1024 * 1024

VAULT_KEY = "__ansible_vault"
UNSAFE_KEY = "__ansible_unsafe"


def run_script(path: str, *args: str) -> str:
    """The stdout of ``[path, *args]``; raises InventoryError naming the script on failure
    (with the end of its stderr, which scripts use for their own messages)."""
    where = Location(path, 1, 1)
    timeout = SCRIPT_TIMEOUT
    argv = [os.path.abspath(path), *args]
    try:
        done = subprocess.run(  # argv, no shell
            argv, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise InventoryError(
            [Diagnostic(f"dynamic inventory {' '.join(args)} took over {timeout:g}s", where)]
        ) from None
    except OSError as exc:
        raise InventoryError(
            [Diagnostic(f"cannot run the dynamic inventory: {exc.strerror}", where)]
        ) from None
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-500:]
        raise InventoryError(
            [
                Diagnostic(
                    f"dynamic inventory {' '.join(args)} exited with status {done.returncode}"
                    + (f": {tail}" if tail else ""),
                    where,
                )
            ]
        )
    if len(done.stdout) > MAX_OUTPUT:
        raise InventoryError([Diagnostic("dynamic inventory printed over 64 MiB", where)])
    return done.stdout.decode("utf-8", "surrogateescape")


def parse_json(text: str, source: str, what: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InventoryError(
            [Diagnostic(f"{what} is not valid JSON: {exc}", Location(source, 1, 1))]
        ) from None


def _values(value: object, passwords: VaultPasswords, where: Location, name: str) -> object:
    if isinstance(value, dict):
        if len(value) == 1 and VAULT_KEY in value and isinstance(value[VAULT_KEY], str):
            return decrypt_value(value[VAULT_KEY], passwords, where, name)
        if len(value) == 1 and UNSAFE_KEY in value:
            return _values(value[UNSAFE_KEY], passwords, where, name)
        return {k: _values(v, passwords, where, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_values(v, passwords, where, name) for v in value]
    return value


def read_listing(
    listing: object,
    data: InventoryData,
    source: str,
    passwords: VaultPasswords,
    host_vars: Callable[[str], object] | None = None,
) -> None:
    """Add a ``--list`` JSON document to ``data``. ``host_vars(name)`` answers for hosts when
    the listing has no ``_meta.hostvars`` (a script's ``--host``); without it, none."""
    where = Location(source, 1, 1)

    def bad(message: str) -> InventoryError:
        return InventoryError([Diagnostic(message, where)])

    if not isinstance(listing, dict):
        raise bad("an inventory listing must be a JSON object of groups")
    meta_vars: object = None
    hosts_seen: list[str] = []
    for group, body in listing.items():
        if group == "_meta":
            if not isinstance(body, dict):
                raise bad("_meta must be an object")
            meta_vars = body.get("hostvars")
            if meta_vars is not None and not isinstance(meta_vars, dict):
                raise bad("_meta.hostvars must be an object of hosts")
            continue
        data.add_group(group, where)
        if not isinstance(body, dict):
            body = {"hosts": body}
        elif not any(k in body for k in ("hosts", "vars", "children")):
            body = {"hosts": [group], "vars": body}  # Ansible's "group as its only host"
        hosts = body.get("hosts", [])
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise bad(f"{group}.hosts must be a list of host names")
        for name in hosts:
            data.add_host(name, group, None, where)
            if name not in hosts_seen:
                hosts_seen.append(name)
        gvars = body.get("vars", {})
        if not isinstance(gvars, dict):
            raise bad(f"{group}.vars must be an object")
        for key, value in gvars.items():
            data.set_group_var(group, key, _values(value, passwords, where, key))
        children = body.get("children", [])
        if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
            raise bad(f"{group}.children must be a list of group names")
        for child in children:
            data.add_group(child, where)
            data.add_child(group, child, where)
    for name in hosts_seen:
        if isinstance(meta_vars, dict):
            hvars = meta_vars.get(name, {})
        elif host_vars is not None:
            hvars = host_vars(name)
        else:
            hvars = {}
        if not isinstance(hvars, dict):
            raise bad(f"the variables of host {name!r} must be an object")
        for key, value in hvars.items():
            data.set_host_var(name, key, _values(value, passwords, where, key))


def read_script(path: str, data: InventoryData, passwords: VaultPasswords) -> None:
    """Run a dynamic inventory and add what it lists to ``data``."""
    listing = parse_json(run_script(path, "--list"), path, "the output of --list")

    def host_vars(name: str) -> object:
        return parse_json(run_script(path, "--host", name), path, f"the output of --host {name}")

    read_listing(listing, data, path, passwords, host_vars)
