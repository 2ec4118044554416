"""A waived hardening rule stays visible: in ``render`` and in every drift report format.

The waiver travels from the policy (with its file:line:col) into the host's desired state, and
the engine turns each one into an ``info`` finding, which changes neither the exit code nor
the counts. The reports here are rendered from a host result built the way the engine builds
it (:func:`waiver_findings` of the loaded state); the lab test runs the real ``drift``.
"""

from __future__ import annotations

import json
from pathlib import Path

from checkpointctl.engine.waivers import waiver_findings
from checkpointctl.inventory import load_inventory
from checkpointctl.model import HostResult, HostStatus, RunReport
from checkpointctl.policy import load_desired
from checkpointctl.report.jsonfmt import render_json
from checkpointctl.report.junit import render_junit
from checkpointctl.report.markdown import render_markdown
from checkpointctl.report.text import render_text
from checkpointctl.spec import state_to_data

REASON = "vendor agent traces with raw ICMP sockets, SEC-311"
POLICY = f"""\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {{name: probe}}
spec:
  registries:
    trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
  containers:
    - name: probe
      image: registry.example.com/checkpoint/probe@sha256:{"ab" * 32}
      user: "10001:10001"
      cap_drop: [ALL]
      cap_add: [NET_RAW]
  waivers:
    - rule: cap-add
      target: probe
      reason: {REASON}
"""


def _loaded(tmp_path: Path, text: str) -> tuple[list[str], HostResult | None, dict[str, object]]:
    (tmp_path / "p.yml").write_text(text)
    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    cp-1: {address: 192.0.2.1}\n")
    result = load_desired([str(tmp_path / "p.yml")], load_inventory(str(tmp_path / "inv.yml")))
    errors = [str(d) for d in result.errors]
    if errors:
        return errors, None, {}
    state = result.states["cp-1"]
    host = HostResult("cp-1", HostStatus.IN_SYNC, findings=tuple(waiver_findings(state)))
    return errors, host, state_to_data(state)


def test_without_the_waiver_the_capability_is_refused(tmp_path: Path) -> None:
    errors, _, _ = _loaded(tmp_path, POLICY.split("  waivers:")[0])
    assert len(errors) == 1
    assert f"{tmp_path / 'p.yml'}:12:17: spec.containers.probe.cap_add[0]" in errors[0]
    assert "NET_RAW" in errors[0]
    assert "[cap-add]" in errors[0]


def test_render_shows_the_waiver_with_its_line(tmp_path: Path) -> None:
    errors, _, data = _loaded(tmp_path, POLICY)
    assert not errors
    assert data["waivers"] == [
        {"rule": "cap-add", "target": "probe", "reason": REASON,
         "source": f"{tmp_path / 'p.yml'}:14:7"}
    ]  # fmt: skip


def test_every_drift_format_shows_the_waiver(tmp_path: Path) -> None:
    _, host, _ = _loaded(tmp_path, POLICY)
    assert host is not None
    report = RunReport("drift", (host,))
    assert report.exit_code == 0  # a waiver is information, never drift
    where = f"{tmp_path / 'p.yml'}:14:7"
    for rendered in (render_text(report), render_junit(report), render_markdown(report)):
        assert "waived: cap-add for probe" in rendered
        assert REASON in rendered
        assert "p.yml:14:7" in rendered  # markdown escapes the path's underscores
    doc = json.loads(render_json(report))
    (finding,) = doc["hosts"][0]["findings"]
    assert finding["severity"] == "info"
    assert finding["message"] == f"waived: cap-add for probe: {REASON} ({where})"
