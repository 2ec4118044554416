"""What the repository publishes for other tools: the schema, the modelines, the pre-commit
hook and the CI recipes, each checked the way its consumer would use it.

The CI recipes are exercised for real: their ``checkpointctl validate`` and ``impact`` command
lines are taken from the YAML, their variables filled in as the CI system would, and run
against a sample policy repository with two commits (no CI system involved).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitops_repo import Repo, isolate_git, make_repo
from jsonschema import Draft202012Validator

from checkpointctl.cli.main import main
from checkpointctl.policy.editor_schema import TEMPLATE, editor_schema
from checkpointctl.policy.schema import policy_schema

REPO = Path(__file__).resolve().parents[3]
PUBLISHED = REPO / "schemas" / "policy.v1.json"
PACKAGE = REPO / "checkpointctl" / "schemas" / "policy.v1.json"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)
EXAMPLE_POLICIES = sorted((REPO / "policies").glob("*.yml"))

Capsys = pytest.CaptureFixture[str]


# --- schema and modelines --------------------------------------------------------------------


def test_published_schema_is_generated_from_the_package_schema(capsys: Capsys) -> None:
    # Regenerate with: checkpointctl schema > schemas/policy.v1.json
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == PUBLISHED.read_text()
    assert json.loads(PUBLISHED.read_text()) == editor_schema(json.loads(PACKAGE.read_text()))


def test_published_schema_differs_from_the_package_only_by_template_alternatives() -> None:
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            if "anyOf" in node and node["anyOf"][-1] == TEMPLATE:
                inner = {**node["anyOf"][0], **{k: v for k, v in node.items() if k != "anyOf"}}
                return strip(inner)
            return {k: strip(v) for k, v in node.items() if k != "$comment"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    assert strip(json.loads(PUBLISHED.read_text())) == json.loads(PACKAGE.read_text())


def test_published_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(json.loads(PUBLISHED.read_text()))


@pytest.mark.parametrize("policy", EXAMPLE_POLICIES, ids=lambda p: p.name)
def test_example_policy_modeline_resolves_to_the_schema(policy: Path) -> None:
    m = MODELINE.search(policy.read_text())
    assert m, f"{policy.name} has no yaml-language-server modeline"
    target = (policy.parent / m.group(1)).resolve()
    assert target.is_file(), f"{m.group(1)} does not resolve from {policy.name}"
    assert json.loads(target.read_text()) == json.loads(PUBLISHED.read_text())


@pytest.mark.parametrize("policy", EXAMPLE_POLICIES, ids=lambda p: p.name)
def test_example_policy_validates_against_the_published_schema(policy: Path) -> None:
    # A standard validator on the published file, as an editor would: not our loader.
    schema = json.loads(PUBLISHED.read_text())
    errors = list(Draft202012Validator(schema).iter_errors(yaml.safe_load(policy.read_text())))
    assert errors == []


def _baseline() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "policies" / "baseline.yml").read_text())
    return doc


def test_the_published_schema_refuses_what_editors_should_flag() -> None:
    validator = Draft202012Validator(json.loads(PUBLISHED.read_text()))
    doc = _baseline()
    doc["spec"]["containers"][0]["imgae"] = "typo"
    doc["spec"]["firewall"]["management"]["ssh_port"] = "twenty-two"
    doc["spec"]["data_collection"]["profile"] = "everything"
    errors = sorted((e.json_path, e.validator) for e in validator.iter_errors(doc))
    assert errors == [
        ("$.spec.containers[0]", "additionalProperties"),
        ("$.spec.data_collection.profile", "anyOf"),
        ("$.spec.firewall.management.ssh_port", "anyOf"),
    ]


def test_the_published_schema_accepts_templates_where_the_loader_does() -> None:
    validator = Draft202012Validator(json.loads(PUBLISHED.read_text()))
    doc = _baseline()
    doc["spec"]["firewall"]["management"]["ssh_port"] = "{{ ssh_port | int }}"
    doc["spec"]["data_collection"]["profile"] = "{{ collection_profile }}"
    assert list(validator.iter_errors(doc)) == []
    doc["kind"] = "{{ kind }}"  # outside spec: never templated
    assert [e.validator for e in validator.iter_errors(doc)] == ["const"]


def test_pin_is_a_schema_field() -> None:
    container = policy_schema()["$defs"]["container"]["properties"]
    assert container["pin"]["type"] == "boolean"


# --- pre-commit ------------------------------------------------------------------------------


def test_pre_commit_hook_definition() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hooks == [
        {
            "id": "checkpointctl-validate",
            "name": "checkpointctl validate",
            "description": "Schema and security lint of checkpointctl policies",
            "entry": "checkpointctl validate",
            "language": "python",
            "files": r"^policies/.*\.ya?ml$",
            "pass_filenames": False,
        }
    ]
    pattern = re.compile(hooks[0]["files"])
    assert pattern.search("policies/baseline.yml")
    assert pattern.search("policies/eu/x.yaml")
    assert not pattern.search("inventories/prod.yml")


# --- CI recipes ------------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docs" / "ci" / name).read_text())
    return data


def _commands(script: str) -> list[str]:
    """The ``checkpointctl`` command lines of a step's shell script."""
    return [ln.strip() for ln in script.splitlines() if ln.strip().startswith("checkpointctl ")]


