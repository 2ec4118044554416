"""``update_paths``: tracked tags and ranges, the scan gate before any write, the summary.

The registry is a small class answering from dictionaries (the real one is in
tests/integration/test_update.py); scan reports are real files in the repository's scan
folder, as CI writes them.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import date
from pathlib import Path

import pytest

from checkpointctl.errors import CheckpointctlError
from checkpointctl.gitops.reference import ImageReference
from checkpointctl.gitops.registry import Manifest
from checkpointctl.gitops.update import Fleet, update_paths
from checkpointctl.model import Host
from checkpointctl.model.update import ScanSource, UpdateStatus
from checkpointctl.report.update import render_markdown, render_text
from checkpointctl.spec import ContainerSpec, DesiredState, ImageRef, UpdatesSpec

REG = "registry.example.com"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64

POLICY = f"""\
# Probes follow the vendor's stable tag; the update job bumps the digest.
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: probes   # owned by the checkpoint team
spec:
  registries:
    trusted: [{{registry: {REG}, prefix: checkpoint/}}]
    scan:
      required: true
      max_severity: high
      allow:
        - id: CVE-2026-0001
          reason: not reachable from the probe
          owner: sec-team
          expires: "2026-12-31"
  containers:
    - name: probe
      image: {REG}/checkpoint/probe:stable@{D1}   # bumped by the update job
      track: stable
    - name: agent
      image: '{REG}/checkpoint/agent:1.4.2@{D1}'  # quoted on purpose
      track: "^1.4"
    - name: fixed   # not tracked
      image: {REG}/checkpoint/fixed@{D1}
