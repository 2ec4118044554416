"""Reports for whole fleets: the Markdown comment stays within its cap, and JUnit shows a
testcase for every host × resource, passing ones included."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from checkpointctl.model import (
    Action,
    Change,
    FieldChange,
    Finding,
    HostResult,
    HostStatus,
    RunReport,
)
from checkpointctl.report import render
from checkpointctl.report.markdown import (
    MAX_CHANGE_ROWS,
    MAX_CHARS,
    MAX_FINDINGS,
    MAX_TABLE_ROWS,
    table_hosts,
)


def _change(i: int, fields: int = 3) -> Change:
    return Change(
        address=f"collection/probe{i}",
        action=Action.UPDATE,
        fields=tuple(FieldChange(f"toggle{j}", "a" * 80, "b" * 80) for j in range(fields)),
        reason="edited by hand " + "x" * 100,
    )


def _drifted(name: str, changes: int = 10) -> HostResult:
    return HostResult(name, HostStatus.DRIFT, changes=tuple(_change(i) for i in range(changes)))


def _fleet(drifted: int, in_sync: int) -> RunReport:
    hosts = [HostResult(f"ok-{i:04d}", HostStatus.IN_SYNC) for i in range(in_sync)]
    hosts += [_drifted(f"bad-{i:04d}") for i in range(drifted)]
    return RunReport("drift", tuple(hosts))


def test_a_large_fleet_fits_a_comment() -> None:
    markdown = render(_fleet(drifted=400, in_sync=600), "markdown")
    assert len(markdown) <= MAX_CHARS


def test_the_table_is_capped_with_an_and_n_more_line() -> None:
    markdown = render(_fleet(drifted=10, in_sync=990), "markdown")
    rows = [line for line in markdown.splitlines() if line.startswith("| ok-")]
    rows += [line for line in markdown.splitlines() if line.startswith("| bad-")]
    assert len(rows) == MAX_TABLE_ROWS
    assert f"_…and {1000 - MAX_TABLE_ROWS} more hosts (" in markdown
    assert f"({1000 - MAX_TABLE_ROWS} of them with nothing to report)" in markdown


def test_hosts_needing_attention_are_listed_before_quiet_ones() -> None:
    report = _fleet(drifted=10, in_sync=990)
    listed = table_hosts(report)
    assert {h.host for h in listed if h.host.startswith("bad-")} == {
        f"bad-{i:04d}" for i in range(10)
    }


def test_the_table_keeps_run_order() -> None:
    report = _fleet(drifted=10, in_sync=990)
    names = [h.host for h in table_hosts(report)]
    assert names == [h.host for h in report.hosts if h.host in set(names)]


def test_details_stop_at_the_budget_with_a_count() -> None:
    markdown = render(_fleet(drifted=45, in_sync=0), "markdown")
    assert "more hosts with details not shown: a comment is capped at" in markdown
    shown = markdown.count("<details>")
    assert 0 < shown < 45
    assert f"_…and {45 - shown} more hosts with details" in markdown


def test_a_small_report_is_not_capped() -> None:
    markdown = render(_fleet(drifted=3, in_sync=3), "markdown")
    assert "…and" not in markdown
    assert markdown.count("<details>") == 3


def test_one_host_with_many_fields_is_capped() -> None:
    host = HostResult("big", HostStatus.DRIFT, changes=(_change(0, fields=MAX_CHANGE_ROWS + 25),))
    markdown = render(RunReport("drift", (host,)), "markdown")
    assert "_…and 25 more field rows (see the JSON report)._" in markdown


def test_one_host_with_many_findings_is_capped() -> None:
    findings = tuple(Finding(f"container/x{i}", "odd") for i in range(MAX_FINDINGS + 7))
    host = HostResult("noisy", HostStatus.IN_SYNC, findings=findings)
    markdown = render(RunReport("drift", (host,)), "markdown")
    assert "- _…and 7 more findings._" in markdown


def _cases(xml: str) -> dict[tuple[str, str], list[str]]:
    root = ET.fromstring(xml.split("\n", 1)[1])
    return {
        (case.get("classname", ""), case.get("name", "")): [child.tag for child in case]
        for case in root.iter("testcase")
    }


def test_junit_has_a_testcase_per_host_and_resource() -> None:
    kinds = ("firewall", "credential", "collection", "container")
    report = RunReport(
        "drift",
        (
            HostResult("cp-1", HostStatus.IN_SYNC, checked=kinds),
            HostResult("cp-2", HostStatus.DRIFT, changes=(_change(0),), checked=kinds),
        ),
    )
    cases = _cases(render(report, "junit"))
    assert cases == {
        ("cp-1", "firewall"): [],
        ("cp-1", "credential"): [],
        ("cp-1", "collection"): [],
        ("cp-1", "container"): [],
        ("cp-2", "collection/probe0"): ["failure"],
        ("cp-2", "firewall"): [],
        ("cp-2", "credential"): [],
        ("cp-2", "container"): [],
    }


def test_junit_without_kinds_keeps_one_in_sync_case() -> None:
    report = RunReport("drift", (HostResult("cp-1", HostStatus.IN_SYNC),))
    assert _cases(render(report, "junit")) == {("cp-1", "in-sync"): []}
