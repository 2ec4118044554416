"""``report merge``: a JSON report read back renders as the original, and parts merge into the
report of the whole (or are refused, naming the file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_cases import CASES

from checkpointctl.cli.main import main
from checkpointctl.model import Action, Change, HostResult, HostStatus, RunReport
from checkpointctl.report import FORMATS, render
from checkpointctl.report.fromjson import ReportFileError, SavedReport, parse_report
from checkpointctl.report.merge import merge_reports, worst_exit_code

KINDS = ("firewall", "credential", "collection", "container")


def _saved(report: RunReport, source: str = "part.json") -> SavedReport:
    return parse_report(render(report, "json"), source)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_report_read_back_from_json_renders_as_the_original(name: str, fmt: str) -> None:
    original = CASES[name].report
    saved = _saved(original)
    assert render(saved.report, fmt) == render(original, fmt)  # type: ignore[arg-type]
    assert saved.exit_code == original.exit_code == saved.report.exit_code


def test_checked_kinds_survive_the_json_so_junit_keeps_passing_resources() -> None:
    report = RunReport(
        "drift",
        (
            HostResult("a", HostStatus.IN_SYNC, checked=KINDS),
            HostResult(
                "b",
                HostStatus.DRIFT,
                changes=(Change("firewall/checkpointctl", Action.UPDATE),),
                checked=KINDS,
            ),
        ),
    )
    back = _saved(report).report
    assert [h.checked for h in back.hosts] == [KINDS, KINDS]
    assert render(back, "junit") == render(report, "junit")
    assert render(back, "junit").count("<testcase") == 8


def _part(source: str, *hosts: HostResult, mode: str = "drift") -> SavedReport:
    return _saved(RunReport(mode, hosts), source)  # type: ignore[arg-type]


def test_merge_keeps_every_host_in_part_order_and_the_exit_code_of_the_whole() -> None:
    drifted = HostResult("c", HostStatus.DRIFT, changes=(Change("firewall/x", Action.CREATE),))
    merged = merge_reports(
        [
            _part("1.json", HostResult("a", HostStatus.IN_SYNC)),
            _part("2.json"),  # an empty shard
            _part("3.json", HostResult("b", HostStatus.IN_SYNC), drifted),
        ]
    )
    assert [h.host for h in merged.report.hosts] == ["a", "b", "c"]
    assert merged.exit_code == merged.report.exit_code == 2
    unreachable = HostResult("d", HostStatus.UNREACHABLE, error="timed out")
    worse = merge_reports([_part("1.json", drifted), _part("2.json", unreachable)])
    assert worse.exit_code == 1


def test_a_recorded_exit_code_worse_than_the_hosts_show_still_fails_the_whole() -> None:
    part = _part("1.json", HostResult("a", HostStatus.IN_SYNC))
    recorded_error = SavedReport("1.json", part.report, 1)
    assert merge_reports([recorded_error]).exit_code == 1
    assert worst_exit_code([0, 2, 0]) == 2
    assert worst_exit_code([2, 1]) == 1
    assert worst_exit_code([]) == 0


def test_parts_of_different_modes_are_refused() -> None:
    with pytest.raises(ReportFileError, match=r"b\.json: mode: 'apply', but a\.json is 'drift'"):
        merge_reports(
            [
                _part("a.json", HostResult("x", HostStatus.IN_SYNC)),
                _part("b.json", HostResult("y", HostStatus.CONVERGED), mode="apply"),
            ]
        )


def test_a_host_in_two_parts_is_refused() -> None:
    with pytest.raises(ReportFileError, match=r"b\.json: host 'x' is also in a\.json"):
        merge_reports(
            [
                _part("a.json", HostResult("x", HostStatus.IN_SYNC)),
                _part("b.json", HostResult("x", HostStatus.IN_SYNC)),
            ]
        )


def test_another_major_format_version_is_refused_naming_the_file() -> None:
    doc = json.loads(render(RunReport("drift", ()), "json"))
    doc["format_version"] = "2.0"
    with pytest.raises(
        ReportFileError, match=r"^p\.json: format_version: '2\.0' is not a 1\.x report"
    ):
        parse_report(json.dumps(doc), "p.json")


def test_a_newer_minor_version_with_unknown_fields_is_read() -> None:
    doc = json.loads(render(RunReport("drift", (HostResult("a", HostStatus.IN_SYNC),)), "json"))
    doc["format_version"] = "1.99"
    doc["hosts"][0]["from_the_future"] = True
    assert parse_report(json.dumps(doc), "p.json").report.hosts[0].host == "a"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"^p\.json:1:2: not a JSON report"),
        ("[]", r"^p\.json: not a JSON report"),
        ('{"hosts": []}', r"^p\.json: format_version: missing"),
        (
            '{"format_version": "1.2", "mode": "drift", "exit_code": 0, "halted": null,'
            ' "summary": {}, "hosts": [{"host": "a", "status": "sideways"}]}',
            r"^p\.json: hosts\[0\]",
        ),
    ],
)
def test_a_file_that_is_not_a_report_is_refused_naming_it(text: str, message: str) -> None:
    with pytest.raises(ReportFileError, match=message):
        parse_report(text, "p.json")


def test_cli_merges_files_into_any_format_and_exits_with_the_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drifted = HostResult("b", HostStatus.DRIFT, changes=(Change("firewall/x", Action.CREATE),))
    one = tmp_path / "1.json"
    two = tmp_path / "2.json"
    one.write_text(render(RunReport("drift", (HostResult("a", HostStatus.IN_SYNC),)), "json"))
    two.write_text(render(RunReport("drift", (drifted,)), "json"))
    out = tmp_path / "drift.xml"
    code = main(["report", "merge", str(one), str(two), "--format", "junit", "-o", str(out)])
    assert code == 2
    text = out.read_text()
    assert 'name="a"' in text
    assert 'name="b"' in text
    assert main(["report", "merge", str(one), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["hosts"][0]["host"] == "a"
    assert main(["report", "merge", str(one), str(tmp_path / "missing.json")]) == 1
    assert "missing.json: cannot read the report" in capsys.readouterr().err


def test_report_merge_offers_every_report_format() -> None:
    from checkpointctl.cli.report import REPORT_FORMATS

    assert set(REPORT_FORMATS) == set(FORMATS)
