"""The PR-comment report: GitHub-flavoured Markdown with a fleet table and per-host details.

A PR comment is rendered as HTML for everyone who opens the PR, so host values must never
become markup there: table cells escape ``|``, backticks, emphasis and link characters, and
HTML; text inside the ``<details>`` HTML blocks is HTML-escaped (Markdown is not parsed there).
Values are one line and shortened like in the text report; the JSON report carries them whole.

Layout: a summary line, ``| host | status | changes |``, then for every host with changes,
findings or an error a ``<details>`` block with ``| address | action | field | before | after |``.
"""

from __future__ import annotations

import html

from checkpointctl.model import Change, FieldChange, HostResult, HostStatus, RunReport
from checkpointctl.report.display import format_value, one_line
from checkpointctl.report.summary import change_outcome, host_headline, summary_line

# Characters that start inline Markdown inside a table cell: escapes, code, emphasis, links,
# strikethrough, GitHub math, and the cell separator. Block syntax (#, -, >) cannot start in a cell.
_MD_BACKSLASHED = frozenset("\\`*_[]~$|")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_UNKNOWN = "—"  # changes of a host we could not read: unknown, not zero
_UNREAD = frozenset({HostStatus.UNREACHABLE, HostStatus.NOT_ATTEMPTED, HostStatus.FAILED})
_STATUS_WORDS = {status: status.value.replace("-", " ") for status in HostStatus}


def md(text: str) -> str:
    """``text`` as one line of literal Markdown inline text (safe in a table cell)."""
    out = []
    for char in one_line(text):
        if char in _MD_BACKSLASHED:
            out.append("\\" + char)
        else:
            out.append(_MD_ENTITIES.get(char, char))
    return "".join(out)


def _html(text: str) -> str:
    """Text for inside an HTML block, where Markdown is not parsed: entities only.

    Backticks become entities too, so no renderer that does parse there can open a code span.
    """
    return html.escape(one_line(text), quote=True).replace("`", "&#96;")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _side(value: object) -> str:
    return "" if value is None else md(format_value(value))


def _action_cell(report: RunReport, host: HostResult, change: Change) -> str:
    outcome = change_outcome(report, host, change)
    action = change.action.value
    return action if outcome == "planned" else f"{action} ({outcome})"


def _change_rows(report: RunReport, host: HostResult, change: Change) -> list[list[str]]:
    address = md(change.address)
    action = _action_cell(report, host, change)
    fields: tuple[FieldChange | None, ...] = change.fields or (None,)
    rows = []
    for index, field in enumerate(fields):
        lead = [address, action] if index == 0 else ["", ""]
        if field is None:
            rows.append([*lead, "", "", ""])
        else:
            rows.append([*lead, md(field.path), _side(field.before), _side(field.after)])
    return rows


def _changes_cell(report: RunReport, host: HostResult) -> str:
    if not host.changes and host.status in _UNREAD:
        return _UNKNOWN
    if report.mode == "apply" and host.changes:
        applied = sum(change_outcome(report, host, c) == "applied" for c in host.changes)
        return f"{applied} of {len(host.changes)} applied"
    return str(len(host.changes))


def _notes(host: HostResult) -> list[str]:
    notes = []
    for change in host.changes:
        parts = []
        if change.reason:
            parts.append(md(change.reason))
        if change.source:
            parts.append(f"(from {md(str(change.source))})")
        if parts:
            notes.append(f"- {md(change.address)}: " + " ".join(parts))
    return notes


def _details(report: RunReport, host: HostResult) -> list[str]:
    # the error gets its own line below, so the summary names only the status
    headline = f"{host.host}: {_STATUS_WORDS[host.status]}" if host.error else None
    summary = _html(headline) if headline else _html(host_headline(report, host))
    lines = [f"<details><summary>{summary}</summary>", ""]
    if host.error:
        label = "reason" if host.status is HostStatus.NOT_ATTEMPTED else "error"
        lines += [f"**{label}:** {md(host.error)}", ""]
    if host.changes:
        rows = [row for c in host.changes for row in _change_rows(report, host, c)]
        lines += [*_table(["address", "action", "field", "before", "after"], rows), ""]
        notes = _notes(host)
        if notes:
            lines += [*notes, ""]
    if host.findings:
        lines += ["**findings:**", ""]
        lines += [f"- {f.severity}: {md(f.address)}: {md(f.message)}" for f in host.findings]
        lines.append("")
    lines.append("</details>")
    return lines


def render_markdown(report: RunReport) -> str:
    """The report as a Markdown document for a PR comment, ending with a newline."""
    lines = [f"**checkpointctl {report.mode}:** {md(summary_line(report))}", ""]
    rows = [[md(h.host), h.status.value, _changes_cell(report, h)] for h in report.hosts]
    lines += [*_table(["host", "status", "changes"], rows)]
    for host in report.hosts:
        if host.changes or host.findings or host.error:
            lines += ["", *_details(report, host)]
    return "\n".join(lines) + "\n"
