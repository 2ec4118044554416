"""The nightly ``drift`` command of both CI recipes, run as written against the lab fleet.

The recipes' pull-request commands are exercised in tests/unit/gitops/test_gitops_published.py;
drift needs hosts, so it runs here: the command line is read from the YAML, its variables are
filled in as the CI system would, and the JUnit file it writes must name every lab checkpoint.
(The CI system itself is not involved.)
"""

from __future__ import annotations

import re
import shlex
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def _drift_line(recipe: str) -> str:
    data: dict[str, Any] = yaml.safe_load((REPO / "docs" / "ci" / recipe).read_text())
    script: str
    if recipe == "github-actions.yml":
        script = next(s["run"] for s in data["jobs"]["drift"]["steps"] if s.get("name") == "drift")
    else:
        script = "\n".join(data["checkpointctl-drift"]["script"])
    (line,) = [ln.strip() for ln in script.splitlines() if ln.strip().startswith("checkpointctl")]
    return line


@pytest.mark.parametrize("recipe", ["github-actions.yml", "gitlab-ci.yml"])
def test_nightly_drift_writes_a_junit_report_for_the_fleet(
    lab: LabInfo, recipe: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a checkout of the policy repository: the example policies, the vault password as CI's
    # secret store would provide it
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(
        "CHECKPOINTCTL_VAULT_PASSWORD_FILE", str(REPO / "examples" / "lab-vault-password")
    )
    env = {"INVENTORY": str(lab.inventory)}
    argv = [
        re.sub(r"\$\{?(\w+)\}?", lambda m: env[str(m.group(1))], t)
        for t in shlex.split(_drift_line(recipe))
    ]
    assert argv[:2] == ["checkpointctl", "drift"]
    code = main(argv[1:])
    assert code in (0, 2)  # in sync, or drift (other tests change lab hosts): never an error
    root = ET.parse(tmp_path / "drift.xml").getroot()
    assert root.tag == "testsuites"
    hosts = {s.get("name") for s in root.iter("testsuite")}
    assert {"cp-1", "cp-2"} <= hosts
    assert not any(s.get("errors") not in (None, "0") for s in root.iter("testsuite"))
