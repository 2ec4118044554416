"""``status --from DIR``: pull hosts shown from their agents' signed reports, flagged when the
signature fails, the report is older than three intervals, the host runs an older serial, the
run was not healthy, or there is no report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from checkpointctl.cli.main import main
from checkpointctl.trust.keys import SigningKey
from checkpointctl.trust.statusreport import (
    ensure_report_key,
    public_key_text,
    report_body,
    sign_report,
)
from checkpointctl.trust.timeutil import format_time


def _key(root: Path, name: str) -> SigningKey:
    (root / name).mkdir()
    return ensure_report_key(str(root / name))


def _report(
    host: str, key: SigningKey, *, age: timedelta, serial: int, result: str = "in-sync"
) -> bytes:
    when = datetime.now(UTC).replace(microsecond=0) - age
    status = {
        "host": host,
        "time": format_time(when),
        "result": result,
        "healthy": result in ("converged", "in-sync"),
        "message": "refused: bundle serial 3 is older" if result == "refused" else "",
        "bundle": {"serial": serial, "manifest_sha256": "sha256:" + "cd" * 32},
    }
    return sign_report(report_body(status, interval=60.0, source_version=None), key)


def test_status_from_a_directory_flags_each_kind_of_bad_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = {h: _key(tmp_path, h) for h in ("cp-1", "cp-2", "cp-3", "cp-4", "cp-5", "cp-6")}
    rogue = _key(tmp_path, "rogue")
    reports = tmp_path / "reports"
    reports.mkdir()
    fresh = timedelta(seconds=30)
    (reports / "cp-1.json").write_bytes(_report("cp-1", keys["cp-1"], age=fresh, serial=12))
    (reports / "cp-2.json").write_bytes(
        _report("cp-2", keys["cp-2"], age=timedelta(minutes=4), serial=12)
    )  # 4 minutes: over three intervals of 60 s
    (reports / "cp-3.json").write_bytes(_report("cp-3", keys["cp-3"], age=fresh, serial=11))
    (reports / "cp-4.json").write_bytes(_report("cp-4", rogue, age=fresh, serial=12))
    (reports / "cp-6.json").write_bytes(
        _report("cp-6", keys["cp-6"], age=fresh, serial=12, result="refused")
    )
    hosts = {
        h: {
            "address": "127.0.0.1",
            "port": 1,
            "pull_mode": True,
            "agent_report_key": public_key_text(k),
        }
        for h, k in keys.items()
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    monkeypatch.chdir(tmp_path)

    code = main(["status", "-i", "inventory.yml", "--from", str(reports), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    flags = {h["host"]: h["flags"] for h in doc["pull_hosts"]}
    assert flags == {
        "cp-1": [],
        "cp-2": ["stale"],
        "cp-3": ["old-serial"],
        "cp-4": ["bad-signature"],
        "cp-5": ["missing"],
        "cp-6": ["unhealthy"],
    }
    assert code == 1
    assert doc["healthy"] is False
    assert doc["hosts"] == []  # every host is a pull host: none is read over SSH

    code = main(["status", "-i", "inventory.yml", "--from", str(reports), "--format", "text",
                 "--limit", "cp-1"])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0
    assert "cp-1  pull  in-sync  12" in text
    assert "1 of 1 pull hosts healthy" in text
