"""A saved JSON report file read back for ``report merge``: the report
(:func:`checkpointctl.model.readback.report_from_json`, which refuses another major format
version and names the first bad field) and the exit code the file recorded, with every error
naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from checkpointctl.model import RunReport
from checkpointctl.model.readback import ReportFormatError, report_from_json


class ReportFileError(ValueError):
    """A file given as a JSON report is not one this checkpointctl can read, or reports that
    cannot be merged (the CLI turns it into its error: ``report`` raises no CLI errors)."""


@dataclass(frozen=True, slots=True)
class SavedReport:
    """A report read from ``source``, with the exit code the file recorded for it."""

    source: str
    report: RunReport
    exit_code: int


def parse_report(text: str, source: str) -> SavedReport:
    """The report whose JSON form is ``text`` (read from ``source``, named in errors).

    Raises:
        ReportFileError: not JSON, another major format version, or not a valid report.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportFileError(
            f"{source}:{exc.lineno}:{exc.colno}: not a JSON report: {exc.msg}"
        ) from None
    if not isinstance(document, dict):
        raise ReportFileError(f"{source}: not a JSON report (the document is not an object)")
    if not isinstance(document.get("format_version"), str):
        raise ReportFileError(
            f"{source}: format_version: missing; write the report with --format json"
        )
    try:
        report = report_from_json(document)
    except ReportFormatError as exc:
        raise ReportFileError(f"{source}: {exc}") from None
    code = document.get("exit_code")
    recorded = code if isinstance(code, int) and code in (0, 1, 2) else report.exit_code
    return SavedReport(source, report, recorded)
