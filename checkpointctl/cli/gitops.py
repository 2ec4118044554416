"""Verbs for the Git repository of policies: ``impact``, ``pin``, ``update`` and ``completion``.

``impact``, ``pin`` and ``update`` never touch a host; ``impact`` is informational (exit 0 with
or without changes, 1 on error), ``pin --check`` is a gate (exit 1 when an image is behind its
tag), ``update`` tells CI nothing new (0), bumped (2) or blocked (1).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from checkpointctl.errors import CheckpointctlError


def _start_dir(paths: list[str]) -> Path:
    """Where to look for the repository: the first policy path that exists, else the cwd."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            return path
        if path.parent.is_dir() and path.exists():
            return path.parent
    return Path.cwd()


def _decrypt_if_key(args: argparse.Namespace) -> Any:
    """Decrypt vaulted values when a key is configured (never prompts): then secrets compare
    by plaintext; without a key they compare by ciphertext, so a re-encrypted secret shows."""
    from checkpointctl.model import Secret
    from checkpointctl.trust import vault

    key = vault.load_key(args.vault_password_file, interactive=False)
    if key is None:
        return None

    def decrypt(text: str, path: str) -> Secret:
        return Secret(vault.decrypt(text, key, path))

    return decrypt


def _cmd_impact(args: argparse.Namespace) -> int:
    from checkpointctl import api
    from checkpointctl.cli.common import DEFAULT_PATHS, warn, write_output
    from checkpointctl.gitops import gitrev, snapshot
    from checkpointctl.gitops.impact import compare
    from checkpointctl.inventory.ansible_vault import passwords_from
    from checkpointctl.inventory.ansiblecfg import read_ansible_config

    if not args.inventory:
        raise CheckpointctlError("impact needs an inventory: -i INVENTORY")
    paths = list(args.paths or DEFAULT_PATHS)
    config = read_ansible_config()
    for diagnostic in config.check(strict=False):  # impact connects to no host
        warn(str(diagnostic))
    passwords = passwords_from(
        args.ansible_vault_password_file, interactive=sys.stdin.isatty(), config=config.vault
    )
    sources = snapshot.Sources(
        gitrev.toplevel(_start_dir(paths)), tuple(paths), tuple(args.inventory), passwords, config
    )
    decrypt = _decrypt_if_key(args)
    base = snapshot.at_revision(sources, args.base, decrypt)
    if args.head:
        head = snapshot.at_revision(sources, args.head, decrypt, today=date.today())
    else:
        head = snapshot.working_tree(sources, decrypt)
    impact = compare(
        base.states,
        head.states,
        base_label=base.label,
        head_label=head.label,
        inventory=",".join(args.inventory),
        notes=base.notes + head.notes,
    )
    write_output(api.render_impact(impact, args.format), args.output)
    return 0


def _cmd_pin(args: argparse.Namespace) -> int:
    from checkpointctl.cli.common import DEFAULT_PATHS
    from checkpointctl.gitops.pin import pin_paths
    from checkpointctl.gitops.registry import RegistryClient, insecure_from_env

    client = RegistryClient(insecure_from_env(args.insecure_registry or ()), timeout=args.timeout)
    report = pin_paths(args.paths or DEFAULT_PATHS, client.resolve, check=args.check)
    for problem in report.problems:
        sys.stderr.write(f"checkpointctl: error: {problem}\n")
    for item in report.items:
        (sys.stderr if item.status == "error" else sys.stdout).write(f"{item}\n")
    (sys.stdout if report.exit_code == 0 else sys.stderr).write(report.summary() + "\n")
    return report.exit_code


def _cmd_update(args: argparse.Namespace) -> int:
    from checkpointctl.cli.common import DEFAULT_PATHS, write_output
    from checkpointctl.gitops.registry import RegistryClient, insecure_from_env
    from checkpointctl.gitops.update import Fleet, update_paths
    from checkpointctl.report.update import item_line, render_markdown, summary_line

    paths = list(args.paths or DEFAULT_PATHS)
    fleet = None
    if args.inventory:
        from checkpointctl.cli.common import inventory_of
        from checkpointctl.errors import PolicyError
        from checkpointctl.policy.loader import load_desired

        inventory = inventory_of(args)
        loaded = load_desired(paths, inventory)
        if loaded.errors:
            raise PolicyError(loaded.errors)
        fleet = Fleet(inventory.hosts, loaded.states)
    client = RegistryClient(
        insecure_from_env(args.insecure_registry or ()),
        timeout=args.timeout,
        insecure_all=args.insecure,
        insecure_options="--insecure (every registry) or --insecure-registry HOST",
    )
    report = update_paths(paths, client, check=args.check, fleet=fleet, today=args.at)
    for item in report.items:
        sys.stdout.write(item_line(item, report.check) + "\n")
    for problem in report.problems:
        sys.stderr.write(f"checkpointctl: error: {problem}\n")
    (sys.stdout if report.exit_code != 1 else sys.stderr).write(summary_line(report) + "\n")
    if args.summary:
        write_output(render_markdown(report), args.summary)
    return report.exit_code


