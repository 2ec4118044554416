"""``checkpointctl update`` against the lab registry (a real distribution registry over HTTP).

Story: a policy tracks a tag only this test moves. The tag gets a newer digest of the probe
image with a clean scan report: ``update`` exits 2 and rewrites that digest on the image line
only, comments intact, with a Markdown summary naming the hosts. Then the tag gets another new
digest (built and pushed as the lab pushes its images) whose report has a critical finding:
``update`` exits 1, writes nothing, and the summary says why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo
from checkpointctl.lab.images import (
    PROBE_CMD,
    base_layer,
    build_image,
    push,
    version_layer,
)
from checkpointctl.lab.layout import REGISTRY

pytestmark = pytest.mark.lab

TRACKED = "update-test-stable"
"""A tag only this test moves (on the lab's checkpoint/probe repository)."""

Capsys = pytest.CaptureFixture[str]


def policy_text(image: str) -> str:
    return f"""\
# The probe follows the vendor's stable channel; `checkpointctl update` bumps the digest.
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: tracked-probe   # owned by the checkpoint team
selector:
  groups: [checkpoints]
spec:
  registries:
    trusted: [{{registry: "{REGISTRY}", prefix: checkpoint/}}]
    scan: {{required: true, max_severity: high}}
  containers:
    - name: probe
      image: {image}   # bumped by the update job
      track: {TRACKED}   # the vendor's channel
      user: "10001:10001"   # not root
      cap_drop: [ALL]
"""


def push_probe(version: str) -> str:
    """Build a probe image whose content says ``version`` and push it under the tracked tag."""
    image = build_image(
        "checkpoint/probe",
        TRACKED,
        "update_test",
        [base_layer(), version_layer(f"checkpoint-probe {version}")],
        PROBE_CMD,
        {"org.opencontainers.image.version": version},
        ["8080/tcp"],
    )
    push(image)
    return image.digest


def write_report(repo: Path, digest: str, findings: list[tuple[str, str]]) -> None:
    path = repo / "scans" / f"{digest.removeprefix('sha256:')}.json"
    path.parent.mkdir(exist_ok=True)
    doc = {"digest": digest, "findings": [{"id": i, "severity": s} for i, s in findings]}
    path.write_text(json.dumps(doc))


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_update_bumps_a_clean_digest_and_never_writes_a_critical_one(
    lab: LabInfo, tmp_path: Path, capsys: Capsys
) -> None:
    (tmp_path / "policies").mkdir()
    policy = tmp_path / "policies" / "probe.yml"
    summary = tmp_path / "summary.md"
    repository = f"{lab.registry}/checkpoint/probe"
    old = push_probe("update-old")
    before = policy_text(f"{repository}:{TRACKED}@{old}")
    policy.write_text(before)
    argv = [
        "update",
        str(tmp_path / "policies"),
        "-i",
        str(lab.inventory),
        "--insecure-registry",
        lab.registry,
        "--summary",
        str(summary),
    ]
    assert main(argv) == 0  # the tag still points at the pinned digest: nothing new
    assert "update: 1 current\n" in capsys.readouterr().out
    # the lab registry serves plain HTTP: refused unless asked for, and the error says how
    plain = [a for a in argv if a not in ("--insecure-registry", lab.registry)]
    assert main(plain) == 1
    out, err = capsys.readouterr()
    assert "ask for that with --insecure (every registry) or --insecure-registry HOST" in out + err
    assert main([*plain, "--insecure"]) == 0
    assert "update: 1 current\n" in capsys.readouterr().out

    new = push_probe("update-new")
    assert new != old
    write_report(tmp_path, new, [("CVE-2026-0002", "low")])
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert f"bumped {repository}:{TRACKED}@{old} to {repository}:{TRACKED}@{new}" in out
    bumped = policy.read_text()
    assert changed_lines(before, bumped) == [
        (
            f"      image: {repository}:{TRACKED}@{old}   # bumped by the update job\n",
            f"      image: {repository}:{TRACKED}@{new}   # bumped by the update job\n",
        )
    ]
    md = summary.read_text()
    assert f"### Bumped: `probe` in `{policy}`" in md
    assert "- Scan passed (report-file," in md
    assert "- Hosts (2): (no location): cp-1, cp-2" in md  # the lab's `checkpoints` group
    assert "application/vnd.docker.distribution.manifest.v2+json" in md

    bad = push_probe("update-vulnerable")
    write_report(tmp_path, bad, [("CVE-2026-6666", "critical")])
    assert main(argv) == 1
    _, err = capsys.readouterr()
    assert "update: 1 blocked" in err
    assert policy.read_text() == bumped  # never written
    md = summary.read_text()
    assert "### Blocked (not written): `probe`" in md
    assert f"`{repository}:{TRACKED}@{bad}`" in md
    assert "1 finding(s) at or above HIGH: CVE-2026-6666 (CRITICAL)" in md
