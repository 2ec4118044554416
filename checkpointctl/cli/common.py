"""What every verb group of the CLI shares: output, the inventory and policy options, loading.

Verb modules (``main``, ``fleet``, ``gitops``, ``trust``, ``vault``) import this module and
never each other, so the CLI has no import cycle.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from checkpointctl.inventory import Inventory
    from checkpointctl.model import Host
    from checkpointctl.policy.build import Decrypt
    from checkpointctl.policy.loader import LoadResult

DEFAULT_PATHS = ["policies"]


def err(text: str) -> None:
    for line in text.splitlines() or [""]:
        print(f"checkpointctl: error: {line}" if line else "", file=sys.stderr)


def warn(text: str) -> None:
    print(text, file=sys.stderr)


def write_output(text: str, path: str | None) -> None:
    if path and path != "-":
        from checkpointctl.localfile import write_atomic

        write_atomic(path, (text if text.endswith("\n") else text + "\n").encode("utf-8"))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


# --- shared loading ------------------------------------------------------------------------


def inventory_of(args: argparse.Namespace, *, strict: bool = True) -> Inventory:
    """The inventory of every ``-i`` (in order), with the Ansible vault passwords given and
    ``group_vars``/``host_vars`` beside the policy repository (as Ansible reads them beside
    the playbook), and ``-F``'s ssh_config for the hosts that name none. The Ansible config in
    effect (``ansible.cfg``, ``ANSIBLE_*``) is read as Ansible reads it: its ``inventory`` is
    the ``-i`` when none is given, and what it changes is honoured or refused (see
    :mod:`checkpointctl.inventory.ansiblecfg`). ``strict``: see
    :func:`checkpointctl.inventory.load_inventory`."""
    from pathlib import Path

    from checkpointctl.errors import CheckpointctlError
    from checkpointctl.inventory import load_inventory
    from checkpointctl.inventory.ansible_vault import passwords_from
    from checkpointctl.inventory.ansiblecfg import read_ansible_config

    config = read_ansible_config()
    for diagnostic in config.check(strict=strict):
        warn(str(diagnostic))
    sources = args.inventory or list(config.inventory)
    if not sources:
        raise CheckpointctlError(
            "this command needs an inventory: -i INVENTORY (or `inventory` in ansible.cfg)"
        )
    playbook_dir = getattr(args, "playbook_dir", None)
    paths = getattr(args, "paths", None)
    if playbook_dir is None and paths is not None:
        first = Path((paths or DEFAULT_PATHS)[0])
        if first.exists():
            playbook_dir = str(first.resolve().parent if first.is_dir() else first.parent.parent)
    passwords = passwords_from(
        getattr(args, "ansible_vault_password_file", None),
        interactive=sys.stdin.isatty(),
        config=config.vault,
    )
    inventory = load_inventory(
        sources, passwords=passwords, playbook_dir=playbook_dir, strict=strict, config=config
    )
    ssh_config = getattr(args, "ssh_config", None)
    if ssh_config is not None:
        inventory = inventory.with_ssh_config(ssh_config, given_by="-F/--ssh-config")
    return inventory


def selected_hosts(args: argparse.Namespace, inventory: Inventory) -> tuple[Host, ...]:
    """The hosts a verb works on: ``--limit``'s pattern, then ``--shard``'s share of those."""
    hosts = inventory.select(getattr(args, "limit", None))
    shard = getattr(args, "shard", None)
    if shard is None:
        return hosts
    from checkpointctl.engine.shard import parse_shard

    return parse_shard(shard).select(hosts)


def decryptor(args: argparse.Namespace) -> Decrypt | None:
    """A decrypt function for vaulted values, or None when no key is configured."""
    from checkpointctl import api

    return api.vault_decryptor(
        getattr(args, "vault_password_file", None), interactive=sys.stdin.isatty()
    )


def load(args: argparse.Namespace, inventory: Inventory, *, need_secrets: bool) -> LoadResult:
    from checkpointctl import api

    decrypt = decryptor(args)
    result = api.load_policies(
        args.paths or DEFAULT_PATHS,
        inventory,
        limit=getattr(args, "limit", None),
        decrypt=decrypt,
        need_secrets=need_secrets,
        on_warning=lambda w: warn(str(w)),
        hosts=selected_hosts(args, inventory),
    )
    return result


# --- parser --------------------------------------------------------------------------------


def add_common(
    p: argparse.ArgumentParser, *, paths: bool = True, inventory: bool = True, ssh: bool = False
) -> None:
    if paths:
        p.add_argument(
            "paths", nargs="*", metavar="PATHS", help="policy files or folders (default: policies/)"
        )
    if inventory:
        add_inventory_options(p, ssh=ssh)
    p.add_argument(
        "--vault-password-file",
        metavar="FILE",
        help="file holding the vault passphrase (or an executable printing it)",
    )


def add_inventory_options(
    p: argparse.ArgumentParser,
    *,
    required: bool = False,
    help_text: str | None = None,
    ssh: bool = False,
) -> None:
    """``-i`` (repeatable, merged in order, as in Ansible) and the Ansible vault password;
    with ``ssh`` (every command that reaches hosts over SSH), ``-F``."""
    p.add_argument(
        "-i",
        "--inventory",
        metavar="INVENTORY",
        action="append",
        required=required,
        help=help_text
        or "Ansible inventory: YAML or INI file, directory, or executable script; "
        "repeat to merge several in order (default: `inventory` in ansible.cfg)",
    )
    p.add_argument(
        "--ansible-vault-password-file",
        "--vault-id",
        metavar="[ID@]FILE|[ID@]prompt",
        action="append",
        help="password of the inventory's Ansible Vault values: a file, an executable printing "
        "it, or 'prompt' (ask on the terminal); ID@ names the vault id it is for, as Ansible's "
        "--vault-id; repeat for several (default $ANSIBLE_VAULT_PASSWORD_FILE, else a prompt "
        "on a terminal)",
    )
    if ssh:
        add_ssh_config_option(p)


def add_ssh_config_option(p: argparse.ArgumentParser) -> None:
    """``-F FILE``, as ``ssh -F``: the ssh_config of every host that names none itself."""
    p.add_argument(
        "-F",
        "--ssh-config",
        metavar="FILE",
        help="OpenSSH client config file for every host whose inventory names none (default: "
        "~/.ssh/config, then /etc/ssh/ssh_config); a host's own `-F` in "
        "ansible_ssh_common_args or its ssh_config_file variable wins for that host",
    )
