"""The command line: argparse wiring, one ``_cmd_<verb>`` per command, one error boundary.

Each verb returns its exit code. Expected failures are :class:`CheckpointctlError` and are
printed as ``checkpointctl: error: ...`` (a traceback only with ``-v``); anything else is a bug
and says so. Output to a pipe is plain and stable; colour and progress only on a TTY.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from checkpointctl import __version__
from checkpointctl.cli.common import (
    DEFAULT_PATHS,
    add_common,
    err,
    inventory_of,
    load,
    selected_hosts,
    warn,
    write_output,
)

if TYPE_CHECKING:
    import argparse
    from datetime import date

    from checkpointctl.cli.progress import ProgressObserver
    from checkpointctl.cli.startup import StartUp
    from checkpointctl.engine.listen import Listening
    from checkpointctl.engine.run import ApplyOptions, Connect, Rollout
    from checkpointctl.engine.watch import Cycle
    from checkpointctl.inventory import Inventory
    from checkpointctl.model import Host
    from checkpointctl.model.provenance import DriftOrigin
    from checkpointctl.policy.loader import LoadResult
    from checkpointctl.spec import DesiredState

# Everything else is imported where it is used: ``checkpointctl --version`` imports this module
# and nothing more (the standard modules and ``errors`` cost as much as Python's own start-up;
# tests/unit/test_cli_startup.py).

# --- verbs ---------------------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    from checkpointctl.policy.loader import load_desired, load_policies

    paths = args.paths or DEFAULT_PATHS
    if args.inventory:
        inventory = inventory_of(args)
        result = load_desired(paths, inventory)
        diags = result.diagnostics
        n_policies, n_hosts = len(result.policies), len(result.states)
        unselected = result.unselected
    else:
        policies, _, diags = load_policies(paths)
        n_policies, n_hosts, unselected = len(policies), 0, []
    errors = [d for d in diags if d.severity.value == "error"]
    for d in diags:
        print(str(d), file=sys.stderr)
    if args.inventory:
        from checkpointctl.transport.ssh.login import root_login_warning

        root = root_login_warning(inventory.hosts)
        if root:
            warn(root)
        for host in inventory.hosts:
            if host.refused is not None:  # every verb that reaches it reports it refused
                warn(f"warning: refused: {host.refused}")
    if errors:
        print(f"{len(errors)} error(s)", file=sys.stderr)
        return 1
    msg = f"ok: {n_policies} policies"
    if args.inventory:
        msg += f", {n_hosts} hosts"
        if unselected:
            msg += f" ({len(unselected)} hosts selected by no policy: {', '.join(unselected[:5])})"
    print(msg)
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    import json

    import yaml

    from checkpointctl import api

    inventory = inventory_of(args)
    if args.host:
        args.limit = args.host
    result = load(args, inventory, need_secrets=False)
    data = api.render_states(result, args.host)
    if args.format == "json":
        write_output(json.dumps(data, indent=2, sort_keys=True), None)
    else:
        write_output(yaml.safe_dump(data, sort_keys=False, default_flow_style=False), None)
    return 0


def _rollout(args: argparse.Namespace) -> Rollout:
    from checkpointctl.engine.run import Rollout
    from checkpointctl.errors import CheckpointctlError

    serial: int | str | None = None
    if args.serial:
        text = str(args.serial).strip()
        valid = text.endswith("%") and text[:-1].replace(".", "", 1).isdigit()
        if not valid and not text.isdigit():
            raise CheckpointctlError(f"--serial must be N or N% (got {text!r})")
        serial = text if text.endswith("%") else int(text)
    max_fail = None
    if args.max_fail is not None:
        text = str(args.max_fail).rstrip("%")
        try:
            max_fail = float(text) / 100
        except ValueError:
            raise CheckpointctlError(
                f"--max-fail must be a percentage (got {args.max_fail!r})"
            ) from None
    return Rollout(
        canary=args.canary,
        serial=serial,
        max_fail=max_fail,
        rollback_on_fail=args.rollback_on_fail,
    )


def _run(args: argparse.Namespace, mode: str) -> int:
    import dataclasses

    from checkpointctl.cli.startup import StartUp
    from checkpointctl.transport.connect import connect
    from checkpointctl.transport.headstart import HeadStart

    with StartUp() as start_up:
        inventory = inventory_of(args)
        hosts = selected_hosts(args, inventory)
        if args.trust_on_first_use:
            hosts = tuple(dataclasses.replace(h, trust_on_first_use=True) for h in hosts)
        # the first hosts log in while the policies load (see transport.headstart)
        with HeadStart(connect, hosts, width=args.forks) as early:
            return _run_loaded(args, mode, inventory, hosts, early.connect, start_up)


def _run_loaded(
    args: argparse.Namespace,
    mode: str,
    inventory: Inventory,
    hosts: Sequence[Host],
    connect: Connect,
    start_up: StartUp,
) -> int:
    """Load the policies and run ``mode`` over ``hosts`` (connected through ``connect``);
    ``start_up`` ends once they are loaded."""
    from checkpointctl import api

    result = load(args, inventory, need_secrets=True)
    start_up.done()
    observer = _observer(args)
    if mode == "drift" and args.watch is not None:
        return _watch(args, hosts, result.states, connect, observer)
    if mode == "drift":
        from checkpointctl.errors import CheckpointctlError

        watch_only = (("--poll", args.poll), ("--resync", args.resync), ("--cycles", args.cycles))
        for name, given in watch_only:
            if given:
                raise CheckpointctlError(f"{name} goes with --watch")
    try:
        if mode == "apply":
            from checkpointctl.cli.fleet import apply_options

            options = apply_options(args)
            report = api.apply(
                hosts,
                result,
                connect=connect,
                forks=args.forks,
                observer=observer,
                rollout=_rollout(args),
                options=options,
            )
            if options.audit_log is not None and options.audit_log.error:
                warn(f"warning: {options.audit_log.error}")
        else:  # drift/check stream every format: they never hold the whole run
            read: Literal["drift", "check"] = "check" if mode == "check" else "drift"
            return _stream_read(args, read, hosts, result, connect, observer)
    finally:
        if observer is not None:
            observer.close()
    fmt = args.format
    out = args.output
    color = fmt == "text" and not out and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    write_output(api.render_report(report, fmt, color=color), out)
    if out and fmt != "text":
        # CI logs still get the recap and the one-line summary when the report goes to a file
        for line in api.recap_lines(report):
            print(line, file=sys.stderr)
        print(api.summary_line(report), file=sys.stderr)
    return report.exit_code


def _drift_options(args: argparse.Namespace) -> ApplyOptions | None:
    """``--at`` and ``--fail-on`` as the engine's options (None when neither is given): the
    one place drift, and each cycle of ``drift --watch``, get how they are judged."""
    from checkpointctl.engine.run import ApplyOptions

    today = getattr(args, "at", None)
    fail_on = getattr(args, "fail_on", None)
    if today is None and fail_on is None:
        return None
    return ApplyOptions(today=today, fail_on=fail_on)


def _stream_read(
    args: argparse.Namespace,
    mode: Literal["drift", "check"],
    hosts: Sequence[Host],
    result: LoadResult,
    connect: Connect,
    observer: ProgressObserver | None,
) -> int:
    """drift/check with the report streamed to its writer as hosts finish
    (:mod:`checkpointctl.report.stream`): the same bytes as a rendered report, without holding
    every host's result until the end. The caller closes ``observer``."""
    from checkpointctl import api
    from checkpointctl.report.stream import ReportStream

    out = args.output
    fmt = args.format
    color = fmt == "text" and not out and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    names = [h.name for h in hosts if h.name in result.states]
    options = _drift_options(args)
    fail_on = options.fail_on if options is not None else None
    with ReportStream(mode, fmt, names=names, fail_on=fail_on, color=color) as report:
        api.stream_read(
            mode, hosts, result, report.add, connect=connect, forks=args.forks,
            observer=observer, options=options,
        )  # fmt: skip
        if out and out != "-":
            from checkpointctl.localfile import write_atomic_chunks

            write_atomic_chunks(out, report.chunks())
        else:
            sys.stdout.flush()
            for chunk in report.chunks():
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        if out and fmt != "text":
            # CI logs still get the recap and the one-line summary when the report goes to a file
            for chunk in report.recap():
                sys.stderr.buffer.write(chunk)
            sys.stderr.flush()
            print(report.summary_line(), file=sys.stderr)
        return report.exit_code()


