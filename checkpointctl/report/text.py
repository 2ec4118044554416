"""The terminal report: Terraform's plan look, per host, then one fleet summary line.

People read this in a terminal and in CI logs, so it must be stable and plain unless colour is
asked for (the CLI asks only on a TTY), and no value from a host may reach the terminal as a
control sequence: everything goes through :mod:`checkpointctl.report.display`.

Example::

    cp-1: 2 changes
      # collection/probe has drifted and would be updated in-place (from policies/base.yml:14:9)
        reason: interval edited by hand
        ~ interval: 60 → 30
      # credential/api-login would be created
        + content: <sensitive>
      ! container/rogue: not managed by checkpointctl

    No changes. cp-2 is in sync.

    RECAP
    cp-1 : ok=2 changed=2 failed=0 unreachable=0 skipped=0
    cp-2 : ok=4 changed=0 failed=0 unreachable=0 skipped=0

    Plan: 1 to create, 1 to update, 0 to replace, 0 to delete on 1 of 2 hosts.
"""

from __future__ import annotations

from checkpointctl.model import Finding, HostResult, HostStatus, RunReport
from checkpointctl.report.display import field_symbol, field_text, one_line
from checkpointctl.report.provenance import accepted_text, origin_text
from checkpointctl.report.recap import Paint, recap_lines
from checkpointctl.report.summary import change_headline, host_headline, summary_line

_RESET = "\x1b[0m"
_BOLD = "1"
_RED = "31"
_GREEN = "32"
_YELLOW = "33"
_CYAN = "36"
_SYMBOL_COLOURS = {"+": _GREEN, "~": _YELLOW, "-": _RED}
_STATUS_COLOURS = {
    HostStatus.UNREACHABLE: _RED,
    HostStatus.FAILED: _RED,
    HostStatus.NOT_ATTEMPTED: _YELLOW,
}
_RECAP_COLOURS = {
    "ok": _GREEN,
    "changed": _YELLOW,
    "failed": _RED,
    "unreachable": _RED,
    "skipped": _CYAN,
}


class _Painter:
    """Wraps text in ANSI SGR codes, or leaves it alone when colour is off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str | None) -> str:
        if not self.enabled or code is None:
            return text
        return f"\x1b[{code}m{text}{_RESET}"


def _finding_line(finding: Finding) -> str:
    suffix = "" if finding.severity == "warning" else f" [{finding.severity}]"
    return f"{one_line(finding.address)}: {one_line(finding.message)}{suffix}"


def _host_block(report: RunReport, host: HostResult, paint: _Painter) -> list[str]:
    headline = host_headline(report, host)
    in_sync = not host.changes and host.status in (HostStatus.IN_SYNC, HostStatus.CONVERGED)
    code = _GREEN if in_sync else _STATUS_COLOURS.get(host.status, _BOLD)
    lines = [paint(headline, code)]
    for change in host.changes:
        lines.append("  " + paint("# " + change_headline(report, host, change), _BOLD))
        if change.reason:
            lines.append(f"    reason: {one_line(change.reason)}")
        origin = origin_text(host, change)
        if origin:
            lines.append(f"    origin: {origin}")
        for field in change.fields:
            symbol = field_symbol(field)
            lines.append(f"    {paint(symbol, _SYMBOL_COLOURS[symbol])} {field_text(field)}")
    lines.extend(f"  = {accepted_text(a)}" for a in host.accepted)
    lines.extend(f"  {paint('!', _YELLOW)} {_finding_line(f)}" for f in host.findings)
    return lines


def host_text(report: RunReport, host: HostResult, *, color: bool = False) -> str:
    """One host's block of the text report (no trailing newline)."""
    return "\n".join(_host_block(report, host, _Painter(color)))


def recap_painter(color: bool) -> Paint:
    """How the text report paints its recap."""
    paint = _Painter(color)
    return lambda text, role: paint(text, _RECAP_COLOURS[role])


def summary_text(line: str, *, color: bool = False) -> str:
    """The text report's last line: the summary, bold on a terminal."""
    return _Painter(color)(line, _BOLD)


def render_text(report: RunReport, *, color: bool = False) -> str:
    """The report for a terminal or a log: host blocks in report order, the recap (one line of
    counters per host, :mod:`checkpointctl.report.recap`), then the summary line.

    ``color`` adds ANSI colours (green ``+``, yellow ``~``, red ``-`` and failed hosts); without
    it the output is plain, byte-for-byte stable text. The result ends with a newline.
    """
    blocks = [host_text(report, host, color=color) for host in report.hosts]
    recap = recap_lines(report, recap_painter(color))
    if recap:
        blocks.append("\n".join(recap))
    blocks.append(summary_text(summary_line(report), color=color))
    return "\n\n".join(blocks) + "\n"
