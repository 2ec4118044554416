"""A saved JSON report reads back into the same report (what the API's read_report does)."""

from __future__ import annotations

import json

import pytest
from report_cases import CASES, PLAINTEXT

from checkpointctl.model import DataCollection, HostResult, HostStatus, RunReport, report_to_json
from checkpointctl.model.readback import ReportFormatError, report_from_json
from checkpointctl.report import FORMATS, render

CASE_NAMES = sorted(CASES)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_every_format_renders_the_same_from_the_saved_json(case: str) -> None:
    report = CASES[case].report
    saved = json.loads(render(report, "json"))
    again = report_from_json(saved)
    for fmt in FORMATS:
        if fmt == "junit":
            continue  # JUnit lists in-sync resource kinds, which JSON does not carry
        assert render(again, fmt) == render(report, fmt), fmt


def test_location_and_collection_round_trip() -> None:
    host = HostResult(
        "cp-1",
        HostStatus.IN_SYNC,
        location="eu",
        data_collection=(DataCollection("probe", "strict", (("screenshots", False),)),),
    )
    report = RunReport("drift", (host,))
    document = report_to_json(report)
    assert document["hosts"][0]["location"] == "eu"  # type: ignore[index,call-overload]
    assert report_from_json(document) == report


def test_redacted_values_stay_redacted() -> None:
    again = report_from_json(json.loads(render(CASES["drift"].report, "json")))
    assert PLAINTEXT not in render(again, "text")
    assert "+ content: <sensitive>" in render(again, "text")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format_version="2.0"), "format_version"),
        (lambda d: d.update(mode="explode"), "mode"),
        (lambda d: d["hosts"][0].update(status="happy"), r"hosts\[0\]\.status"),
        (lambda d: d["hosts"][0]["changes"][0].update(action="x"), r"changes\[0\]\.action"),
        (lambda d: d["hosts"][0].update(seconds="slow"), r"hosts\[0\]\.seconds"),
    ],
)
def test_a_wrong_document_names_the_field(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(render(CASES["drift"].report, "json"))
    mutate(document)
    with pytest.raises(ReportFormatError, match=message):
        report_from_json(document)
