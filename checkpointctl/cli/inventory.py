"""``checkpointctl inventory``: the inventory as ``ansible-inventory`` prints it.

So users moving from Ansible can compare, source for source, what checkpointctl reads:
``--list`` prints the same JSON shape as ``ansible-inventory --list``, ``--host H`` one
host's merged variables. Vaulted values print as ``<sensitive>``. Connection variables
checkpointctl does not support yet are warnings here (every other command refuses them).
The Ansible config in effect is read as ansible-inventory reads it (see the epilog).
"""

from __future__ import annotations

import argparse
from typing import Any

from checkpointctl.errors import CheckpointctlError

ANSIBLE_CFG_HELP = """\
ansible.cfg (every command reads it as Ansible does: $ANSIBLE_CONFIG, ./ansible.cfg unless the
folder is world-writable, ~/.ansible.cfg, /etc/ansible/ansible.cfg; ANSIBLE_* variables win):
  honoured: hash_behaviour, inventory (the default -i), enable_plugins, remote_user,
    remote_port, private_key_file, timeout, transport, [ssh_connection] ssh_args,
    ssh_common_args, ssh_extra_args, vault_password_file, vault_identity_list,
    vault_identity, ask_vault_pass, [privilege_escalation] become, become_user,
    become_method (sudo)
  refused (an error naming file:line and key): host_key_checking = False, precedence,
    inventory ignore_extensions/ignore_patterns, other vars plugins, vault_id_match, password
    logins, become_ask_pass/exe/flags, su, another ssh_executable, pkcs11_provider
  irrelevant: everything else (forks, callbacks, retry files, gathering, pipelining, ...)
"""


def _cmd_inventory(args: argparse.Namespace) -> int:
    from checkpointctl.cli.common import inventory_of, warn, write_output
    from checkpointctl.inventory.listing import dumps, host_vars, listing

    inventory = inventory_of(args, strict=False)
    for diagnostic in inventory.warnings:
        warn(str(diagnostic))
    if args.host:
        document = host_vars(inventory.host(args.host))
    elif args.list:
        document = listing(inventory)
    else:
        raise CheckpointctlError("inventory: give --list or --host HOST")
    write_output(dumps(document), args.output)
    return 0


def register(sub: Any) -> None:
    """Add ``inventory`` to the ``checkpointctl`` parser."""
    from checkpointctl.cli.common import add_inventory_options

    p = sub.add_parser(
        "inventory",
        help="the inventory as ansible-inventory --list / --host prints it",
        description="Read the inventories (-i, repeatable) as checkpointctl does and print "
        "them in the JSON shape of ansible-inventory, to compare with Ansible's reading.",
        epilog=ANSIBLE_CFG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_inventory_options(p)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--list", action="store_true", help="every group and host's variables")
    mode.add_argument("--host", metavar="HOST", help="one host's variables")
    p.add_argument(
        "--playbook-dir",
        metavar="DIR",
        help="also read group_vars/host_vars in DIR (as ansible-inventory --playbook-dir)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=_cmd_inventory)
