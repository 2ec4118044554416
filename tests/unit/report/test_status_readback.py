"""A saved status JSON report reads back into the same hosts (what the API's read_status does):
written again it is the same document, and the HTML page rendered from it is the same page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from checkpointctl import api
from checkpointctl.model import DataCollection
from checkpointctl.model.health import ContainerStatus, Disk, HostHealth, RunRecord, fleet_json
from checkpointctl.model.readback import ReportFormatError, status_from_json
from checkpointctl.report.html import render_status_html

HOSTS = (
    HostHealth(
        "cp-ams-1",
        True,
        docker="24.0",
        containers=(
            ContainerStatus("probe", "running", "healthy", 2, digest_ok=True),
            ContainerStatus("old", "exited", wanted=False),
        ),
        firewall="in sync",
        credentials=("api-login expires in 5 days (2026-12-12)",),
        last_apply=RunRecord("2026-12-01T10:00:00+00:00", "converged", "ops@ci"),
        agent=RunRecord("2026-12-02T10:00:00+00:00", "failed", error="registry down"),
        security_updates=3,
        disk=Disk(91, 1234),
        security=("/etc/checkpoint is a link",),
        problems=("probe: exited",),
        warnings=("3 security update(s) pending",),
        location="eu",
        data_collection=(
            DataCollection("probe", "strict", (("screenshots", True), ("har", False))),
        ),
    ),
    HostHealth("cp-nyc-1", False, error="connection refused", location="us"),
    HostHealth("cp-sfo-1", True),
)


def test_a_saved_status_reads_back_to_the_same_document_and_page(tmp_path: Path) -> None:
    saved = fleet_json(HOSTS)
    assert saved["format_version"] == "1.1"
    path = tmp_path / "status.json"
    path.write_text(json.dumps(saved))
    again = api.read_status(path)
    assert fleet_json(again) == saved
    assert render_status_html(again) == render_status_html(HOSTS)
    assert again[0].location == "eu"
    assert again[0].data_collection == HOSTS[0].data_collection
    assert again[2].location is None


def test_a_format_1_0_status_reads_without_location_or_collection() -> None:
    old = fleet_json(HOSTS)
    old["format_version"] = "1"
    for host in old["hosts"]:  # type: ignore[union-attr]
        host.pop("location", None)  # type: ignore[union-attr]
        host.pop("data_collection", None)  # type: ignore[union-attr]
    hosts = status_from_json(old)
    assert [h.location for h in hosts] == [None, None, None]
    assert [h.data_collection for h in hosts] == [(), (), ()]
    assert [h.healthy for h in hosts] == [h.healthy for h in HOSTS]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"format_version": "2.0"}, "format_version: '2.0' is not a 1.x status report"),
        ({"hosts": [{"host": "cp-1"}]}, "hosts[0].reachable: expected true or false"),
        (
            {"hosts": [{"host": "cp-1", "reachable": True, "location": 7}]},
            "hosts[0].location: expected a string",
        ),
        (
            {
                "hosts": [
                    {
                        "host": "cp-1",
                        "reachable": True,
                        "data_collection": [
                            {"container": "p", "profile": "x", "settings": {"har": "yes"}}
                        ],
                    }
                ]
            },
            "hosts[0].data_collection[0].settings: expected true or false values",
        ),
    ],
)
def test_a_bad_status_document_is_refused_naming_the_field(
    edit: dict[str, object], message: str
) -> None:
    document = {**fleet_json(HOSTS), **edit}
    with pytest.raises(ReportFormatError, match=re.escape(message)):
        status_from_json(document)  # type: ignore[arg-type]
