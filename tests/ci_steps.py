"""Run the shell of docs/ci's recipes as their CI systems would, without those systems.

A GitHub Actions ``run:`` script goes to ``bash --noprofile --norc -eo pipefail`` (GitHub's
default shell) with the step's ``env:``, whose ``${{ … }}`` expressions the test supplies; the
recipes keep expressions out of scripts, so nothing else needs filling in. GitLab's ``script``
and ``after_script`` lines run the same way, one shell per section, as its runner does. The
``checkpointctl`` found on PATH is the one of the running interpreter's venv.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "docs" / "ci"
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def recipe(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((RECIPES / name).read_text())
    return data


def github_step(job: Mapping[str, Any], name: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = job["steps"]
    return next(s for s in steps if s.get("name") == name)


def _fill(value: str, expressions: Mapping[str, str]) -> str:
    return EXPRESSION.sub(lambda m: expressions[m.group(1)], value)


def _shell(script: str, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)
    full_env = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/root"),
        **env,
    }
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )


def run_github_step(
    workflow: Mapping[str, Any],
    step: Mapping[str, Any],
    cwd: Path,
    *,
    env: Mapping[str, str] = {},
    expressions: Mapping[str, str] = {},
) -> subprocess.CompletedProcess[str]:
    """Run one ``run:`` step with the workflow's and the step's ``env:`` (expressions filled)."""
    step_env = {
        str(k): _fill(str(v), expressions)
        for scope in (workflow.get("env", {}), step.get("env", {}))
        for k, v in scope.items()
    }
    assert "${{" not in step["run"], "an expression pasted into a script"
    return _shell(step["run"], {**step_env, **env}, cwd)


def run_gitlab_lines(
    pipeline: Mapping[str, Any], lines: Sequence[str], cwd: Path, *, env: Mapping[str, str] = {}
) -> subprocess.CompletedProcess[str]:
    """Run a job's ``script`` or ``after_script`` lines in one shell, with the global variables."""
    variables = {str(k): str(v) for k, v in pipeline.get("variables", {}).items()}
    return _shell("\n".join(lines), {**variables, **env}, cwd)
