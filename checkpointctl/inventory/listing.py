"""The inventory as ``ansible-inventory --list`` and ``--host`` print it.

``--list``: one key per group that has hosts or children (``all`` lists only children, a
group only its *direct* hosts and children, in the order the sources gave them; a group with
neither is left out, though its parent still names it), and ``_meta.hostvars`` with every
host's merged variables (hosts without variables are left out). Ansible's magic variables
(``inventory_hostname``, ``group_names``, …) are not printed, as in Ansible. Secrets print as
``<sensitive>`` (Ansible prints the vault ciphertext instead).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from checkpointctl.inventory.data import ALL
from checkpointctl.inventory.model import Inventory
from checkpointctl.model import REDACTED, Host, JSONValue, Secret

INTERNAL_VARS = frozenset(
    {
        "ansible_config_file", "ansible_diff_mode", "ansible_facts", "ansible_forks",
        "ansible_inventory_sources", "ansible_limit", "ansible_playbook_python",
        "ansible_run_tags", "ansible_skip_tags", "ansible_verbosity", "ansible_version",
        "inventory_dir", "inventory_file", "inventory_hostname", "inventory_hostname_short",
        "groups", "group_names", "omit", "playbook_dir",
    }
)  # fmt: skip
"""Variables ansible-inventory leaves out of its output (magic and run-time ones)."""

SecretText = Callable[[Secret], JSONValue]


def _redacted(_: Secret) -> JSONValue:
    return REDACTED


def _json(value: object, secret: SecretText) -> JSONValue:
    if isinstance(value, Secret):
        return secret(value)
    if isinstance(value, dict):
        return {str(k): _json(v, secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v, secret) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def host_vars(host: Host, secret: SecretText = _redacted) -> dict[str, JSONValue]:
    """A host's variables as ``ansible-inventory --host`` prints them."""
    return {k: _json(v, secret) for k, v in sorted(host.vars.items()) if k not in INTERNAL_VARS}


def listing(inventory: Inventory, secret: SecretText = _redacted) -> dict[str, JSONValue]:
    """The ``ansible-inventory --list`` document of ``inventory``."""
    out: dict[str, JSONValue] = {}
    seen: set[str] = set()
    stack = [ALL]
    while stack:
        name = stack.pop()
        node = inventory.tree[name]
        entry: dict[str, JSONValue] = {}
        if name != ALL and node.hosts:
            entry["hosts"] = list(node.hosts)
        if node.children:
            entry["children"] = list(node.children)
        if entry:
            out[name] = entry
        for child in reversed(node.children):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    hostvars: dict[str, JSONValue] = {}
    for host in inventory.hosts:
        hv = host_vars(host, secret)
        if hv:
            hostvars[host.name] = hv
    out["_meta"] = {"hostvars": hostvars}
    return out


def dumps(document: dict[str, JSONValue]) -> str:
    """JSON as ansible-inventory writes it (sorted keys, four-space indent)."""
    return json.dumps(document, indent=4, sort_keys=True, ensure_ascii=False)
