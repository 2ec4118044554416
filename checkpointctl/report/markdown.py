"""The PR-comment report: GitHub-flavoured Markdown with a fleet table and per-host details.

A PR comment is rendered as HTML for everyone who opens the PR, so host values must never
become markup there: table cells escape ``|``, backticks, emphasis and link characters, and
HTML; text inside the ``<details>`` HTML blocks is HTML-escaped (Markdown is not parsed there).
Values are one line and shortened like in the text report; the JSON report carries them whole.

Layout: a summary line, ``| host | status | changes |``, then for every host with changes,
findings or an error a ``<details>`` block with ``| address | action | field | before | after |``.

A comment must fit (GitHub refuses comments over 65,536 characters), so a large fleet's report
is capped: at most :data:`MAX_TABLE_ROWS` hosts in the table (hosts that need attention first,
then in run order), at most :data:`MAX_CHANGE_ROWS` field rows per host, and details blocks only
while the whole stays under :data:`MAX_CHARS`. Whatever is left out is counted in an
"…and N more" line, and the JSON report always carries everything. The cap is also what lets
the comment be streamed: a host's part is rendered once (:func:`markdown_host`) and only the
hosts the table may still list are kept (:class:`Listing`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Generic, TypeVar

from checkpointctl.model import Change, FieldChange, HostResult, HostStatus, RunMode, RunReport
from checkpointctl.report.display import format_value, one_line, shorten
from checkpointctl.report.provenance import accepted_text, origin_text
from checkpointctl.report.summary import change_outcome, host_headline, summary_line

# Characters that start inline Markdown inside a table cell: escapes, code, emphasis, links,
# strikethrough, GitHub math, and the cell separator. Block syntax (#, -, >) cannot start in a cell.
_MD_BACKSLASHED = frozenset("\\`*_[]~$|")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_UNKNOWN = "—"  # changes of a host we could not read: unknown, not zero
_UNREAD = frozenset({HostStatus.UNREACHABLE, HostStatus.NOT_ATTEMPTED, HostStatus.FAILED})
_STATUS_WORDS = {status: status.value.replace("-", " ") for status in HostStatus}
_QUIET = frozenset({HostStatus.IN_SYNC, HostStatus.CONVERGED})

MAX_TABLE_ROWS = 50
"""Hosts listed in the fleet table; the rest are counted in one line."""
MAX_CHANGE_ROWS = 40
"""Field rows in one host's details table; the rest are counted in one line."""
MAX_ERROR_CHARS = 2000
"""An error message longer than this is cut in the middle."""
MAX_FINDINGS = 20
"""Findings listed for one host."""
MAX_CHARS = 60_000
"""Budget for the whole comment, safely under GitHub's 65,536-character limit."""
_TRAILER_RESERVE = 400
_T = TypeVar("_T")


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
    action = change.action.name_in_report
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
        origin = origin_text(host, change)
        if origin:
            kind, _, detail = origin.partition(":")
            notes.append(f"- {md(change.address)}: **{md(kind)}:**{md(detail)}")
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
        lines += [f"**{label}:** {md(shorten(host.error, MAX_ERROR_CHARS))}", ""]
    if host.changes:
        rows = [row for c in host.changes for row in _change_rows(report, host, c)]
        shown, hidden = rows[:MAX_CHANGE_ROWS], len(rows) - MAX_CHANGE_ROWS
        lines += [*_table(["address", "action", "field", "before", "after"], shown), ""]
        if hidden > 0:
            lines += [f"_…and {hidden} more field rows (see the JSON report)._", ""]
        notes = _notes(host)[:MAX_CHANGE_ROWS]
        if notes:
            lines += [*notes, ""]
    if host.accepted:
        lines += ["**accepted by exception:**", ""]
        lines += [f"- {md(accepted_text(a))}" for a in host.accepted[:MAX_CHANGE_ROWS]]
        lines.append("")
    if host.findings:
        lines += ["**findings:**", ""]
        listed = host.findings[:MAX_FINDINGS]
        lines += [f"- {f.severity}: {md(f.address)}: {md(f.message)}" for f in listed]
        if len(host.findings) > len(listed):
            lines.append(f"- _…and {len(host.findings) - len(listed)} more findings._")
        lines.append("")
    lines.append("</details>")
    return lines


