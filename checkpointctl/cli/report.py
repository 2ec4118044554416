"""``report merge FILE... [--format F] [-o FILE]``: the JSON reports of a sharded drift as one.

The parts are ``drift --shard I/N --format json`` reports (see :mod:`checkpointctl.report.merge`
for what may be merged); the result renders in any report format, and the command exits with
the exit code of the whole fleet, as one unsharded ``drift`` would (0 in sync, 2 drift, 1 a
failed or unreachable host). A file that is not a report of this major format version, or parts
that do not belong together, are an error (exit 1) naming the file.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from checkpointctl.cli.common import write_output
from checkpointctl.errors import CheckpointctlError

REPORT_FORMATS = ("text", "json", "junit", "markdown", "html")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckpointctlError(f"{path}: cannot read the report: {reason}") from None


def _cmd_report_merge(args: argparse.Namespace) -> int:
    from checkpointctl.report import render, summary_line
    from checkpointctl.report.fromjson import ReportFileError, parse_report
    from checkpointctl.report.merge import merge_reports

    try:
        merged = merge_reports([parse_report(_read(path), path) for path in args.files])
    except ReportFileError as exc:
        raise CheckpointctlError(str(exc)) from None
    out = args.output
    color = (
        args.format == "text" and not out and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    )
    write_output(render(merged.report, args.format, color=color), out)
    if out and args.format != "text":
        print(summary_line(merged.report), file=sys.stderr)
    return merged.exit_code


def register(subparsers: Any) -> None:
    """Add the ``report`` verb group to the main parser (called by ``cli.main``)."""
    p = subparsers.add_parser("report", help="work with saved reports (merge shards)")
    sub = p.add_subparsers(dest="report_cmd", metavar="COMMAND", required=True)
    q = sub.add_parser(
        "merge",
        help="JSON reports of `drift --shard I/N` as one report (exit code of the whole)",
    )
    q.add_argument("files", nargs="+", metavar="FILE", help="JSON reports (--format json)")
    # as drift's --format (the renderers are imported only when a report is written:
    # --help stays light); tests/unit/report/test_report_merge.py keeps the two lists equal
    q.add_argument("--format", choices=list(REPORT_FORMATS), default="text")
    q.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    q.set_defaults(func=_cmd_report_merge)
