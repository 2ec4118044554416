"""``drift --watch`` and batched reads over real SSH, on a light lab host (read-only).

The first cycle connects; the next ones reuse the connection and its kept shell (no new
connection), and say exactly what the first said. The host is read, never written: the policy
wants a firewall table and files the test does not expect to match, so the plan is whatever the
host holds, and only its sameness across cycles is asserted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

POLICY = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: watch-test}
selector: {groups: [watched]}
priority: 10
spec:
  firewall:
    table: checkpointctl
    management: {ssh_port: 22, from: ["{{ controller_cidr }}"]}
    inbound: {default: drop, allow: []}
    outbound: {default: drop, allow: []}
"""


def test_watch_reuses_the_connection_and_reports_the_same(lab: LabInfo, tmp_path: Path) -> None:
    if not lab.light_hosts:
        pytest.skip("needs a light lab host")
    host = lab.light_hosts[0]
    doc = yaml.safe_load(lab.inventory.read_text())
    inv = {
        "all": {
            "vars": doc["all"]["vars"],
            "children": {"watched": {"hosts": {host.name: {"address": host.address}}}},
        }
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inv))
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "watch.yml").write_text(POLICY)
    out = tmp_path / "report.json"
    ctl = str(Path(sys.executable).parent / "checkpointctl")
    proc = subprocess.run(
        [
            ctl,
            "drift",
            str(tmp_path / "policies"),
            "-i",
            str(tmp_path / "inventory.yml"),
            "-q",
            "--format",
            "json",
            "-o",
            str(out),
            "--watch",
            "0",
            "--poll",
            "--cycles",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert proc.returncode in (0, 2), proc.stderr
    cycles = re.findall(
        r"^watch: cycle (\d+) in [\d.]+s \((\d+) new connections\): (.*)$", proc.stderr, re.M
    )
    assert [c[0] for c in cycles] == ["1", "2", "3"], proc.stderr
    assert [c[1] for c in cycles] == ["1", "0", "0"]
    assert cycles[0][2] == cycles[1][2] == cycles[2][2]
    report = json.loads(out.read_text())
    [result] = report["hosts"]
    assert result["host"] == host.name
    assert result["status"] in ("in-sync", "drift")