"""


class FakeRegistry:
    """Answers like a registry: tags point at digests; every known digest has a manifest."""

    def __init__(self, tags: dict[str, dict[str, str]]) -> None:
        self.tag_map = tags  # repository path -> tag -> digest

    def resolve(self, ref: ImageReference) -> str:
        try:
            return self.tag_map[ref.path][str(ref.tag)]
        except KeyError:
            raise CheckpointctlError(f"{ref.name}: tag {ref.tag!r} not found") from None

    def tags(self, ref: ImageReference) -> list[str]:
        return sorted(self.tag_map.get(ref.path, {}))

    def manifest(self, ref: ImageReference, digest: str) -> Manifest:
        return Manifest(digest, "application/vnd.oci.image.manifest.v1+json", 512)


def write_report(repo: Path, digest: str, findings: list[tuple[str, str]]) -> Path:
    path = repo / "scans" / f"{digest.removeprefix('sha256:')}.json"
    path.parent.mkdir(exist_ok=True)
    doc = {"digest": digest, "findings": [{"id": i, "severity": s} for i, s in findings]}
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "probes.yml").write_text(POLICY)
    return tmp_path


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


STABLE_MOVED = FakeRegistry(
    {"checkpoint/probe": {"stable": D2}, "checkpoint/agent": {"1.4.2": D1, "stable": D1}}
)
TODAY = date(2026, 12, 7)


def test_a_moved_tag_with_a_clean_scan_is_written_on_the_image_line_only(repo: Path) -> None:
    write_report(repo, D2, [("CVE-2026-9999", "low")])
    report = update_paths([str(repo / "policies")], STABLE_MOVED, today=TODAY)
    assert report.exit_code == 2
    probe = next(i for i in report.items if i.container == "probe")
    assert probe.status is UpdateStatus.BUMPED
    assert probe.verdict is not None
    assert probe.verdict.source is ScanSource.REPORT_FILE
    assert changed_lines(POLICY, (repo / "policies" / "probes.yml").read_text()) == [
        (
            f"      image: {REG}/checkpoint/probe:stable@{D1}   # bumped by the update job\n",
            f"      image: {REG}/checkpoint/probe:stable@{D2}   # bumped by the update job\n",
        )
    ]
    assert {i.container: i.status for i in report.items} == {
        "probe": UpdateStatus.BUMPED,
        "agent": UpdateStatus.CURRENT,  # ^1.4's newest release is 1.4.2, already pinned
    }
    again = update_paths([str(repo / "policies")], STABLE_MOVED, today=TODAY)
    assert again.exit_code == 0
    assert {i.status for i in again.items} == {UpdateStatus.CURRENT}


def test_a_critical_finding_blocks_the_write_and_the_summary_says_why(repo: Path) -> None:
    write_report(repo, D2, [("CVE-2026-6666", "critical"), ("CVE-2026-1", "low")])
    report = update_paths([str(repo / "policies")], STABLE_MOVED, today=TODAY)
    assert report.exit_code == 1
    assert (repo / "policies" / "probes.yml").read_text() == POLICY  # never written
    probe = next(i for i in report.items if i.container == "probe")
    assert probe.status is UpdateStatus.BLOCKED
    assert probe.verdict is not None
    assert "CVE-2026-6666 (CRITICAL)" in probe.verdict.reason
    text = render_text(report)
    assert "probe.image: blocked: " in text
    assert "CVE-2026-6666 (CRITICAL)" in text
    md = render_markdown(report)
    assert "### Blocked (not written): `probe`" in md
    assert "- Scan failed (report-file," in md
    assert "CVE-2026-6666 (CRITICAL)" in md


def test_no_report_and_no_scanner_blocks(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo))  # no trivy, no grype
    report = update_paths([str(repo / "policies")], STABLE_MOVED, today=TODAY)
    probe = next(i for i in report.items if i.container == "probe")
    assert probe.status is UpdateStatus.BLOCKED
    assert probe.verdict is not None
    assert probe.verdict.source is ScanSource.NONE
    assert probe.verdict.reason.startswith("no scan report: put one at ")
    assert report.exit_code == 1


def test_an_allowance_clears_its_finding_until_it_expires(repo: Path) -> None:
    write_report(repo, D2, [("CVE-2026-0001", "high")])
    ok = update_paths([str(repo / "policies")], STABLE_MOVED, check=True, today=TODAY)
    probe = next(i for i in ok.items if i.container == "probe")
    assert probe.status is UpdateStatus.BUMPED
    assert probe.verdict is not None
    assert "CVE-2026-0001 by sec-team until 2026-12-31" in probe.verdict.reason
    assert ok.exit_code == 2
    assert (repo / "policies" / "probes.yml").read_text() == POLICY  # --check writes nothing
    late = update_paths([str(repo / "policies")], STABLE_MOVED, today=date(2027, 1, 1))
    probe = next(i for i in late.items if i.container == "probe")
    assert probe.status is UpdateStatus.BLOCKED
    assert probe.verdict is not None
    assert "allowance expired: CVE-2026-0001 (sec-team, 2026-12-31)" in probe.verdict.reason


def test_a_range_moves_to_the_newest_release_tag_and_keeps_the_quotes(repo: Path) -> None:
    registry = FakeRegistry(
        {
            "checkpoint/probe": {"stable": D1},
            "checkpoint/agent": {"1.4.2": D1, "1.5.1": D3, "2.0.0": D2, "1.6.0-rc1": D2},
        }
    )
    write_report(repo, D3, [])
    report = update_paths([str(repo / "policies")], registry, today=TODAY)
    assert report.exit_code == 2
    agent = next(i for i in report.items if i.container == "agent")
    assert agent.candidate_tag == "1.5.1"
    assert changed_lines(POLICY, (repo / "policies" / "probes.yml").read_text()) == [
        (
            f"      image: '{REG}/checkpoint/agent:1.4.2@{D1}'  # quoted on purpose\n",
            f"      image: '{REG}/checkpoint/agent:1.5.1@{D3}'  # quoted on purpose\n",
        )
    ]


def test_registry_errors_and_bad_tracks_are_errors_naming_the_place(repo: Path) -> None:
    policy = repo / "policies" / "probes.yml"
    policy.write_text(POLICY.replace('track: "^1.4"', 'track: "^1 || ^2"'))
    report = update_paths([str(repo / "policies")], FakeRegistry({}), today=TODAY)
    assert report.exit_code == 1
    by_name = {i.container: i for i in report.items}
    assert by_name["probe"].status is UpdateStatus.ERROR
    assert "tag 'stable' not found" in by_name["probe"].message
    assert by_name["agent"].message == "track '^1 || ^2': '||' alternatives are not supported"
    assert render_text(report).splitlines()[1].startswith(f"{policy}:22:14: spec.containers.agent")


def test_the_summary_names_the_hosts_by_location_and_the_rollout(repo: Path) -> None:
    write_report(repo, D2, [])

    def state(host: str) -> DesiredState:
        probe = ContainerSpec(name="probe", image=ImageRef(f"{REG}/checkpoint/probe", D1))
        return DesiredState(
            host=host,
            containers=(probe,),
            policies=("probes",),
            updates=UpdatesSpec(strategy="gitops", window="Mon-Fri 02:00-05:00 Europe/Amsterdam"),
        )

    hosts = (
        Host("cp-ams-1", "10.0.0.1", vars={"location": "ams"}),
        Host("cp-fra-1", "10.0.0.2", vars={"location": "fra"}),
        Host("cp-ams-2", "10.0.0.3", vars={"location": "ams"}),
        Host("cp-other", "10.0.0.4"),
    )
    fleet = Fleet(hosts, {h.name: state(h.name) for h in hosts[:3]})
    report = update_paths([str(repo / "policies")], STABLE_MOVED, fleet=fleet, today=TODAY)
    md = render_markdown(report)
    assert "- Hosts (3): ams: cp-ams-1, cp-ams-2; fra: cp-fra-1\n" in md
    assert "window Mon-Fri 02:00-05:00 Europe/Amsterdam" in md
    assert "healthy checkpoints kept: ams 1, fra 1\n" in md
    assert f"| `probe` | `{repo / 'policies' / 'probes.yml'}:19:14` | `stable` | `{D1}` " in md


def test_an_installed_scanner_runs_and_its_report_is_saved_for_the_gate(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in `trivy` on PATH: the real one is not installable here (no internet for its
    # database). It prints Trivy's JSON shape; what is tested is that update runs it with the
    # pinned reference, saves its output where validate reads reports, and judges it.
    bin_dir = repo / "bin"
    bin_dir.mkdir()
    trivy = bin_dir / "trivy"
    trivy.write_text(
        "#!/bin/sh\n"
        'echo "$@" > "$(dirname "$0")/args"\n'
        'echo \'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": '
        '[{"VulnerabilityID": "CVE-2026-7", "Severity": "MEDIUM"}]}]}\'\n'
    )
    trivy.chmod(trivy.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    report = update_paths([str(repo / "policies")], STABLE_MOVED, today=TODAY)
    probe = next(i for i in report.items if i.container == "probe")
    assert probe.status is UpdateStatus.BUMPED
    assert probe.verdict is not None
    assert probe.verdict.source is ScanSource.TRIVY
    assert (bin_dir / "args").read_text().split() == [
        "image", "--quiet", "--format", "json", f"{REG}/checkpoint/probe@{D2}"
    ]  # fmt: skip
    saved = json.loads((repo / "scans" / f"{D2.removeprefix('sha256:')}.json").read_text())
    assert saved["Results"][0]["Vulnerabilities"][0]["VulnerabilityID"] == "CVE-2026-7"
