"""``status --from DIR|URL``: pull hosts shown from their agents' signed reports, flagged when
the signature fails, the report is older than three intervals, the host runs an older serial,
the run was not healthy, or there is no report. The URL form is read here from a loopback HTTP
server (``URL/<host>.json`` and a ``{host}`` template); the lab test reads the lab's nginx."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
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


EXPECTED = {
    "cp-1": [],
    "cp-2": ["stale"],
    "cp-3": ["old-serial"],
    "cp-4": ["bad-signature"],
    "cp-5": ["missing"],
    "cp-6": ["unhealthy"],
}


def _fleet(tmp_path: Path) -> Path:
    """Six pull hosts in ``inventory.yml``, the reports of five of them in ``reports/``, one
    of each kind of flag (see EXPECTED)."""
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
    return reports


def test_status_from_a_directory_flags_each_kind_of_bad_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = _fleet(tmp_path)
    monkeypatch.chdir(tmp_path)

    code = main(["status", "-i", "inventory.yml", "--from", str(reports), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    flags = {h["host"]: h["flags"] for h in doc["pull_hosts"]}
    assert flags == EXPECTED
    assert code == 1
    assert doc["healthy"] is False
    assert doc["hosts"] == []  # every host is a pull host: none is read over SSH

    code = main(["status", "-i", "inventory.yml", "--from", str(reports), "--format", "text",
                 "--limit", "cp-1"])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0
    assert "cp-1  pull  in-sync  12" in text
    assert "1 of 1 pull hosts healthy" in text


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """The fleet's reports served over HTTP on loopback: (tmp_path, base URL, paths asked)."""
    reports = _fleet(tmp_path)
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            asked.append(self.path)

        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Handler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{httpd.server_address[1]}/{reports.name}/", asked
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.mark.parametrize("form", ["base", "template"])
def test_status_from_a_url_reads_one_report_per_host(
    served: tuple[Path, str, list[str]],
    form: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, base, asked = served
    monkeypatch.chdir(root)
    source = base if form == "base" else base + "{host}.json"
    code = main(["status", "-i", "inventory.yml", "--from", source, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert {h["host"]: h["flags"] for h in doc["pull_hosts"]} == EXPECTED
    assert code == 1
    # one GET of <host>.json per inventory host, no listing of the share
    assert sorted(asked) == [f"/reports/cp-{i}.json" for i in range(1, 7)]
    missing = next(h for h in doc["pull_hosts"] if h["host"] == "cp-5")
    assert "404" in missing["detail"]
