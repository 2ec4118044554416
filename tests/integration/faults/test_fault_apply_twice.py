"""Apply twice through the real CLI: the first run changed something, the second changes nothing.

(tests/integration/test_drift_apply.py checks the second apply of the example policies on the
full hosts, but its first apply may find them converged already; here the host is first put out
of line, so both halves are asserted. Two controllers at once: tests/unit/fleet/test_fleet_lock.py
and tests/integration/test_fleet_rollout.py, by the fleet helper.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultlib import host_run

from checkpointctl.lab import LabInfo

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST = "lt-2"
POLICY = """apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: fault-twice}
selector: {hosts: [lt-2]}
priority: 10
spec:
  firewall:
    table: checkpointctl
    management: {ssh_port: 22, from: ["{{ controller_cidr }}"]}
    inbound: {default: drop, allow: []}
    outbound:
      default: drop
      allow:
        - {proto: tcp, port: 5000, to: ["{{ registry_cidr }}"], comment: image registry}
"""


@pytest.fixture
def policies(tmp_path: Path, lab: LabInfo) -> Iterator[Path]:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "twice.yml").write_text(POLICY)
    host_run(HOST, ["nft", "delete", "table", "inet", "checkpointctl"], check=False)
    yield tmp_path / "policies"
    host_run(HOST, ["nft", "delete", "table", "inet", "checkpointctl"], check=False)


def _apply(policies: Path, lab: LabInfo, audit: Path) -> tuple[int, dict[str, object], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "checkpointctl", "apply", str(policies), "-i", str(lab.inventory),
         "--limit", HOST, "--format", "json", "-q", "--audit-log", str(audit)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_first_apply_changes_the_host_and_the_second_changes_nothing(
    policies: Path, lab: LabInfo, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    code, first, err = _apply(policies, lab, audit)
    assert code == 0, err
    (host,) = first["hosts"]  # type: ignore[misc]
    assert host["status"] == "converged"
    assert host["applied"] == ["firewall/checkpointctl"]
    assert "table inet checkpointctl" in host_run(HOST, ["nft", "list", "ruleset"]).stdout
    code, second, err = _apply(policies, lab, audit)
    assert code == 0, err
    (again,) = second["hosts"]  # type: ignore[misc]
    assert again["status"] == "in-sync"
    assert again["changes"] == []
    assert again["applied"] == []
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [bool(line["applied"]) for line in lines] == [True, False]