def _watch(
    args: argparse.Namespace,
    hosts: Sequence[Host],
    states: Mapping[str, DesiredState],
    connect: Connect,
    observer: ProgressObserver | None,
) -> int:
    """``drift --watch``: a report per cycle (the file rewritten, or stdout), a summary line
    per cycle on stderr; the exit code is the last cycle's."""
    from checkpointctl.duration import INTERVAL, DurationError, parse_seconds
    from checkpointctl.engine.listen import listen_fleet
    from checkpointctl.engine.watch import watch_fleet
    from checkpointctl.errors import CheckpointctlError
    from checkpointctl.report import render, summary_line

    try:
        interval = parse_seconds(args.watch, INTERVAL, what="--watch")
    except DurationError:
        raise CheckpointctlError(
            f"--watch takes an interval such as 30, 30s or 5m (got {args.watch!r})"
        ) from None
    if args.cycles is not None and args.cycles < 1:
        raise CheckpointctlError("--cycles must be at least 1")

    def on_cycle(cycle: Cycle) -> None:
        write_output(render(cycle.report, args.format, color=False), args.output)
        print(
            f"watch: cycle {cycle.number} in {cycle.seconds:.2f}s "
            f"({cycle.connects} new connections{_reread(cycle)}): {summary_line(cycle.report)}",
            file=sys.stderr,
            flush=True,
        )

    def on_listening(listening: Listening) -> None:
        print(f"watch: {_listening_line(listening, interval)}", file=sys.stderr, flush=True)

    try:
        if args.poll:
            report = watch_fleet(
                hosts,
                states,
                connect,
                interval=interval,
                cycles=args.cycles,
                on_cycle=on_cycle,
                forks=args.forks,
                observer=observer,
                options=_drift_options(args),
            )
        else:
            try:
                resync = parse_seconds(args.resync or "10m", INTERVAL, what="--resync")
            except DurationError:
                raise CheckpointctlError(
                    f"--resync takes an interval such as 10m (got {args.resync!r})"
                ) from None
            report = listen_fleet(
                hosts,
                states,
                connect,
                interval=interval,
                resync=max(resync, interval),
                cycles=args.cycles,
                on_cycle=on_cycle,
                on_listening=on_listening,
                forks=args.forks,
                observer=observer,
                options=_drift_options(args),
            )
    finally:
        if observer is not None:
            observer.close()
    return report.exit_code


