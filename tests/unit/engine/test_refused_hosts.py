"""A host the inventory marks as one checkpointctl cannot manage (``os: windows``) is refused on
its own: no connection is made to it, it is reported as refused with the reason, the other
hosts are planned as usual, and the run's exit code says something failed."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.engine.run import run_fleet
from checkpointctl.engine.status import read_host
from checkpointctl.inventory.hosts import WINDOWS_REFUSED
from checkpointctl.model import FailureReason, Host, HostStatus
from checkpointctl.report.jsonfmt import render_json
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import Transport
from checkpointctl.transport.local import LocalTransport

REPO = Path(__file__).resolve().parents[3]
WINDOWS = Host("win-1", "192.0.2.7", refused=f"inv.yml:3:5: win-1: {WINDOWS_REFUSED}")
LINUX = Host("here", "127.0.0.1", connection="local")


def test_the_refused_host_fails_alone_without_a_connection() -> None:
    connected: list[str] = []

    def connect(host: Host) -> Transport:
        connected.append(host.name)
        return LocalTransport(host)

    states = {h.name: DesiredState(host=h.name) for h in (WINDOWS, LINUX)}
    report = run_fleet([WINDOWS, LINUX], states, "drift", connect, resources=[])
    assert connected == ["here"]
    by_name = {r.host: r for r in report.hosts}
    assert by_name["here"].status is HostStatus.IN_SYNC
    refused = by_name["win-1"]
    assert (refused.status, refused.failure) == (HostStatus.FAILED, FailureReason.REFUSED)
    assert refused.error is not None
    assert "os: windows is not supported yet" in refused.error
    assert "docs/windows.md" in refused.error
    assert report.exit_code == 1
    doc = json.loads(render_json(report))
    assert [h["status"] for h in doc["hosts"]] == ["failed", "in-sync"]


def test_status_reports_the_refused_host_without_connecting() -> None:
    def connect(host: Host) -> Transport:
        raise AssertionError(f"connected to {host.name}")

    health = read_host(WINDOWS, DesiredState(host="win-1"), connect, today=date.today())
    assert health.error is not None
    assert "refused: " in health.error
    assert "docs/windows.md" in health.error
    assert health.problems


def test_validate_loads_the_inventory_and_warns_of_the_refused_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = tmp_path / "inv.yml"
    inventory.write_text("all:\n  hosts:\n    win-1: {address: 192.0.2.7, os: windows}\n")
    assert main(["validate", str(REPO / "policies"), "-i", str(inventory)]) == 0
    err = capsys.readouterr().err
    assert "warning: refused: " in err
    assert "inv.yml:3:" in err
    assert "docs/windows.md" in err