def _cmd_completion(args: argparse.Namespace) -> int:
    from checkpointctl.cli.common import write_output
    from checkpointctl.cli.completion import SCRIPTS, describe

    write_output(SCRIPTS[args.shell](describe(args.parser)), None)
    return 0


def register(sub: Any) -> None:
    """Add ``impact``, ``pin``, ``update`` and ``completion`` to the ``checkpointctl`` parser."""
    from checkpointctl.cli.common import add_inventory_options

    p = sub.add_parser(
        "impact",
        help="what a change does to each host's desired state (compares two revisions)",
        description="Render every host's desired state at --base and at --head (default: the "
        "working tree) without touching any host, and report what changes per host, "
        "resource and field, with totals. Exit 0 with or without changes, 1 on error.",
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATHS", help="policy files or folders (default: policies/)"
    )
    add_inventory_options(
        p,
        help_text="inventory (read at each revision when it is in the repository); repeat "
        "to merge several in order",
    )
    p.add_argument(
        "--base",
        required=True,
        metavar="REF",
        help="the revision to compare against (e.g. origin/main)",
    )
    p.add_argument("--head", metavar="REF", help="the changed revision (default: working tree)")
    p.add_argument("--format", choices=["text", "json", "markdown", "html"], default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    p.add_argument(
        "--vault-password-file",
        metavar="FILE",
        help="compare vaulted secrets by value (else by ciphertext)",
    )
    p.set_defaults(func=_cmd_impact)

    p = sub.add_parser(
        "pin",
        help="resolve image tags to digests in policies (containers with pin: true)",
        description="For each container with `pin: true` whose image is repo:tag (or an "
        "earlier repo:tag@sha256:...), ask the registry what the tag points at and write "
        "repo:tag@sha256:... in place, changing nothing else in the file. With --check, write "
        "nothing and exit 1 if any image is behind its tag or not pinned yet.",
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATHS", help="policy files or folders (default: policies/)"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="only report; exit 1 when a pinned digest is behind its tag",
    )
    p.add_argument(
        "--insecure-registry",
        action="append",
        metavar="HOST:PORT",
        help="a registry to reach over plain HTTP (repeatable; also "
        "$CHECKPOINTCTL_INSECURE_REGISTRIES)",
    )
    p.add_argument(
        "--timeout", type=float, default=15.0, metavar="SECONDS", help="per registry request (15)"
    )
    p.set_defaults(func=_cmd_pin)

    p = sub.add_parser(
        "update",
        help="follow tracked tags: newer digest, manifest, scan, written into the policy",
        description="For each container with `track: TAG` or `track: RANGE` (semver, e.g. ^1.4), "
        "ask the registry for the digest it points at; for a newer one fetch its manifest, scan "
        "it (a report in the scan reports folder, or trivy/grype when installed) and judge it by "
        "the policy's scan gate and allow-list. A digest that passes is written into the policy "
        "in place (comments kept); one that fails is never written. Exit 0 nothing new, 2 "
        "bumped, 1 blocked or error.",
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATHS", help="policy files or folders (default: policies/)"
    )
    add_inventory_options(
        p, help_text="name the hosts each bump reaches, by location, and their scan gates"
    )
    p.add_argument("--check", action="store_true", help="only report; write nothing")
    p.add_argument(
        "--summary", metavar="FILE", help="write a Markdown summary (a pull request's body)"
    )
    p.add_argument(
        "--at",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="judge allow-list expiries as of this day (default: today)",
    )
    p.add_argument(
        "--insecure-registry",
        action="append",
        metavar="HOST:PORT",
        help="a registry to reach over plain HTTP (repeatable; also "
        "$CHECKPOINTCTL_INSECURE_REGISTRIES)",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="reach every registry over plain HTTP, without TLS (a lab or a registry on "
        "loopback; never the default: without it plain HTTP is refused)",
    )
    p.add_argument(
        "--timeout", type=float, default=15.0, metavar="SECONDS", help="per registry request (15)"
    )
    p.set_defaults(func=_cmd_update)

    p = sub.add_parser("completion", help="print a shell completion script (bash or zsh)")
    p.add_argument("shell", choices=["bash", "zsh"])
    p.set_defaults(func=_cmd_completion)
