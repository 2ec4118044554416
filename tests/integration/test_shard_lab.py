"""``drift --shard I/N`` on the lab, as the sharded CI recipe runs it: every shard's JSON report
merged with ``report merge`` equals one unsharded drift (hosts, classes, changes, exit code), at
200 hosts.

The module grows the lab to 200 light hosts for the test and gives it back the shape it found;
that costs seconds (bench/README.md, "Growing the lab"), so the 200-host version is the
default run. Every fifth host's
name is given a firewall table no host has (drift); the others an empty spec (in sync).
``CHECKPOINTCTL_SHARD_LIGHT=N`` picks another size. The commands are read from
docs/ci/github-actions-sharded.yml and their variables filled in as the runner would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import checkpointctl.lab as lab_api
from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "docs" / "ci" / "github-actions-sharded.yml"
SIZE = int(os.environ.get("CHECKPOINTCTL_SHARD_LIGHT", "200"))
FORKS = "50"

POLICIES = {
    "plain.yml": """
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: shard-plain}
selector: {groups: [shard_fleet]}
priority: 10
spec: {}
""",
    "drift.yml": """
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: shard-drift}
selector: {groups: [shard_drift]}
priority: 20
spec:
  firewall:
    table: cpshard
    management: {ssh_port: 22, from: ["{{ controller_cidr }}"]}
    inbound: {default: drop, allow: []}
    outbound: {default: accept, allow: []}
""",
}


@pytest.fixture(scope="module")
def fleet(lab: LabInfo) -> Iterator[LabInfo]:
    """The lab with at least SIZE light hosts, given back its shape afterwards."""
    before = lab_api.status()
    if len(lab.light_hosts) >= SIZE:
        yield lab
        return
    grown = lab_api.up(full=max(2, before.full), light=SIZE)
    try:
        yield grown
    finally:
        lab_api.up(full=max(2, before.full), light=before.light)


def _inventory(lab: LabInfo, path: Path) -> None:
    lab_vars = yaml.safe_load(lab.inventory.read_text())["all"]["vars"]
    light = sorted(lab.light_hosts, key=lambda h: h.index)[:SIZE]
    drifting = {h.name: {"address": h.address} for h in light if h.index % 5 == 0}
    plain = {h.name: {"address": h.address} for h in light if h.index % 5 != 0}
    children = {"shard_drift": {"hosts": drifting}, "shard_plain": {"hosts": plain}}
    doc = {
        "all": {"vars": lab_vars, "children": {"shard_fleet": {"children": children}}},
    }
    path.write_text(yaml.safe_dump(doc))


def _step(job: str, name: str) -> str:
    data: dict[str, Any] = yaml.safe_load(RECIPE.read_text())
    steps = data["jobs"][job]["steps"]
    script: str = next(s["run"] for s in steps if s.get("name") == name)
    return script


def _argv(line: str, env: dict[str, str]) -> list[str]:
    filled = [
        re.sub(r"\$\{?(\w+)\}?", lambda m: env[str(m.group(1))], t) for t in shlex.split(line)
    ]
    assert filled[0] == "checkpointctl"
    return filled[1:]


def test_sharded_drift_merged_equals_one_unsharded_drift(
    fleet: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = tmp_path / "inventory.yml"
    _inventory(fleet, inventory)
    (tmp_path / "policies").mkdir()
    for name, text in POLICIES.items():
        (tmp_path / "policies" / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    shards = str(yaml.safe_load(RECIPE.read_text())["env"]["SHARDS"])
    matrix = yaml.safe_load(RECIPE.read_text())["jobs"]["drift"]["strategy"]["matrix"]["shard"]
    assert len(matrix) == int(shards)

    # each matrix job: the drift line of the recipe (before its `|| test -s` guard)
    drift_line = _step("drift", "drift").split("||")[0].strip()
    for shard in matrix:
        env = {"INVENTORY": str(inventory), "SHARD": str(shard), "SHARDS": shards}
        code = main([*_argv(drift_line, env), "--forks", FORKS, "-q"])
        assert code == json.loads(Path(f"drift-{shard}.json").read_text())["exit_code"]

    # the report job: its merge into JUnit, and the same merge as JSON to compare
    merge_line = _step("report", "merge").splitlines()[-1]
    merge_argv = _argv(
        merge_line.replace("drift-*.json", " ".join(f"drift-{s}.json" for s in matrix)), {}
    )
    merged_code = main(merge_argv)
    junit = Path("drift.xml").read_text()
    assert main([*merge_argv[:-4], "--format", "json", "-o", "merged.json"]) == merged_code

    code = main(["drift", "-i", str(inventory), "--forks", FORKS, "-q", "--format", "json",
                 "-o", "whole.json"])  # fmt: skip
    whole = json.loads(Path("whole.json").read_text())
    merged = json.loads(Path("merged.json").read_text())

    def classes(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
        return {h["host"]: (h["status"], json.dumps(h["changes"])) for h in doc["hosts"]}

    assert len(whole["hosts"]) == SIZE
    assert classes(merged) == classes(whole)
    assert merged_code == code == whole["exit_code"] == 2
    assert {s for s, _ in classes(whole).values()} == {"in-sync", "drift"}
    assert junit.count("<testsuite ") == SIZE
