"""Renderers: a :class:`~checkpointctl.model.RunReport` as text, JSON, JUnit XML, Markdown or HTML.

Every renderer is a pure function of the report: no I/O, no clock, no environment, so the same
report always gives the same bytes and golden files can pin each format. ``report`` imports only
``checkpointctl.model`` (and the standard library), so a saved JSON report or a hand-built one
can be rendered without hosts or resources. The exit code is not decided here: it is
``RunReport.exit_code``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal, get_args

from checkpointctl.model import RunReport
from checkpointctl.report.jsonfmt import render_json, report_schema
from checkpointctl.report.markdown import render_markdown
from checkpointctl.report.summary import summary_line
from checkpointctl.report.text import render_text

Format = Literal["text", "json", "junit", "markdown", "html"]
FORMATS: tuple[Format, ...] = get_args(Format)
"""The ``--format`` choices, in the order the CLI lists them."""


def render_html(report: RunReport) -> str:
    """:func:`checkpointctl.report.html.render_html`, imported when first used: the page
    brings the status tables and rich, which a drift to JSON or JUnit never needs."""
    from checkpointctl.report.html import render_html as render

    return render(report)


def render_junit(report: RunReport) -> str:
    """:func:`checkpointctl.report.junit.render_junit`, imported when first used: it brings
    ``xml.etree``, which a drift to text or JSON never needs."""
    from checkpointctl.report.junit import render_junit as render

    return render(report)


_PLAIN_RENDERERS: Mapping[str, Callable[[RunReport], str]] = {
    "json": render_json,
    "junit": render_junit,
    "markdown": render_markdown,
    "html": render_html,
}

__all__ = [
    "FORMATS",
    "Format",
    "render",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_text",
    "report_schema",
    "summary_line",
]


def render(report: RunReport, fmt: Format, *, color: bool = False) -> str:
    """``report`` in format ``fmt``, as a string ending with a newline.

    ``color`` adds ANSI colour to the text format only (the CLI passes it for a TTY); the other
    formats are for files and machines and ignore it.

    Raises:
        ValueError: ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt == "text":
        return render_text(report, color=color)
    renderer = _PLAIN_RENDERERS.get(fmt)
    if renderer is None:  # callers outside mypy's reach (argparse, a saved config) pass any str
        raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return renderer(report)
