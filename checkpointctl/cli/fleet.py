"""Fleet verbs and options: ``status``, and what ``apply`` needs for locking and auditing.

``status -i INV [PATHS] [--format text|json|html]`` reads every host (``--forks`` at once) and
prints a table on a terminal, JSON otherwise (or as asked); it exits 0 when every host is
healthy and 1 otherwise (see :mod:`checkpointctl.engine.status` for what counts).

:func:`apply_options` turns ``apply``'s ``--lock-wait`` and ``--audit-log`` into the engine's
:class:`~checkpointctl.engine.run.ApplyOptions`; ``cli._run`` calls it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from checkpointctl.errors import CheckpointctlError

DEFAULT_PATHS = ("policies",)
"""Where policies are looked for when no PATHS are given (as for drift and apply)."""


def apply_options(args: argparse.Namespace) -> Any:
    """The engine's ApplyOptions for ``apply``: lock wait, owner, audit context and log."""
    from checkpointctl.engine.audit import (
        AuditContext,
        LocalAuditLog,
        default_local_log,
        policy_revision,
    )
    from checkpointctl.engine.lock import current_owner
    from checkpointctl.engine.run import ApplyOptions

    wait = float(args.lock_wait)
    if not wait >= 0:  # negative or NaN
        raise CheckpointctlError(f"--lock-wait must be 0 or more seconds (got {args.lock_wait})")
    owner = current_owner()
    ctx = AuditContext(
        who=owner.who,
        revision=policy_revision(args.paths or DEFAULT_PATHS),
        argv=("checkpointctl", *getattr(args, "command_argv", ())),
    )
    path = default_local_log() if args.audit_log is None else args.audit_log
    log = LocalAuditLog(path) if path else None
    return ApplyOptions(
        lock_wait=wait,
        owner=owner,
        audit=ctx,
        audit_log=log,
        allow_image_updates=bool(getattr(args, "allow_image_updates", False)),
    )


def _states(args: argparse.Namespace, inventory: Any, hosts: Any) -> dict[str, Any]:
    """Desired states for the hosts, or none when there are no policies to compare with.

    Secrets are not needed (status compares images, the firewall and expiry dates), so no
    vault key is asked for.
    """
    from checkpointctl.errors import PolicyError
    from checkpointctl.policy.loader import load_desired

    paths = args.paths or [p for p in DEFAULT_PATHS if os.path.exists(p)]
    if not paths:
        return {}
    result = load_desired(paths, inventory, hosts, decrypt=None)
    for warning in result.warnings:
        print(str(warning), file=sys.stderr)
    if result.errors:
        raise PolicyError(result.errors)
    return dict(result.states)


def _write(text: str, path: str | None) -> None:
    from checkpointctl.cli.common import write_output

    write_output(text, path)


def _cmd_status(args: argparse.Namespace) -> int:
    from checkpointctl import api
    from checkpointctl.cli.common import inventory_of

    inventory = inventory_of(args)
    hosts = inventory.select(args.limit)
    pulls = _pull_hosts(args, hosts) if args.from_source else None
    if pulls is not None:
        hosts = tuple(h for h in hosts if h.name not in {p.host for p in pulls})
    states = _states(args, inventory, hosts)
    healths = api.status(hosts, states, forks=args.forks) if hosts else []
    locations = api.location_health(hosts, healths)
    tty = sys.stdout.isatty() and not args.output
    fmt: api.StatusFormat = args.format or ("text" if tty else "json")
    color = fmt == "text" and tty and "NO_COLOR" not in os.environ
    width = os.get_terminal_size().columns if tty else 200
    if pulls is None:
        text = api.render_status(healths, fmt, color=color, width=width, locations=locations)
        _write(text, args.output)
        return api.status_exit_code(healths)
    pulls_ok = all(p.healthy for p in pulls)
    if fmt == "json":
        from checkpointctl.model.health import fleet_json
        from checkpointctl.model.pullhealth import pull_health_json

        doc = fleet_json(healths)
        doc["pull_hosts"] = [pull_health_json(p) for p in pulls]
        doc["healthy"] = bool(doc["healthy"]) and pulls_ok
        _write(json.dumps(doc, indent=2, sort_keys=True), args.output)
    elif fmt == "text":
        from checkpointctl.report.pullstatus import render_pull_table

        text = api.render_status(healths, fmt, color=color, width=width) if healths else ""
        _write((text + "\n" if text else "") + render_pull_table(pulls), args.output)
    else:
        raise CheckpointctlError("status --from renders as text or json (not yet html)")
    return max(api.status_exit_code(healths), 0 if pulls_ok else 1)


def _pull_hosts(args: argparse.Namespace, hosts: Any) -> Any:
    """``--from``: the pull hosts (``pull_mode: true``) as their signed reports tell."""
    from datetime import UTC, datetime

    from checkpointctl.duration import VALIDITY, parse_seconds
    from checkpointctl.engine.pullstatus import is_pull_host, read_pull_hosts

    interval = parse_seconds(args.interval, VALIDITY, what="--interval")
    pull = [h for h in hosts if is_pull_host(h)]
    return read_pull_hosts(
        pull, args.from_source, now=datetime.now(UTC), default_interval=interval, forks=args.forks
    )


def register(subparsers: Any) -> None:
    """Add the fleet verbs to the main parser (called by ``cli.main``)."""
    from checkpointctl.cli.common import add_inventory_options

    p = subparsers.add_parser(
        "status", help="fleet health: containers, firewall, credentials, last apply, hygiene"
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATHS", help="policy files or folders (default: policies/)"
    )
    add_inventory_options(p, ssh=True)
    p.add_argument("--limit", metavar="PATTERN", help="Ansible-style host pattern")
    p.add_argument("--forks", type=int, default=50, help="hosts read at once (50)")
    p.add_argument(
        "--format",
        choices=["text", "json", "html"],
        default=None,
        help="text (a table; the default on a terminal), json (the default otherwise) or html "
        "(a page for people, with -o FILE)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the status to FILE")
    p.add_argument(
        "--from",
        dest="from_source",
        metavar="URL|DIR",
        help="pull hosts (pull_mode: true) from their agents' signed reports: DIR/<host>.json, "
        "a URL with {host}, or URL/<host>.json; the other hosts are read over SSH",
    )
    p.add_argument(
        "--interval",
        default="5m",
        metavar="DURATION",
        help="with --from: the agents' interval when a report names none (a report older "
        "than three is flagged)",
    )
    p.set_defaults(func=_cmd_status)