def _quiet(host: HostResult) -> bool:
    """A host that needs nobody's attention: in sync or converged, nothing to report."""
    return host.status in _QUIET and not host.changes and not host.findings and not host.error


@dataclass(frozen=True, slots=True)
class MarkdownHost:
    """One host's part of the comment, rendered: its table row and its details block."""

    quiet: bool
    row: str
    details: tuple[str, ...]
    """The ``<details>`` block's lines, empty when the host has nothing more to say."""


def markdown_host(report: RunReport, host: HostResult) -> MarkdownHost:
    """``host``'s part (``report`` gives the mode only, so a one-host report will do)."""
    row = _row([md(host.host), host.status.value, _changes_cell(report, host)])
    wanted = host.changes or host.findings or host.error or host.accepted
    details = tuple(_details(report, host)) if wanted else ()
    return MarkdownHost(_quiet(host), row, details)


class Listing(Generic[_T]):
    """The hosts the table lists, chosen while the run goes: all of them, or when over
    ``limit`` the ones that need attention first, shown in run order.

    It keeps at most ``limit`` hosts needing attention and ``limit`` quiet ones, whatever the
    fleet's size, so a streamed comment holds no more than the table can show.
    """

    def __init__(self, limit: int = MAX_TABLE_ROWS) -> None:
        self.limit = limit
        self.total = 0
        self.quiet = 0
        self._loud: list[tuple[int, _T]] = []
        self._calm: list[tuple[int, _T]] = []

    def add(self, item: _T, quiet: bool) -> None:
        """Offer the next host (in run order); ``quiet``: it needs nobody's attention."""
        kept = self._calm if quiet else self._loud
        if len(kept) < self.limit:
            kept.append((self.total, item))
        self.total += 1
        self.quiet += quiet

    def listed(self) -> list[_T]:
        """The hosts the table lists, in run order."""
        loud = self._loud[: self.limit]
        chosen = loud + self._calm[: self.limit - len(loud)]
        return [item for _, item in sorted(chosen, key=lambda pair: pair[0])]


def table_hosts(report: RunReport, limit: int = MAX_TABLE_ROWS) -> list[HostResult]:
    """The hosts the table lists (:class:`Listing`) of a whole report (pure)."""
    listing: Listing[HostResult] = Listing(limit)
    for host in report.hosts:
        listing.add(host, _quiet(host))
    return listing.listed()


def markdown_document(mode: RunMode, summary: str, listing: Listing[MarkdownHost]) -> str:
    """The comment from the run's summary line and the hosts ``listing`` kept, ending with a
    newline; never longer than :data:`MAX_CHARS` characters (see the module docstring)."""
    lines = [f"**checkpointctl {mode}:** {md(summary)}", ""]
    listed = listing.listed()
    lines += [_row(["host", "status", "changes"]), _row(["---"] * 3), *(h.row for h in listed)]
    left_out = listing.total - len(listed)
    if left_out:
        quiet = listing.quiet - sum(h.quiet for h in listed)
        lines += ["", f"_…and {left_out} more hosts ({quiet} of them with nothing to report)._"]
    size = sum(len(line) + 1 for line in lines)
    wanted = [h for h in listed if h.details]
    for index, host in enumerate(wanted):
        block = ["", *host.details]
        block_size = sum(len(line) + 1 for line in block)
        if size + block_size > MAX_CHARS - _TRAILER_RESERVE:
            more = len(wanted) - index
            lines += [
                "",
                f"_…and {more} more hosts with details not shown: a comment is capped at "
                f"{MAX_CHARS} characters (the JSON report has everything)._",
            ]
            break
        lines += block
        size += block_size
    return "\n".join(lines) + "\n"


def render_markdown(report: RunReport) -> str:
    """The report as a Markdown document for a PR comment, ending with a newline.

    Never longer than :data:`MAX_CHARS` characters for any fleet (see the module docstring).
    """
    listing: Listing[MarkdownHost] = Listing()
    for host in report.hosts:
        part = markdown_host(report, host)
        listing.add(part, part.quiet)
    return markdown_document(report.mode, summary_line(report), listing)
