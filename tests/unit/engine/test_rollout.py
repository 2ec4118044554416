"""Rollouts through the real engine on this machine: batches, halts, not-attempted hosts,
the lock, the audit log and the last-apply record.

Every "host" is this machine over the local transport; the lock, the audit log and the record
live in a temporary state directory (``ApplyOptions.state_dir``), and the resource is a small
one written for these tests that keeps one file per host in a temporary directory and refuses
to write for the hosts a test names. That exercises the engine's own logic without a lab.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from checkpointctl.engine.audit import AuditContext, LocalAuditLog
from checkpointctl.engine.lock import LockNote, LockNoteKind, LockOwner, LockPaths, acquire
from checkpointctl.engine.run import (
    ApplyOptions,
    Rollout,
    gate_failed,
    halt_reason,
    lock_findings,
    record_doc,
    run_fleet,
)
from checkpointctl.errors import ResourceError
from checkpointctl.model import (
    Action,
    Change,
    FailureReason,
    FieldChange,
    Finding,
    Host,
    HostResult,
    HostStatus,
    Planned,
)
from checkpointctl.resources.base import Resource
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import Transport
from checkpointctl.transport.local import LocalTransport

OWNER = LockOwner("ops", "ci-3", 812, "2025-03-01T10:00:00+00:00")
HOSTS = [Host(f"h{i}", "127.0.0.1", connection="local") for i in range(1, 6)]
STATES = {h.name: DesiredState(host=h.name, policies=("base",)) for h in HOSTS}


class Marker(Resource[None, str | None]):
    """One file per host holding "v2"; refuses to write on the hosts in ``broken``."""

    kind: ClassVar[str] = "marker"

    def __init__(self, root: Path, broken: set[str]) -> None:
        self.root = root
        self.broken = broken

    def read(self, transport: Transport, desired: DesiredState) -> str | None:
        path = self.root / desired.host
        return path.read_text() if path.exists() else None

    def diff(self, desired: DesiredState, actual: str | None) -> list[Planned[None]]:
        if actual == "v2":
            return []
        change = Change(f"marker/{desired.host}", Action.UPDATE, (FieldChange("v", actual, "v2"),))
        return [Planned(change, None)]

    def findings(self, desired: DesiredState, actual: str | None) -> list[Finding]:
        return []

    def apply(self, transport: Transport, change: Planned[None]) -> None:
        host = change.address.split("/")[1]
        if host in self.broken:
            raise ResourceError(f"{change.address}: the disk is on fire")
        (self.root / host).write_text("v2")


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    files, state = tmp_path / "files", tmp_path / "state"
    files.mkdir()
    for h in HOSTS:
        (files / h.name).write_text("v1")
    return {"files": files, "state": state, "log": tmp_path / "audit.jsonl"}


def _run(world: dict[str, Path], rollout: Rollout, broken: set[str], mode: str = "apply"):  # type: ignore[no-untyped-def]
    options = ApplyOptions(
        owner=OWNER,
        audit=AuditContext("ops@ci-3", "rev1", ("checkpointctl", "apply"), "run1"),
        audit_log=LocalAuditLog(str(world["log"])),
        state_dir=str(world["state"]),
    )
    return run_fleet(
        HOSTS,
        STATES,
        mode,  # type: ignore[arg-type]
        lambda h: LocalTransport(h),
        forks=1,  # every "host" is this machine: one lock file, so one at a time
        rollout=rollout,
        resources=[Marker(world["files"], broken)],
        options=options,
    )


def _files(world: dict[str, Path]) -> dict[str, str]:
    return {h.name: (world["files"] / h.name).read_text() for h in HOSTS}


def _local_audit(world: dict[str, Path]) -> list[dict[str, object]]:
    return [json.loads(line) for line in world["log"].read_text().splitlines()]


def test_canary_failure_stops_after_the_canary(world: dict[str, Path]) -> None:
    report = _run(world, Rollout(canary=1, serial=2), broken={"h1"})
    assert [h.status for h in report.hosts] == [HostStatus.FAILED] + [HostStatus.NOT_ATTEMPTED] * 4
    assert report.halted == "canary failed on h1"
    assert report.exit_code == 1
    assert report.hosts[0].failure is FailureReason.APPLY_FAILED
    assert report.hosts[1].failure is FailureReason.HALTED
    assert _files(world) == {"h1": "v1", "h2": "v1", "h3": "v1", "h4": "v1", "h5": "v1"}
    assert report.hosts[1].error == "halted: canary failed on h1"


def test_max_fail_halts_and_lists_the_hosts_not_attempted(world: dict[str, Path]) -> None:
    report = _run(world, Rollout(serial=1, max_fail=0.3), broken={"h2"})
    status = {h.host: h.status for h in report.hosts}
    assert status == {
        "h1": HostStatus.CONVERGED,
        "h2": HostStatus.FAILED,
        "h3": HostStatus.NOT_ATTEMPTED,
        "h4": HostStatus.NOT_ATTEMPTED,
        "h5": HostStatus.NOT_ATTEMPTED,
    }
    assert report.halted == "1 of 2 hosts failed, over the --max-fail of 30%"
    assert _files(world)["h3"] == "v1"
    assert report.hosts[2].changes == ()  # not attempted is never reported as changed


def test_under_max_fail_the_rollout_goes_on(world: dict[str, Path]) -> None:
    report = _run(world, Rollout(serial=1, max_fail=0.5), broken={"h3"})
    assert report.halted is None
    assert report.counts() == {"converged": 4, "failed": 1}
    assert _files(world)["h5"] == "v2"


def test_every_host_gets_a_local_audit_line_and_the_reached_ones_a_host_line(
    world: dict[str, Path],
) -> None:
    _run(world, Rollout(canary=1), broken={"h1"})
    lines = _local_audit(world)
    assert [(x["host"], x["result"]) for x in lines] == [
        ("h1", "failed"),
        ("h2", "not-attempted"),
        ("h3", "not-attempted"),
        ("h4", "not-attempted"),
        ("h5", "not-attempted"),
    ]
    assert {x["run"] for x in lines} == {"run1"}
    assert lines[0]["policy_revision"] == "rev1"
    assert lines[0]["error"] == "marker/h1: the disk is on fire"
    on_host = (world["state"] / "audit.jsonl").read_text().splitlines()
    assert [json.loads(x)["host"] for x in on_host] == ["h1"]
    assert json.loads(on_host[0]) == lines[0]


def test_last_apply_record_says_how_it_ended(world: dict[str, Path]) -> None:
    _run(world, Rollout(), broken={"h5"})
    record = json.loads((world["state"] / "last-apply.json").read_text())
    assert record["result"] == "failed"  # h5 ran last on this one shared state dir
    assert record["who"] == "ops@ci-3"
    assert record["policies"] == ["base"]
    assert record["error"] == "marker/h5: the disk is on fire"


def test_apply_fails_clearly_on_a_held_lock_and_drift_does_not_lock(
    world: dict[str, Path],
) -> None:
    paths = LockPaths(str(world["state"] / "lock"), str(world["state"] / "lock-owner.json"))
    other = LockOwner("alice", "laptop", 4242, "x")
    held = acquire(LocalTransport(HOSTS[0]), other, paths=paths)
    try:
        drift = _run(world, Rollout(), broken=set(), mode="drift")
        assert [h.status for h in drift.hosts] == [HostStatus.DRIFT] * 5
        applied = _run(world, Rollout(canary=1), broken=set())
    finally:
        held.release()
    first = applied.hosts[0]
    assert first.status is HostStatus.FAILED
    assert first.error is not None
    assert first.error.startswith("h1 is being converged by alice@laptop (pid 4242, apply) since")
    assert first.failure is FailureReason.LOCK_BUSY
    assert applied.halted == "canary failed on h1"
    assert {h.failure for h in applied.hosts[1:]} == {FailureReason.HALTED}
    assert all(h.failure is None for h in drift.hosts)
    assert _files(world)["h1"] == "v1"


def _r(
    name: str,
    status: HostStatus,
    error: str | None = None,
    failure: FailureReason | None = None,
) -> HostResult:
    return HostResult(name, status, error=error, failure=failure)


OK, BAD = HostStatus.CONVERGED, HostStatus.FAILED


def test_halt_reason_canary() -> None:
    batch = [_r("a", BAD), _r("b", HostStatus.UNREACHABLE)]
    assert halt_reason(Rollout(canary=2), 0, batch, batch) == "canary failed on a, b"
    assert halt_reason(Rollout(canary=2), 0, [_r("a", OK)], [_r("a", OK)]) is None
    # without a canary the first batch is an ordinary one
    assert halt_reason(Rollout(), 0, batch, batch) is None


def test_halt_reason_max_fail_counts_every_finished_host() -> None:
    finished = [_r("a", OK), _r("b", OK), _r("c", BAD)]
    assert halt_reason(Rollout(max_fail=0.34), 1, finished[2:], finished) is None
    assert halt_reason(Rollout(max_fail=0.33), 1, finished[2:], finished) == (
        "1 of 3 hosts failed, over the --max-fail of 33%"
    )
    assert halt_reason(Rollout(max_fail=0.0), 1, [_r("a", OK)], [_r("a", OK)]) is None


def test_halt_reason_health_gate_first() -> None:
    gated = _r("b", BAD, "health gate: container probe is unhealthy", FailureReason.GATE_FAILED)
    assert gate_failed(gated)
    assert not gate_failed(_r("c", BAD, "did not converge", FailureReason.CONVERGENCE))
    assert halt_reason(Rollout(), 2, [_r("a", OK), gated], [gated]) == (
        "health gate failed after batch 3 on b (container probe is unhealthy)"
    )


def test_the_gate_halts_on_its_reason_not_on_its_message() -> None:
    # a gate failure whose message says something else entirely still halts the rollout
    reworded = _r("b", BAD, "probe never became healthy", FailureReason.GATE_FAILED)
    assert gate_failed(reworded)
    assert halt_reason(Rollout(), 1, [reworded], [reworded]) == (
        "health gate failed after batch 2 on b (probe never became healthy)"
    )
    # and a failure that merely reads like one does not
    lookalike = _r("c", BAD, "health gate: (text of a resource)", FailureReason.APPLY_FAILED)
    assert not gate_failed(lookalike)
    assert halt_reason(Rollout(), 1, [lookalike], [lookalike]) is None
    # a host that did not fail is never gated, whatever reason it carries
    assert not gate_failed(_r("d", OK, None, FailureReason.GATE_FAILED))


def test_lock_findings() -> None:
    notes = [
        LockNote(LockNoteKind.WAITED, "waited 1.0s for the lock"),
        LockNote(LockNoteKind.STALE, "took over a stale lock left by x"),
    ]
    found = lock_findings(notes)
    assert [(f.address, f.severity) for f in found] == [("lock", "info"), ("lock", "warning")]
    assert [f.message for f in found] == [n.text for n in notes]


def test_lock_finding_severity_follows_the_note_kind_not_its_text() -> None:
    swapped = [
        LockNote(LockNoteKind.WAITED, "took over a stale lock (words only)"),
        LockNote(LockNoteKind.STALE, "the holder is gone"),
    ]
    assert [f.severity for f in lock_findings(swapped)] == ["info", "warning"]


def test_record_doc_is_redacted_and_lists_applied_changes_only() -> None:
    from checkpointctl.engine.audit import AuditContext as Ctx
    from checkpointctl.model import Secret

    changes = (
        Change("credential/a", Action.UPDATE, (FieldChange("secret", None, Secret("pw-1")),)),
        Change("collection/p", Action.UPDATE, (FieldChange("x", 1, 2),)),
    )
    result = HostResult("h", HostStatus.FAILED, changes, ("credential/a",), "collection/p", "boom")
    doc = record_doc(result, DesiredState("h", policies=("p",)), Ctx("u@c", None, run_id="r"))
    assert doc["result"] == "failed"
    assert doc["error"] == "boom"
    applied = doc["applied"]
    assert isinstance(applied, list)
    assert [c["address"] for c in applied if isinstance(c, dict)] == ["credential/a"]
    assert len(applied) == 1
    assert "pw-1" not in json.dumps(doc)
