"""A saved JSON report read back into a :class:`~checkpointctl.model.RunReport`.

``report merge`` renders the parts of a sharded drift as one report, in any format, so it needs
the report the JSON came from, not the JSON: this is the inverse of
:func:`checkpointctl.model.report_to_json`. A document is checked against the published schema
first (so a hand-edited or truncated file is refused naming the file and the field), and its
``format_version``'s major number must be the one this checkpointctl writes: a minor version
only adds properties, which are ignored; a major version may change what a property means.

A field value that is ``"<sensitive>"`` in the JSON comes back as a :class:`Secret` (of no
value: the JSON never held one), so every renderer shows it as it showed the original secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

from jsonschema import Draft202012Validator

from checkpointctl.model import (
    FORMAT_VERSION,
    REDACTED,
    Action,
    Change,
    CommandFailure,
    FieldChange,
    FieldValue,
    Finding,
    HostResult,
    HostStatus,
    JSONValue,
    Location,
    ReplaceOrder,
    RunMode,
    RunReport,
    Secret,
)
from checkpointctl.report.jsonfmt import report_schema

Severity = Literal["info", "warning", "error"]

_REDACTED_SECRET = Secret(b"")
"""What a redacted value reads back as: it renders as ``<sensitive>`` and reveals nothing."""


class ReportFileError(ValueError):
    """A file given as a JSON report is not one this checkpointctl can read (the CLI turns it
    into its error: ``report`` imports nothing but ``model``)."""


@dataclass(frozen=True, slots=True)
class SavedReport:
    """A report read from ``source``, with the exit code the file recorded for it."""

    source: str
    report: RunReport
    exit_code: int


def major(version: str) -> str:
    """``"1"`` of ``"1.2"``."""
    return version.split(".", 1)[0]


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
    version = document.get("format_version")
    if not isinstance(version, str):
        raise ReportFileError(
            f"{source}: format_version: missing; write the report with --format json"
        )
    if major(version) != major(FORMAT_VERSION):
        raise ReportFileError(
            f"{source}: format_version: report format {version} cannot be read by this "
            f"checkpointctl (it reads {major(FORMAT_VERSION)}.x)"
        )
    _check_schema(document, source)
    return SavedReport(source, _report(document), cast(int, document["exit_code"]))


def _check_schema(document: Mapping[str, JSONValue], source: str) -> None:
    validator = Draft202012Validator(report_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    if errors:
        first = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.path)
        field = where.lstrip(".") or "(document)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ReportFileError(f"{source}: {field}: {first.message}{more}")


# The document passed the schema: the casts below name the types it guarantees.


def _report(doc: Mapping[str, JSONValue]) -> RunReport:
    hosts = cast(list[dict[str, JSONValue]], doc["hosts"])
    return RunReport(
        mode=cast(RunMode, doc["mode"]),
        hosts=tuple(_host(h) for h in hosts),
        halted=cast(str | None, doc["halted"]),
    )


def _host(doc: Mapping[str, JSONValue]) -> HostResult:
    command = cast(dict[str, JSONValue] | None, doc.get("command"))
    findings = cast(list[dict[str, str]], doc["findings"])
    return HostResult(
        host=cast(str, doc["host"]),
        status=HostStatus(cast(str, doc["status"])),
        changes=tuple(_change(c) for c in cast(list[dict[str, JSONValue]], doc["changes"])),
        applied=tuple(cast(list[str], doc["applied"])),
        failed=cast(str | None, doc["failed"]),
        error=cast(str | None, doc["error"]),
        findings=tuple(
            Finding(f["address"], f["message"], cast(Severity, f.get("severity", "warning")))
            for f in findings
        ),
        seconds=float(cast(float, doc["seconds"])),
        checked=tuple(cast(list[str], doc.get("checked", []))),
        command=None
        if command is None
        else CommandFailure(
            command=cast(str, command["command"]),
            exit_status=cast(int, command["exit_status"]),
            stderr=cast(str, command["stderr"]),
        ),
    )


def _action(doc: Mapping[str, JSONValue]) -> Action:
    name = cast(str, doc["action"])
    if name != "replace":
        return Action(name)
    # a 1.0 report names no order: destroy-first is what a replacement is unless told otherwise
    order = doc.get("replace_order", ReplaceOrder.DESTROY_FIRST.value)
    if order == ReplaceOrder.CREATE_FIRST.value:
        return Action.REPLACE_CREATE_FIRST
    return Action.REPLACE_DESTROY_FIRST


def _location(text: str | None) -> Location | None:
    """``path:line:col`` back into a Location (the only form reports write); None otherwise."""
    if not text:
        return None
    rest, _, col = text.rpartition(":")
    path, _, line = rest.rpartition(":")
    if path and line.isdigit() and col.isdigit():
        return Location(path, int(line), int(col))
    return None


def _value(value: JSONValue) -> FieldValue:
    return _REDACTED_SECRET if value == REDACTED else value


def _change(doc: Mapping[str, JSONValue]) -> Change:
    fields = cast(list[dict[str, JSONValue]], doc["fields"])
    return Change(
        address=cast(str, doc["address"]),
        action=_action(doc),
        fields=tuple(
            FieldChange(cast(str, f["path"]), _value(f.get("before")), _value(f.get("after")))
            for f in fields
        ),
        reason=cast(str, doc.get("reason", "")),
        source=_location(cast(str | None, doc.get("source"))),
    )
