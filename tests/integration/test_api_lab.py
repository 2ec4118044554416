"""The API's documented example (docs/api.md) and the typed client run against the lab."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.engine.run import default_resources
from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
POLICIES = str(REPO / "policies")
VAULT_PASSWORD = str(REPO / "examples" / "lab-vault-password")


def _example(doc: Path) -> str:
    """The first Python block of the document."""
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert blocks, f"{doc} has no python example"
    return str(blocks[0])


@pytest.fixture(scope="module")
def converged(lab: LabInfo) -> LabInfo:
    argv = ["apply", POLICIES, "-i", str(lab.inventory), "--vault-password-file", VAULT_PASSWORD]
    assert main([*argv, "-q", "--limit", "lab_full"]) == 0
    return lab


def test_documented_example_runs(converged: LabInfo, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_example(REPO / "docs" / "api.md"), encoding="utf-8")
    page = tmp_path / "drift.html"
    env = {
        **os.environ,
        "CHECKPOINTCTL_INVENTORY": str(converged.inventory),
        "CHECKPOINTCTL_REPORT": str(page),
    }
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert sorted(line for line in lines if line.startswith("cp-") and "change(s)" in line) == [
        "cp-1: in-sync, 0 change(s)",
        "cp-2: in-sync, 0 change(s)",
    ]
    recap = lines.index("RECAP")
    assert lines[recap + 1].startswith("cp-1 : ok=")
    assert lines[recap + 3].startswith("Plan: 0 to create")
    assert 'data-count="in-sync">2<' in page.read_text(encoding="utf-8")


def test_typed_client_runs(converged: LabInfo, tmp_path: Path) -> None:
    client = REPO / "tests" / "unit" / "api" / "api_client.py"
    proc = subprocess.run(
        [
            sys.executable,
            str(client),
            str(converged.inventory),
            POLICIES,
            VAULT_PASSWORD,
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "observed: ['cp-1', 'cp-2']" in proc.stdout
    saved = json.loads((tmp_path / "drift.json").read_text())
    assert saved["summary"] == {"in-sync": 2}
    assert {h["location"] for h in saved["hosts"]} == {"eu", "us"}
    assert (tmp_path / "drift.html").read_text().startswith("<!DOCTYPE html>")


def test_cli_html_to_a_file_puts_the_recap_and_summary_on_stderr(
    converged: LabInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "drift.html"
    argv = ["drift", POLICIES, "-i", str(converged.inventory), "--limit", "lab_full"]
    argv += ["--vault-password-file", VAULT_PASSWORD, "--format", "html", "-o", str(page)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    # ok counts the resource kinds read, as Ansible's tasks (networks and volumes plan in two
    # phases, before and after containers, and count once)
    kinds = len({r.kind for r in default_resources()})
    assert lines[lines.index("RECAP") + 1 :] == [
        f"cp-1 : ok={kinds} changed=0 failed=0 unreachable=0 skipped=0",
        f"cp-2 : ok={kinds} changed=0 failed=0 unreachable=0 skipped=0",
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete on 0 of 2 hosts.",
    ]
    assert "\x1b" not in err
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