def _listening_line(listening: Listening, interval: float) -> str:
    """``listening on N hosts; polling every Xs on M hosts: h1 (no inotifywait), …`` (every
    polled host named: the operator must know which hosts only poll)."""
    line = f"listening on {len(listening.listening)} hosts"
    if listening.polled:
        why = ", ".join(f"{name} ({reason})" for name, reason in listening.polled.items())
        line += f"; polling every {interval:g}s on {len(listening.polled)} hosts: {why}"
    return line


def _reread(cycle: Cycle) -> str:
    """``; change: h1 h2`` when a cycle read only some hosts (at most 5 named)."""
    if not cycle.reread:
        return f"; {cycle.cause.value}" if cycle.cause.value != "poll" else ""
    names = " ".join(cycle.reread[:5])
    more = f" +{len(cycle.reread) - 5} more" if len(cycle.reread) > 5 else ""
    return f"; {cycle.cause.value}: {names}{more}"


def _observer(args: argparse.Namespace) -> ProgressObserver | None:
    """Progress on a TTY (stderr), nothing otherwise: pipes and CI logs stay stable."""
    if not sys.stderr.isatty() or args.quiet:
        return None
    try:
        from checkpointctl.cli.progress import ProgressObserver
    except ImportError:
        return None
    return ProgressObserver()


def _origins(text: str) -> frozenset[DriftOrigin]:
    """``--fail-on``'s value: drift classes, comma-separated; an unknown one is an error."""
    import argparse

    from checkpointctl.model.provenance import DriftOrigin

    names = [t.strip() for t in text.split(",") if t.strip()]
    known = {o.value: o for o in DriftOrigin}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown class {', '.join(unknown) or repr(text)} (expected some of "
            f"{', '.join(known)})"
        )
    return frozenset(known[n] for n in names)


def _day(text: str) -> date:
    import argparse
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _cmd_drift(args: argparse.Namespace) -> int:
    return _run(args, "drift")


def _cmd_apply(args: argparse.Namespace) -> int:
    return _run(args, "check" if args.check else "apply")


