"""Scan-gate verdicts are computed on the controller from reports in the policy repository."""

from __future__ import annotations

import json
from pathlib import Path

from checkpointctl.gitops.scangate import attach_scan_verdicts
from checkpointctl.inventory import load_inventory
from checkpointctl.policy.loader import load_desired

DIGEST = "sha256:" + "ab" * 32
POLICY = f"""
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {{name: scanned}}
spec:
  registries:
    trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
    scan: {{required: true, max_severity: high, reports: scans}}
  containers:
    - name: probe
      image: registry.example.com/checkpoint/probe@{DIGEST}
      user: "10001:10001"
      cap_drop: [ALL]
"""


def _states(tmp_path: Path, findings: list[dict[str, str]] | None) -> dict[str, tuple[bool, str]]:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yml").write_text(POLICY)
    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    cp-1: {address: 192.0.2.1}\n")
    if findings is not None:
        (tmp_path / "scans").mkdir()
        report = {"digest": DIGEST, "findings": findings}
        (tmp_path / "scans" / f"{DIGEST[7:]}.json").write_text(json.dumps(report))
    paths = [str(tmp_path / "policies")]
    result = load_desired(paths, load_inventory(str(tmp_path / "inv.yml")))
    assert not result.errors
    attach_scan_verdicts(result, paths)
    return dict(result.states["cp-1"].scan_verdicts)


def test_missing_report_fails_the_gate(tmp_path: Path) -> None:
    verdicts = _states(tmp_path, None)
    ok, reason = verdicts[DIGEST]
    assert ok is False
    assert reason


def test_clean_report_passes(tmp_path: Path) -> None:
    ok, _ = _states(tmp_path, [{"id": "CVE-1", "severity": "LOW"}])[DIGEST]
    assert ok is True


def test_high_finding_fails(tmp_path: Path) -> None:
    ok, reason = _states(tmp_path, [{"id": "CVE-2", "severity": "CRITICAL"}])[DIGEST]
    assert ok is False
    assert "CVE-2" in reason


def _allowed(tmp_path: Path, expires: str) -> tuple[bool, str]:
    """The gate with CVE-2 (CRITICAL) in the policy's allow-list until ``expires``."""
    allow = (
        "scan:\n      required: true\n      max_severity: high\n      reports: scans\n"
        "      allow:\n        - {id: CVE-2, reason: not reachable from the agent's code, "
        f"owner: sec-team, expires: '{expires}'}}"
    )
    policy = POLICY.replace("scan: {required: true, max_severity: high, reports: scans}", allow)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yml").write_text(policy)
    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    cp-1: {address: 192.0.2.1}\n")
    (tmp_path / "scans").mkdir()
    report = {"digest": DIGEST, "findings": [{"id": "CVE-2", "severity": "CRITICAL"}]}
    (tmp_path / "scans" / f"{DIGEST[7:]}.json").write_text(json.dumps(report))
    paths = [str(tmp_path / "policies")]
    result = load_desired(paths, load_inventory(str(tmp_path / "inv.yml")))
    assert not result.errors, [str(d) for d in result.errors]
    attach_scan_verdicts(result, paths)
    return result.states["cp-1"].scan_verdicts[DIGEST]


def test_policy_allow_list_lets_an_accepted_finding_through(tmp_path: Path) -> None:
    ok, reason = _allowed(tmp_path, "2999-01-01")
    assert ok is True
    assert "allowed: CVE-2 by sec-team until 2999-01-01" in reason


def test_an_expired_allowance_blocks_again_and_says_so(tmp_path: Path) -> None:
    ok, reason = _allowed(tmp_path, "2020-01-01")
    assert ok is False
    assert "CVE-2 (CRITICAL)" in reason
    assert "allowance expired: CVE-2 (sec-team, 2020-01-01)" in reason
