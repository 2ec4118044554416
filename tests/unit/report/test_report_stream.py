"""A streamed report (:class:`ReportStream`) is byte for byte the rendered one.

Every case of ``report_cases`` (drift, check and apply, failures, halts, secrets, findings,
empty runs) is fed host by host to a stream in each format and compared with :func:`render` of
the whole report, the exit code and the summary line with the report's. The same cases with
locations and data-collection switches exercise the HTML page's location table, filters and
privacy view; fleets past the Markdown comment's caps exercise its table and details budget.
The spool is forced onto disk, as a large fleet's would be, and must be private and unnamed.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from report_cases import CASES, PLAINTEXT

from checkpointctl.model import (
    Action,
    Change,
    DataCollection,
    FieldChange,
    Finding,
    HostResult,
    HostStatus,
    RunReport,
)
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


def test_an_unknown_format_is_not_streamed() -> None:
    with pytest.raises(ValueError, match="not streamed"):
        ReportStream("drift", "yaml")  # type: ignore[arg-type]


_PLACES = ("eu-west <1>", "us", None, "eu-west <1>", "ap")
_COLLECTIONS = (
    (DataCollection("probe", "strict", (("screenshots", True), ("har", False))),),
    (),
    (
        DataCollection("probe", "open", (("har", True), ("console", False))),
        DataCollection("agent", "minimal"),
    ),
)


def _located(report: RunReport) -> RunReport:
    """``report`` with its hosts spread over sites, some carrying data-collection switches."""
    hosts = tuple(
        replace(h, location=_PLACES[i % len(_PLACES)], data_collection=_COLLECTIONS[i % 3])
        for i, h in enumerate(report.hosts)
    )
    return replace(report, hosts=hosts)


@pytest.mark.parametrize("case", sorted(CASES))
def test_html_with_locations_and_privacy_streams_the_same(case: str) -> None:
    report = _located(CASES[case].report)
    with _streamed(report, "html") as out:
        page = b"".join(out.chunks(report.halted)).decode()
    assert page == render(report, "html")
    assert PLAINTEXT not in page
    if report.hosts:
        assert 'data-filter-location="eu-west &lt;1&gt;"' in page
    if any(h.data_collection for h in report.hosts):
        assert "collection change pending" in page


def _host(i: int) -> HostResult:
    """Host ``i`` of a large fleet: mostly in sync, some drifted (with a pending collection
    change and a finding), some unreachable or failed."""
    name = f"cp-{i:05d}"
    if i % 11 == 3:
        return HostResult(name, HostStatus.UNREACHABLE, error="connection refused")
    if i % 13 == 5:
        return HostResult(name, HostStatus.FAILED, error="plan failed: " + "x" * 300)
    if i % 4 == 1:
        change = Change(
            "collection/probe",
            Action.UPDATE,
            tuple(FieldChange(f"switch{j}", "a" * 60, "b" * 60) for j in range(i % 50)),
            reason="edited by hand",
        )
        finding = Finding("container/stray", "publishes port 8080", "warning")
        return HostResult(name, HostStatus.DRIFT, changes=(change,), findings=(finding,))
    return HostResult(name, HostStatus.IN_SYNC, location=f"site-{i % 3}")


@pytest.mark.parametrize(
    ("size", "first"),
    # a fleet under the table cap, one just over it, one far over with details past the
    # comment's budget, and one whose hosts needing attention all come late
    [(30, 0), (51, 0), (1_000, 0), (400, 300)],
)
@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_large_fleets_stream_the_same(size: int, first: int, fmt: StreamFormat) -> None:
    hosts = [HostResult(f"ok-{i:05d}", HostStatus.IN_SYNC) for i in range(first)]
    hosts += [_host(i) for i in range(size - first)]
    report = RunReport("drift", tuple(hosts))
    with _streamed(report, fmt) as out:
        assert b"".join(out.chunks()).decode() == render(report, fmt)


def _spool_files(folder: Path) -> list[int]:
    """This process's open file descriptors on files in ``folder``."""
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            fds.append(int(fd))
    return fds


@pytest.mark.parametrize("fmt", ["html", "text"])
def test_spools_on_disk_are_private_unnamed_and_gone_after_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: StreamFormat
) -> None:
    monkeypatch.setattr(stream_mod, "SPOOL_IN_MEMORY", 16)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    report = _located(CASES["drift"].report)

    def write_then_fail() -> None:
        with _streamed(report, fmt):
            on_disk = _spool_files(tmp_path)
            assert on_disk, "the spools should have moved to disk"
            assert all(os.fstat(fd).st_mode & 0o777 == 0o600 for fd in on_disk)
            # unnamed: another user (or a later run) finds nothing to open in the directory
            assert os.listdir(tmp_path) == []
            raise RuntimeError("the writer broke")

    with pytest.raises(RuntimeError, match="the writer broke"):
        write_then_fail()
    assert _spool_files(tmp_path) == []