def _cmd_schema(args: argparse.Namespace) -> int:
    # the published, editor-facing schema (schemas/policy.v1.json): templates accepted in spec
    import json

    from checkpointctl.policy.editor_schema import editor_schema
    from checkpointctl.policy.schema import policy_schema

    write_output(json.dumps(editor_schema(policy_schema()), indent=2), None)
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    from checkpointctl import lab
    from checkpointctl.errors import CheckpointctlError

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.lab_cmd == "up":
        info = lab.up(full=args.hosts, light=args.light, progress=progress, bastion=args.bastion)
        print(f"lab is up; inventory: {info.inventory}")
    elif args.lab_cmd == "down":
        lab.down(progress=progress)
        print("lab is down")
    elif args.lab_cmd == "status":
        print(str(lab.status()))
    elif args.lab_cmd == "exec":
        argv = list(args.argv)
        if argv and argv[0] == "--":
            argv = argv[1:]
        if not argv:
            raise CheckpointctlError("lab exec HOST -- COMMAND...: no command given")
        prefix = lab.exec_argv(args.host)
        os.execvp(prefix[0], [*prefix, *argv])  # noqa: S606 (argv list, no shell)
    return 0


# --- parser --------------------------------------------------------------------------------


ONE_VERB_PARSERS = ("drift", "apply")
"""Verbs whose command line is parsed by a parser of that verb alone (:func:`_parser`)."""