def _argv(line: str, env: dict[str, str]) -> list[str]:
    """A command line as the CI shell would run it: split, then ``$VAR``/``${VAR}`` filled."""

    def expand(token: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: env[str(m.group(1))], token)

    argv = [expand(t) for t in shlex.split(line)]
    assert argv[0] == "checkpointctl"
    return argv[1:]


def _github_step(job: dict[str, Any], name: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = job["steps"]
    return next(s for s in steps if s.get("name") == name)


def test_github_workflow_shape() -> None:
    wf = _load("github-actions.yml")
    review, drift, pin = wf["jobs"]["review"], wf["jobs"]["drift"], wf["jobs"]["pin"]
    # `on:` is YAML 1.1's boolean true to PyYAML
    triggers = wf[True]  # type: ignore[index]
    assert set(triggers) == {"pull_request", "schedule", "workflow_dispatch"}
    assert review["steps"][0]["with"]["fetch-depth"] == 0
    assert review["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert wf["permissions"] == {"contents": "read"}
    upload = _github_step(drift, "upload report")
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "drift.xml"
    assert _commands(_github_step(drift, "drift")["run"]) == [
        'checkpointctl drift -i "$INVENTORY" --format json -o drift.json'
    ]
    assert "checkpointctl pin policies/ --check" in _github_step(pin, "check")["run"]
    # No ${{ }} expression is pasted into a shell script (script injection): env only.
    for job in wf["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step


def test_gitlab_ci_shape() -> None:
    ci = _load("gitlab-ci.yml")
    assert ci["checkpointctl-impact"]["variables"]["GIT_DEPTH"] == 0
    drift = ci["checkpointctl-drift"]
    assert drift["artifacts"]["reports"]["junit"] == "drift.xml"
    assert drift["artifacts"]["when"] == "always"
    assert _commands("\n".join(drift["script"])) == [
        'checkpointctl drift -i "$INVENTORY" --format json -o drift.json'
    ]
    for name in ("checkpointctl-validate", "checkpointctl-impact"):
        assert ci[name]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert ci["checkpointctl-drift"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    isolate_git(monkeypatch)
    repo = make_repo(tmp_path / "policy-repo", published_schema=PUBLISHED.read_text())
    monkeypatch.chdir(repo.root)
    return repo


def _run_recipe(lines: list[str], env: dict[str, str], capsys: Capsys) -> None:
    assert lines
    for line in lines:
        code = main(_argv(line, env))
        assert code == 0, f"{line}: {capsys.readouterr().err}"


def test_github_review_job_commands_run_on_a_sample_repo(sample: Repo, capsys: Capsys) -> None:
    wf = _load("github-actions.yml")
    env = {
        **wf["env"],
        "INVENTORY": "inventories/fleet.yml",
        "BASE_SHA": sample.base,
        "GITHUB_STEP_SUMMARY": "summary.md",
    }
    review = wf["jobs"]["review"]
    _run_recipe(_commands(_github_step(review, "validate")["run"]), env, capsys)
    assert capsys.readouterr().out == "ok: 3 policies, 4 hosts\n"
    _run_recipe(_commands(_github_step(review, "impact")["run"]), env, capsys)
    comment = (sample.root / "impact.md").read_text()
    assert comment.startswith("### checkpointctl impact\n")
    assert "**3 of 4 hosts change**" in comment
    assert "| 2 | `container/probe` `image.digest`" in comment


def test_gitlab_merge_request_job_commands_run_on_a_sample_repo(
    sample: Repo, capsys: Capsys
) -> None:
    ci = _load("gitlab-ci.yml")
    env = {
        **ci["variables"],
        "INVENTORY": "inventories/fleet.yml",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": sample.base,
    }
    _run_recipe(_commands("\n".join(ci["checkpointctl-validate"]["script"])), env, capsys)
    _run_recipe(_commands("\n".join(ci["checkpointctl-impact"]["script"])), env, capsys)
    assert "**3 of 4 hosts change**" in (sample.root / "impact.md").read_text()


def test_pre_commit_entry_runs_on_a_sample_repo(sample: Repo, capsys: Capsys) -> None:
    hook = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())[0]
    argv = shlex.split(hook["entry"])[1:] + ["-i", "inventories/fleet.yml"]
    assert main(argv) == 0
    assert capsys.readouterr().out == "ok: 3 policies, 4 hosts\n"
    (sample.root / "policies" / "baseline.yml").write_text("apiVersion: nope\n")
    assert main(shlex.split(hook["entry"])[1:]) == 1
