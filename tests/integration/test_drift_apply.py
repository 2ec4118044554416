"""Acceptance stories for drift and apply, through the real CLI, against the lab fleet.

The example policies (``policies/``) converge the lab's full hosts; assertions read the hosts
independently (``on_host`` runs plain commands inside a host) as well as through our reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
POLICIES = str(REPO / "policies")
VAULT_PASSWORD = str(REPO / "examples" / "lab-vault-password")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv])
    out, err = capsys.readouterr()
    return code, out, err


def cli(inventory: Path | str, verb: str, *extra: str) -> list[str]:
    return [verb, POLICIES, "-i", str(inventory), "--vault-password-file", VAULT_PASSWORD, *extra]


@pytest.fixture(scope="module")
def converged(lab: LabInfo) -> LabInfo:
    code = main(cli(lab.inventory, "apply", "-q", "--limit", "lab_full"))
    assert code == 0, "the first apply must converge the lab fleet"
    return lab


def test_second_apply_changes_nothing(
    converged: LabInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *cli(converged.inventory, "apply", "--format", "json"))
    report = json.loads(out)
    assert code == 0
    assert [h["status"] for h in report["hosts"]] == ["in-sync"] * len(report["hosts"])
    assert all(h["changes"] == [] and h["applied"] == [] for h in report["hosts"])


def test_drift_after_apply_is_empty(converged: LabInfo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *cli(converged.inventory, "drift"))
    assert code == 0
    assert "No changes. cp-1 is in sync." in out


def test_hand_edit_is_drift_naming_host_resource_and_field_then_apply_fixes_it(
    converged: LabInfo, capsys: pytest.CaptureFixture[str], on_host
) -> None:
    path = "/etc/checkpoint/probe/collection.json"
    on_host("cp-1", ["sed", "-i", 's/"screenshots": false/"screenshots": true/', path])
    code, out, _ = run(capsys, *cli(converged.inventory, "drift", "--format", "json"))
    assert code == 2
    report = json.loads(out)
    drifted = {h["host"]: h for h in report["hosts"] if h["changes"]}
    assert set(drifted) == {"cp-1"}
    (change,) = drifted["cp-1"]["changes"]
    assert change["address"] == "collection/probe"
    assert change["fields"] == [{"path": "screenshots", "before": True, "after": False}]

    code, out, _ = run(capsys, *cli(converged.inventory, "apply", "--format", "json"))
    assert code == 0
    applied = {h["host"]: h["applied"] for h in json.loads(out)["hosts"]}
    assert applied["cp-1"] == ["collection/probe"]
    on_disk = json.loads(on_host("cp-1", ["cat", path]).stdout)
    assert on_disk["collect"]["screenshots"] is False
    assert run(capsys, *cli(converged.inventory, "drift"))[0] == 0


def test_drift_text_names_the_policy_line(
    converged: LabInfo, capsys: pytest.CaptureFixture[str], on_host
) -> None:
    on_host("cp-2", ["chmod", "0666", "/etc/checkpoint/probe/collection.json"])
    code, out, _ = run(capsys, *cli(converged.inventory, "drift", "--limit", "cp-2"))
    assert code == 2
    assert "cp-2: 1 change" in out
    assert '~ mode: "0666" → "0644"' in out
    assert "(from " in out
    assert "policies/region-us.yml:" in out
    assert run(capsys, *cli(converged.inventory, "apply", "--limit", "cp-2"))[0] == 0


def test_unreachable_host_is_reported_while_the_others_are_checked(
    converged: LabInfo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inventory = yaml.safe_load(Path(converged.inventory).read_text())
    full = inventory["all"]["children"]["checkpoints"]["children"]["lab_full"]["hosts"]
    # an address inside the lab's own range where no host lives: the SYN goes unanswered
    full["cp-dead"] = {"address": "10.213.250.1", "connect_timeout": 2, "region": "eu"}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    code, out, _ = run(capsys, *cli(path, "drift", "--format", "json"))
    report = json.loads(out)
    status = {h["host"]: h["status"] for h in report["hosts"]}
    assert code == 1
    assert status["cp-dead"] == "unreachable"
    assert status["cp-1"] == "in-sync"
    assert status["cp-2"] == "in-sync"
    dead = next(h for h in report["hosts"] if h["host"] == "cp-dead")
    assert "10.213.250.1" in dead["error"]


def test_a_waiver_shows_in_every_drift_format_without_being_drift(
    converged: LabInfo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    for source in Path(POLICIES).glob("*.yml"):
        (policies / source.name).write_text(source.read_text())
    reason = "ICMP checks of the probe need raw sockets, SEC-311"
    (policies / "waivers.yml").write_text(
        "apiVersion: checkpointctl/v1\nkind: CheckpointPolicy\nmetadata: {name: waivers}\n"
        "selector: {hosts: [cp-1]}\nspec:\n  waivers:\n"
        f"    - {{rule: cap-add, target: probe, reason: '{reason}'}}\n"
    )
    base = ["drift", str(policies), "-i", str(converged.inventory), "--limit", "cp-1",
            "--vault-password-file", VAULT_PASSWORD]  # fmt: skip
    for fmt in ("text", "json", "junit", "markdown"):
        code, out, err = run(capsys, *base, "--format", fmt)
        assert code == 0, (fmt, out, err)
        assert "waived: cap-add for probe" in out, fmt
        assert reason in out, fmt
        assert "waivers.yml:7:7" in out, fmt
