"""A streamed report (:class:`ReportStream`) is byte for byte the rendered one.

Every case of ``report_cases`` (drift, check and apply, failures, halts, secrets, findings,
empty runs) is fed host by host to a stream in each streamed format and compared with
:func:`render` of the whole report, the exit code and the summary line with the report's. The
spool is forced onto disk for one case, as a large fleet's would be.
"""

from __future__ import annotations

import pytest
from report_cases import CASES

from checkpointctl.model import RunReport
from checkpointctl.report import render, summary_line
from checkpointctl.report import stream as stream_mod
from checkpointctl.report.stream import STREAMED, ReportStream, StreamFormat


def _streamed(report: RunReport, fmt: StreamFormat, *, color: bool = False) -> ReportStream:
    out = ReportStream(
        report.mode,
        fmt,
        names=[h.host for h in report.hosts],
        fail_on=report.fail_on,
        color=color,
    )
    for host in report.hosts:
        out.add(host)
    return out


# A halt (apply only) words each host's JUnit test case after the run; only reads are streamed,
# so a halted report is never streamed as JUnit and that pair is not a case.
STREAM_CASES = [
    (case, fmt)
    for case in sorted(CASES)
    for fmt in STREAMED
    if not (CASES[case].report.halted and fmt == "junit")
]


@pytest.mark.parametrize(("case", "fmt"), STREAM_CASES)
def test_stream_equals_render(case: str, fmt: StreamFormat) -> None:
    report = CASES[case].report
    out = _streamed(report, fmt)
    assert out.exit_code(report.halted) == report.exit_code
    assert out.summary_line(report.halted) == summary_line(report)
    assert b"".join(out.chunks(report.halted)).decode() == render(report, fmt)


@pytest.mark.parametrize("case", sorted(CASES))
def test_coloured_text_streams_the_same(case: str) -> None:
    report = CASES[case].report
    out = _streamed(report, "text", color=True)
    assert b"".join(out.chunks(report.halted)).decode() == render(report, "text", color=True)


def test_a_spool_on_disk_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_mod, "SPOOL_IN_MEMORY", 16)
    report = max(
        (c.report for c in CASES.values() if not c.report.halted), key=lambda r: len(r.hosts)
    )
    for fmt in STREAMED:
        out = _streamed(report, fmt)
        assert b"".join(out.chunks(report.halted)).decode() == render(report, fmt)


def test_markdown_is_not_streamed() -> None:
    with pytest.raises(ValueError, match="not streamed"):
        ReportStream("drift", "markdown")  # type: ignore[arg-type]