def one_verb(argv: Sequence[str]) -> str | None:
    """The verb of :data:`ONE_VERB_PARSERS` that ``argv`` runs, when a parser of that verb
    alone reads it as the whole parser would: only ``-v``/``--verbose`` may come before it
    (``checkpointctl --help drift`` is the whole command's help). None otherwise."""
    for word in argv:
        if word in ("-v", "--verbose"):
            continue
        return word if word in ONE_VERB_PARSERS else None
    return None


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``only`` (one of :data:`ONE_VERB_PARSERS`), the same
    parser with that verb alone, which parses that verb's command lines alike and answers its
    ``--help`` alike (the whole parser builds some forty verbs and imports their modules: a
    tenth of a small drift's start-up)."""
    import argparse
    import importlib

    parser = argparse.ArgumentParser(
        prog="checkpointctl",
        description="Declarative configuration for fleets of private monitoring checkpoints.",
    )
    parser.add_argument("--version", action="version", version=f"checkpointctl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    if only is None:
        p = sub.add_parser("validate", help="schema + lint of policies (and inventory)")
        add_common(p, ssh=True)  # the root-login warning reads each host's ssh_config
        p.set_defaults(func=_cmd_validate)

        p = sub.add_parser("render", help="the desired state each host gets")
        add_common(p)
        p.add_argument("--host", help="only this host")
        p.add_argument("--limit", metavar="PATTERN", help="Ansible-style host pattern")
        p.add_argument("--format", choices=["yaml", "json"], default="yaml")
        p.set_defaults(func=_cmd_render)

    for verb, helptext, func in (
        ("drift", "read actual state, diff, report (exit 2 on drift)", _cmd_drift),
        ("apply", "converge hosts to the desired state", _cmd_apply),
    ):
        if only not in (None, verb):
            continue
        p = sub.add_parser(verb, help=helptext)
        add_common(p, ssh=True)
        p.add_argument("--limit", metavar="PATTERN", help="Ansible-style host pattern")
        p.add_argument("--forks", type=int, default=50, help="hosts handled at once (50)")
        p.add_argument(
            "--format", choices=["text", "json", "junit", "markdown", "html"], default="text"
        )
        p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
        p.add_argument(
            "--trust-on-first-use",
            action="store_true",
            help="accept and record unknown SSH host keys (changed keys stay refused)",
        )
        if verb == "drift":
            p.add_argument(
                "--watch",
                metavar="INTERVAL",
                help="watch the fleet over kept connections until Ctrl-C, a report per "
                "cycle: hosts that can tell of a change (inotifywait, nft monitor, docker "
                "events) are re-read when they do, the others every INTERVAL (30, 30s, 5m)",
            )
            p.add_argument(
                "--cycles", type=int, metavar="N", help="with --watch: stop after N cycles"
            )
            p.add_argument(
                "--poll",
                action="store_true",
                help="with --watch: re-read every host every INTERVAL, listening to none",
            )
            p.add_argument(
                "--resync",
                metavar="D",
                help="with --watch: re-read every host every D even when none told of a "
                "change (default 10m)",
            )
            p.add_argument(
                "--fail-on",
                type=_origins,
                metavar="CLASSES",
                help="exit 2 only for these classes of change, comma-separated: pending, "
                "out-of-band, vendor-update, expired-exception (default: every change)",
            )
            p.add_argument(
                "--at",
                type=_day,
                metavar="YYYY-MM-DD",
                help="judge spec.exceptions' expiry as of this day (default: today)",
            )
            p.add_argument(
                "--shard",
                metavar="I/N",
                help="read only shard I of N (hosts split by a hash of their name; "
                "join the parts with `report merge`)",
            )
        if verb == "apply":
            p.add_argument(
                "--check",
                action="store_true",
                help="only show what would change (exit 2 if anything would)",
            )
            p.add_argument(
                "--canary",
                type=int,
                default=0,
                metavar="N",
                help="converge N hosts first; stop if any fails",
            )
            p.add_argument(
                "--serial",
                metavar="N|P%",
                help="then converge in batches of N hosts or P%% of the fleet",
            )
            p.add_argument(
                "--max-fail", metavar="P%", help="halt when more than P%% of finished hosts failed"
            )
            p.add_argument(
                "--allow-image-updates",
                action="store_true",
                help="replace images even outside updates.window or with updates.strategy: "
                "manual (security drift is fixed at any time regardless)",
            )
            p.add_argument(
                "--rollback-on-fail",
                action="store_true",
                help="when a batch halts, put its converged hosts back on their "
                "previous container image",
            )
            p.add_argument(
                "--lock-wait",
                type=float,
                default=0.0,
                metavar="SECONDS",
                help="wait up to SECONDS for another controller's host lock "
                "(default 0: fail at once)",
            )
            p.add_argument(
                "--audit-log",
                metavar="PATH",
                default=None,
                help="append one JSON line per host to PATH (default "
                "$XDG_STATE_HOME/checkpointctl/audit.jsonl, else "
                "~/.local/state/checkpointctl/audit.jsonl)",
            )
        p.set_defaults(func=func)
    if only is not None:
        return parser

    p = sub.add_parser("schema", help="print the policy JSON Schema (for editors)")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser("lab", help="a local fleet in network namespaces (demo, tests, bench)")
    lab_sub = p.add_subparsers(dest="lab_cmd", required=True)
    q = lab_sub.add_parser("up", help="start (or complete) the lab")
    q.add_argument("--hosts", type=int, default=2, help="full hosts (sshd + dockerd)")
    q.add_argument("--light", type=int, default=0, help="light hosts (sshd + nftables)")
    q.add_argument(
        "--bastion",
        action="store_true",
        help="add a bastion host; the others then accept SSH from it only (ssh_config and "
        "inventory-bastion.yml under the lab root reach them through it)",
    )
    lab_sub.add_parser("down", help="stop everything the lab started")
    lab_sub.add_parser("status", help="what runs")
    q = lab_sub.add_parser("exec", help="run a command inside a lab host")
    q.add_argument("host")
    q.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_lab)

    for module_name in _VERB_MODULES:
        module = importlib.import_module(module_name)
        register: Callable[[Any], None] = module.register
        register(sub)
    return parser


_VERB_MODULES = (
    "checkpointctl.cli.vault",
    "checkpointctl.cli.trust",
    "checkpointctl.cli.fleet",
    "checkpointctl.cli.gitops",
    "checkpointctl.cli.explain",
    "checkpointctl.cli.inventory",
    "checkpointctl.cli.report",
    "checkpointctl.cli.oci",
)
"""Verb groups kept in modules of their own (each has ``register(subparsers)``), so the parser
stays one place while each feature owns its wiring. They may use this module's helpers."""


def _collect_young_only() -> None:
    """Make the cyclic collector's full passes rare (young ones stay as they are).

    A command builds its policies, inventory and desired states once and keeps them to the end,
    and a full pass walks every object alive: with the default thresholds a large ``validate``
    makes several, each walking the whole policy set again. Short-lived reference cycles
    are still freed by the young passes; only garbage that survives those waits longer.
    """
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, max(full, 100))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``checkpointctl`` command; returns the exit code."""
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        # the one answer that needs no parser: building it imports argparse and every verb
        # module, several times the start-up of Python itself
        print(f"checkpointctl {__version__}")
        raise SystemExit(0)  # as argparse's version action does
    import traceback

    from checkpointctl.cli.startup import StartUp
    from checkpointctl.errors import CheckpointctlError

    _collect_young_only()
    words = list(sys.argv[1:] if argv is None else argv)
    with StartUp():
        parser = _parser(one_verb(words))
        args = parser.parse_args(argv)
    args.parser = parser  # completion describes the whole command line
    args.command_argv = words  # for the audit log
    try:
        code: int = args.func(args)
        return code
    except CheckpointctlError as exc:
        err(exc.diagnostics())
        if args.verbose:
            traceback.print_exc()
        return exc.exit_code
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:
        return 1
    except Exception:  # a bug: say so, with the traceback the user can report
        traceback.print_exc()
        err("internal error (a bug in checkpointctl): please report it with the traceback above")
        return 70
