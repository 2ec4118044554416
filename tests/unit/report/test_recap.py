"""The end-of-run recap: Ansible's counters per host, placed between the details and the summary."""

from __future__ import annotations

import dataclasses

from report_cases import CASES

from checkpointctl.model import HostResult, HostStatus, RunReport
from checkpointctl.report import render, summary_line
from checkpointctl.report.recap import Recap, recap, recap_lines


def test_apply_counters_per_host() -> None:
    assert recap(CASES["apply_halted"].report) == [
        Recap("cp-ams-1", ok=2, changed=2),
        # credential applied (ok), container failed, then the old container's delete skipped
        Recap("cp-ams-2", ok=1, changed=1, failed=1, skipped=1),
        Recap("cp-ams-3"),
        Recap("cp-fra-1", unreachable=1),
        Recap("cp-fra-2", skipped=1),
        Recap("cp-fra-3", skipped=1),
    ]


def test_drift_counts_what_would_change_and_host_failures() -> None:
    assert recap(CASES["drift"].report) == [
        Recap("cp-ams-1", ok=3, changed=4),
        Recap("cp-ams-2"),
        Recap("cp-fra-1", ok=1, changed=1),
        Recap("cp-fra-2", unreachable=1),
        Recap("cp-fra-3", failed=1),
    ]


def test_ok_counts_the_resource_kinds_read_in_sync() -> None:
    host = HostResult(
        "cp-1", HostStatus.IN_SYNC, checked=("firewall", "credential", "collection", "container")
    )
    assert recap(RunReport("drift", (host,))) == [Recap("cp-1", ok=4)]


def test_lines_align_and_sit_between_details_and_summary() -> None:
    report = CASES["drift"].report
    assert recap_lines(report) == [
        "RECAP",
        "cp-ams-1 : ok=3 changed=4 failed=0 unreachable=0 skipped=0",
        "cp-ams-2 : ok=0 changed=0 failed=0 unreachable=0 skipped=0",
        "cp-fra-1 : ok=1 changed=1 failed=0 unreachable=0 skipped=0",
        "cp-fra-2 : ok=0 changed=0 failed=0 unreachable=1 skipped=0",
        "cp-fra-3 : ok=0 changed=0 failed=1 unreachable=0 skipped=0",
    ]
    text = render(report, "text")
    blocks = text.rstrip("\n").split("\n\n")
    assert blocks[-1] == summary_line(report)
    assert blocks[-2] == "\n".join(recap_lines(report))
    assert blocks[-3].startswith("cp-fra-3: failed")


def test_plain_unless_coloured_and_then_counters_by_kind() -> None:
    report = CASES["apply_halted"].report
    assert "\x1b" not in render(report, "text")
    coloured = render(report, "text", color=True)
    assert "\x1b[31mfailed=1\x1b[0m" in coloured
    assert "\x1b[33mchanged=2\x1b[0m" in coloured
    assert "\x1b[36mskipped=1\x1b[0m" in coloured
    assert "failed=0 " in coloured  # a zero stays plain


def test_no_hosts_no_recap() -> None:
    assert recap_lines(RunReport("drift", ())) == []
    assert "RECAP" not in render(RunReport("drift", ()), "text")


def test_host_names_are_one_line() -> None:
    host = dataclasses.replace(CASES["all_in_sync"].report.hosts[0], host="a\x1b[31mb")
    (title, line) = recap_lines(RunReport("drift", (host,)))
    assert title == "RECAP"
    assert line.startswith("a\\x1b[31mb : ")
