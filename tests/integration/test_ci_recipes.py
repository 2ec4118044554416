"""The nightly drift job of both CI recipes, run as written against the lab fleet.

The recipes' pull-request commands are exercised in tests/unit/gitops/test_gitops_published.py
and their report steps on prepared reports in tests/unit/report/test_ci_report_recipes.py;
drift needs hosts, so the whole job runs here: the drift command line is read from the YAML,
its variables filled in as the CI system would, then the step (GitHub) or after_script (GitLab)
that renders the reports runs in a shell as the runner would run it (tests/ci_steps.py). The
JUnit file must name every lab checkpoint and the HTML page show each of them.
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
from ci_steps import github_step, recipe, run_github_step, run_gitlab_lines

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def _drift_line(name: str, data: dict[str, Any]) -> str:
    script: str
    if name == "github-actions.yml":
        script = github_step(data["jobs"]["drift"], "drift")["run"]
    else:
        script = "\n".join(data["checkpointctl-drift"]["script"])
    (line,) = [ln.strip() for ln in script.splitlines() if ln.strip().startswith("checkpointctl")]
    return line


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_nightly_drift_writes_junit_and_html_reports_for_the_fleet(
    lab: LabInfo, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a checkout of the policy repository: the example policies, the vault password as CI's
    # secret store would provide it
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    vault = str(REPO / "examples" / "lab-vault-password")
    monkeypatch.setenv("CHECKPOINTCTL_VAULT_PASSWORD_FILE", vault)
    data = recipe(name)
    env = {"INVENTORY": str(lab.inventory)}
    argv = [
        re.sub(r"\$\{?(\w+)\}?", lambda m: env[str(m.group(1))], t)
        for t in shlex.split(_drift_line(name, data))
    ]
    assert argv[:2] == ["checkpointctl", "drift"]
    code = main(argv[1:])
    assert code in (0, 2)  # in sync, or drift (other tests change lab hosts): never an error

    if name == "github-actions.yml":
        summary = tmp_path / "summary.md"
        step = github_step(data["jobs"]["drift"], "reports")
        done = run_github_step(data, step, tmp_path, env={"GITHUB_STEP_SUMMARY": str(summary)})
        assert "cp-1" in summary.read_text()
    else:
        job_url = "https://gitlab.example/acme/policies/-/jobs/99"
        lines = data["checkpointctl-drift"]["after_script"]
        done = run_gitlab_lines(data, lines, tmp_path, env={"CI_JOB_URL": job_url})
        assert f"{job_url}/artifacts/file/drift.html" in done.stdout
    assert done.returncode == 0, done.stderr

    root = ET.parse(tmp_path / "drift.xml").getroot()
    assert root.tag == "testsuites"
    hosts = {s.get("name") for s in root.iter("testsuite")}
    assert {"cp-1", "cp-2"} <= hosts
    assert not any(s.get("errors") not in (None, "0") for s in root.iter("testsuite"))
    page = (tmp_path / "drift.html").read_text()
    assert all(f'data-host="{host}"' in page for host in hosts)
