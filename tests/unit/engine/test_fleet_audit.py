"""Audit lines: what they hold, that secrets never appear, and where the revision comes from."""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checkpointctl.engine.audit import (
    AuditContext,
    LocalAuditLog,
    audit_line,
    audit_record,
    plan_digest,
    policy_revision,
)
from checkpointctl.model import Action, Change, FieldChange, HostResult, HostStatus, Secret

PLAINTEXT = "hunter2-PLAINTEXT"
CTX = AuditContext(who="ops@ci-3", revision="abc123", argv=("checkpointctl", "apply"), run_id="r1")
WHEN = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)

SECRET_CHANGE = Change(
    "credential/api",
    Action.UPDATE,
    (FieldChange("secret", Secret("old-" + PLAINTEXT), Secret(PLAINTEXT)),),
)
ENV_CHANGE = Change(
    "container/probe",
    Action.REPLACE_CREATE_FIRST,
    (
        FieldChange("image", "r/p@sha256:aa", "r/p@sha256:bb"),
        FieldChange("env.TOKEN", None, Secret(PLAINTEXT)),
    ),
)
RESULT = HostResult(
    "cp-1",
    HostStatus.CONVERGED,
    changes=(SECRET_CHANGE, ENV_CHANGE),
    applied=("credential/api", "container/probe"),
    seconds=1.23456,
)


def test_record_has_who_when_revision_plan_changes_and_result() -> None:
    record = audit_record(CTX, RESULT, policies=("baseline",), notes=("waited 1s",), when=WHEN)
    assert record["who"] == "ops@ci-3"
    assert record["time"] == "2025-03-01T10:00:00+00:00"
    assert record["policy_revision"] == "abc123"
    assert record["argv"] == ["checkpointctl", "apply"]
    assert record["run"] == "r1"
    assert record["host"] == "cp-1"
    assert record["action"] == "apply"
    assert record["result"] == "converged"
    assert record["applied"] == ["credential/api", "container/probe"]
    assert record["plan_digest"] == plan_digest(RESULT.changes)
    assert record["notes"] == ["waited 1s"]
    assert record["policies"] == ["baseline"]
    assert record["seconds"] == 1.235
    changes = record["changes"]
    assert isinstance(changes, list)
    assert [c["address"] for c in changes if isinstance(c, dict)] == [
        "credential/api",
        "container/probe",
    ]


def test_secrets_never_appear_in_a_line() -> None:
    line = audit_line(audit_record(CTX, RESULT, when=WHEN))
    assert PLAINTEXT.encode() not in line
    assert line.count(b"<sensitive>") == 3
    assert Secret(PLAINTEXT).digest().encode() not in line


def test_a_line_is_one_json_line() -> None:
    line = audit_line(audit_record(CTX, RESULT, when=WHEN))
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line)["host"] == "cp-1"


def test_non_json_values_are_refused_not_stringified() -> None:
    odd = HostResult(
        "cp-1",
        HostStatus.DRIFT,
        changes=(
            Change(
                "x/y",
                Action.UPDATE,
                (
                    FieldChange("f", None, object()),  # type: ignore[arg-type]
                ),
            ),
        ),
    )
    with pytest.raises(TypeError):
        audit_line(audit_record(CTX, odd, when=WHEN))


def test_plan_digest_follows_the_plan() -> None:
    assert plan_digest(RESULT.changes) == plan_digest(RESULT.changes)
    assert plan_digest(RESULT.changes) != plan_digest(RESULT.changes[:1])
    assert plan_digest(()) == plan_digest([])
    assert plan_digest(()).startswith("sha256:")


def test_local_log_appends_whole_lines_from_many_threads(tmp_path: Path) -> None:
    log = LocalAuditLog(str(tmp_path / "sub" / "audit.jsonl"))
    lines = [audit_line(audit_record(CTX, RESULT, when=WHEN)) for _ in range(50)]
    threads = [threading.Thread(target=log.append, args=(line,)) for line in lines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    text = (tmp_path / "sub" / "audit.jsonl").read_text().splitlines()
    assert len(text) == 50
    assert all(json.loads(line)["host"] == "cp-1" for line in text)
    assert (tmp_path / "sub" / "audit.jsonl").stat().st_mode & 0o777 == 0o600
    assert log.error is None


def test_local_log_failure_is_remembered_not_raised(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    log = LocalAuditLog(str(tmp_path / "file" / "audit.jsonl"))
    log.append(b"{}\n")
    assert log.error is not None
    assert "cannot write the audit log" in log.error


def _git(where: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(where), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_policy_revision_is_the_commit_and_dirty_when_edited(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    (repo / "policies" / "base.yml").write_text("a: 1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x")
    head = _git(repo, "rev-parse", "HEAD")
    assert policy_revision([str(repo / "policies")]) == head
    assert policy_revision([str(repo / "policies" / "base.yml")]) == head
    (repo / "other.txt").write_text("not a policy")
    assert policy_revision([str(repo / "policies")]) == head
    (repo / "policies" / "base.yml").write_text("a: 2\n")
    assert policy_revision([str(repo / "policies")]) == head + "+dirty"


def test_policy_revision_outside_a_repository_is_none(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    assert policy_revision([str(tmp_path / "policies")]) is None
    assert policy_revision([str(tmp_path / "missing")]) is None
    assert policy_revision([]) is None
