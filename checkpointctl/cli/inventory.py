"""``checkpointctl inventory``: the inventory as ``ansible-inventory`` prints it.

So users moving from Ansible can compare, source for source, what checkpointctl reads:
``--list`` prints the same JSON shape as ``ansible-inventory --list``, ``--host H`` one
host's merged variables. Vaulted values print as ``<sensitive>``. Connection variables
checkpointctl does not support yet are warnings here (every other command refuses them).
"""

from __future__ import annotations

import argparse
from typing import Any

from checkpointctl.errors import CheckpointctlError


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
    )
    add_inventory_options(p, required=True)
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
