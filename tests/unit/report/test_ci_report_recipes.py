"""docs/ci's recipes publish the HTML report: an artifact, linked from the job summary.

The shape is read from the YAML (which step uploads what, which step links it); then the steps
that render and link the reports run for real (tests/ci_steps.py) on JSON reports of a small
fleet, as the runner would after drift: the sharded recipe's merge writes ONE page with every
shard's hosts, and the summary links the uploaded artifact. Drift itself needs hosts:
tests/integration/test_ci_recipes.py runs it against the lab.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from ci_steps import github_step, recipe, run_github_step, run_gitlab_lines

from checkpointctl.model import Action, Change, FieldChange, HostResult, HostStatus, RunReport
from checkpointctl.report import render

ARTIFACT_URL = "https://github.example/acme/policies/actions/runs/7/artifacts/42"
SHARDS = {
    1: RunReport(
        "drift",
        (
            HostResult(
                "cp-ams-1",
                HostStatus.DRIFT,
                location="eu",
                changes=(
                    Change(
                        "collection/probe",
                        Action.UPDATE,
                        (FieldChange("screenshots", False, True),),
                    ),
                ),
            ),
        ),
    ),
    2: RunReport("drift", (HostResult("cp-nyc-1", HostStatus.IN_SYNC, location="us"),)),
    3: RunReport("drift", (HostResult("cp-sfo-1", HostStatus.UNREACHABLE, error="refused"),)),
    4: RunReport("drift", ()),
}
HOSTS = ("cp-ams-1", "cp-nyc-1", "cp-sfo-1")

pytestmark = pytest.mark.slow  # each step runs the checkpointctl command in a shell


def _html_upload(job: Mapping[str, Any]) -> dict[str, Any]:
    uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-")]
    html: list[dict[str, Any]] = [s for s in uploads if s["with"]["path"] == "drift.html"]
    assert len(html) == 1
    return html[0]


def _assert_github_publishes_html(job: Mapping[str, Any], renders: str) -> dict[str, Any]:
    """The job renders drift.html, uploads it always, and a later step links the upload."""
    assert "--format html -o drift.html" in github_step(job, renders)["run"]
    upload = _html_upload(job)
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["if"] == "always()"
    link = github_step(job, "link HTML report")
    assert job["steps"].index(upload) < job["steps"].index(link)
    assert link["env"]["REPORT_URL"] == "${{ steps." + upload["id"] + ".outputs.artifact-url }}"
    assert link["if"].startswith("always()")
    assert '>> "$GITHUB_STEP_SUMMARY"' in link["run"]
    return link


def _assert_one_page_of(page: Path, hosts: tuple[str, ...]) -> None:
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<html") == 1
    for host in hosts:
        assert f'data-host="{host}"' in html


def test_sharded_recipe_merges_one_html_page_and_links_it(tmp_path: Path) -> None:
    workflow = recipe("github-actions-sharded.yml")
    job = workflow["jobs"]["report"]
    link = _assert_github_publishes_html(job, "merge")
    for shard, report in SHARDS.items():
        (tmp_path / f"drift-{shard}.json").write_text(render(report, "json"))
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}

    assert (
        run_github_step(workflow, github_step(job, "every shard reported"), tmp_path).returncode
        == 0
    )
    merged = run_github_step(workflow, github_step(job, "merge"), tmp_path, env=env)
    # the verdict of the whole fleet: a host unreachable
    assert merged.returncode == 1, merged.stderr
    _assert_one_page_of(tmp_path / "drift.html", HOSTS)
    assert (tmp_path / "drift.xml").read_text().count("<testsuite ") == len(HOSTS)
    assert "cp-ams-1" in summary.read_text()

    linked = run_github_step(
        workflow,
        link,
        tmp_path,
        env=env,
        expressions={f"steps.{_html_upload(job)['id']}.outputs.artifact-url": ARTIFACT_URL},
    )
    assert linked.returncode == 0, linked.stderr
    assert f"]({ARTIFACT_URL})" in summary.read_text().splitlines()[-1]


def test_nightly_recipe_renders_the_html_page_from_its_one_drift_and_links_it(
    tmp_path: Path,
) -> None:
    workflow = recipe("github-actions.yml")
    job = workflow["jobs"]["drift"]
    link = _assert_github_publishes_html(job, "reports")
    assert github_step(job, "drift")["run"].endswith("--format json -o drift.json")
    assert github_step(job, "reports")["if"] == "always()"
    whole = RunReport("drift", tuple(h for r in SHARDS.values() for h in r.hosts))
    (tmp_path / "drift.json").write_text(render(whole, "json"))
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}

    rendered = run_github_step(workflow, github_step(job, "reports"), tmp_path, env=env)
    assert rendered.returncode == 0, rendered.stderr
    _assert_one_page_of(tmp_path / "drift.html", HOSTS)
    assert (tmp_path / "drift.xml").read_text().count("<testsuite ") == len(HOSTS)
    linked = run_github_step(
        workflow,
        link,
        tmp_path,
        env=env,
        expressions={f"steps.{_html_upload(job)['id']}.outputs.artifact-url": ARTIFACT_URL},
    )
    assert linked.returncode == 0, linked.stderr
    text = summary.read_text()
    assert "cp-ams-1" in text  # the Markdown report, then the link
    assert f"]({ARTIFACT_URL})" in text.splitlines()[-1]


def test_nightly_recipe_without_a_report_renders_nothing_and_does_not_fail(
    tmp_path: Path,
) -> None:
    """drift wrote no JSON (an invalid policy): drift's own step failed the job and says why."""
    workflow = recipe("github-actions.yml")
    step = github_step(workflow["jobs"]["drift"], "reports")
    summary = tmp_path / "summary.md"
    done = run_github_step(workflow, step, tmp_path, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 0
    assert not (tmp_path / "drift.html").exists()


@pytest.mark.parametrize("drifted", [True, False])
def test_gitlab_recipe_exposes_the_html_page_and_prints_its_link(
    tmp_path: Path, drifted: bool
) -> None:
    pipeline = recipe("gitlab-ci.yml")
    job = pipeline["checkpointctl-drift"]
    assert job["script"][-1].endswith("--format json -o drift.json")
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["paths"][0] == "drift.html"
    assert artifacts["expose_as"]
    assert artifacts["reports"]["junit"] == "drift.xml"
    hosts = SHARDS[1].hosts if drifted else SHARDS[2].hosts
    (tmp_path / "drift.json").write_text(render(RunReport("drift", hosts), "json"))
    job_url = "https://gitlab.example/acme/policies/-/jobs/99"
    done = run_gitlab_lines(pipeline, job["after_script"], tmp_path, env={"CI_JOB_URL": job_url})
    assert done.returncode == 0, done.stderr
    _assert_one_page_of(tmp_path / "drift.html", tuple(h.host for h in hosts))
    assert (tmp_path / "drift.xml").exists()
    assert f"{job_url}/artifacts/file/drift.html" in done.stdout
