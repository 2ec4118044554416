"""Who changed what: classification against the last apply's fingerprints, exceptions, and
the exit code ``drift --fail-on`` derives (pure; the lab story is in
tests/integration/test_drift_origin.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

from checkpointctl.engine.audit import AuditContext
from checkpointctl.engine.provenance import (
    accepted_in_full,
    classify,
    fingerprints,
    parse_record,
)
from checkpointctl.engine.run import record_doc
from checkpointctl.model import Action, Change, FieldChange, HostResult, HostStatus, RunReport
from checkpointctl.model.provenance import DriftOrigin, ExceptionNote
from checkpointctl.spec import ContainerSpec, DesiredState, FirewallSpec, ImageRef

REPO = "10.213.0.1:5000/checkpoint/probe"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
TODAY = date(2026, 12, 7)


def state(env: str = "a", digest: str = D1, **kw: object) -> DesiredState:
    probe = ContainerSpec(name="probe", image=ImageRef(REPO, digest), env=(("MODE", env),))
    return DesiredState(host="cp-1", containers=(probe,), firewall=FirewallSpec(), **kw)  # type: ignore[arg-type]


def recorded(desired: DesiredState, result: str = "converged") -> bytes:
    """What apply writes in last-apply.json for ``desired`` (the engine's own record_doc)."""
    host = HostResult("cp-1", HostStatus(result) if result != "failed" else HostStatus.FAILED)
    doc = record_doc(host, desired, AuditContext(who="ci@runner", revision="abc123"))
    return json.dumps(doc).encode()


ENV_CHANGE = Change(
    "container/probe", Action.REPLACE_CREATE_FIRST, (FieldChange("env.MODE", "b", "a"),)
)
IMAGE_CHANGE = Change(
    "container/probe",
    Action.REPLACE_CREATE_FIRST,
    (FieldChange("image", f"{REPO}@{D2}", f"{REPO}@{D1}"),),
)
FIREWALL_CHANGE = Change(
    "firewall/checkpointctl",
    Action.UPDATE,
    (FieldChange("input: tcp dport 8080 accept", "present", None),),
)


def drifted(*changes: Change) -> HostResult:
    return HostResult("cp-1", HostStatus.DRIFT, changes=changes)


def origins(result: HostResult) -> list[DriftOrigin | None]:
    return [c.origin for c in result.changes]


def test_a_policy_change_since_the_last_apply_is_pending() -> None:
    record = parse_record(recorded(state(env="old")))
    out = classify(drifted(ENV_CHANGE), state(env="a"), record, TODAY)
    assert origins(out) == [DriftOrigin.PENDING]
    assert out.last_apply is not None
    assert (out.last_apply.who, out.last_apply.policy_revision) == ("ci@runner", "abc123")


def test_a_change_the_policy_did_not_ask_for_is_out_of_band() -> None:
    desired = state()
    out = classify(
        drifted(ENV_CHANGE, FIREWALL_CHANGE), desired, parse_record(recorded(desired)), TODAY
    )
    assert origins(out) == [DriftOrigin.OUT_OF_BAND, DriftOrigin.OUT_OF_BAND]


def test_another_digest_of_the_same_repository_is_a_vendor_update() -> None:
    desired = state()
    out = classify(drifted(IMAGE_CHANGE), desired, parse_record(recorded(desired)), TODAY)
    assert origins(out) == [DriftOrigin.VENDOR_UPDATE]
    # the same image difference after Git moved the digest is the pending rollout, not the vendor
    out = classify(drifted(IMAGE_CHANGE), desired, parse_record(recorded(state(digest=D2))), TODAY)
    assert origins(out) == [DriftOrigin.PENDING]
    # another repository is a hand-made replacement
    other = dataclasses.replace(
        IMAGE_CHANGE, fields=(FieldChange("image", f"{REPO}-fork@{D2}", f"{REPO}@{D1}"),)
    )
    out = classify(drifted(other), desired, parse_record(recorded(desired)), TODAY)
    assert origins(out) == [DriftOrigin.OUT_OF_BAND]


def test_without_a_converged_record_everything_is_pending() -> None:
    desired = state()
    assert origins(classify(drifted(ENV_CHANGE), desired, None, TODAY)) == [DriftOrigin.PENDING]
    failed = parse_record(recorded(desired, result="failed"))
    assert origins(classify(drifted(ENV_CHANGE), desired, failed, TODAY)) == [DriftOrigin.PENDING]
    assert parse_record(b"not json") is None


def test_fingerprints_follow_the_desired_state_not_secrets_text() -> None:
    assert fingerprints(state())["container/probe"] == fingerprints(state())["container/probe"]
    assert (
        fingerprints(state())["container/probe"] != fingerprints(state(env="b"))["container/probe"]
    )
    assert fingerprints(state())["firewall"] == fingerprints(state(env="b"))["firewall"]


def exception(expires: date, field: str = "input: *") -> ExceptionNote:
    return ExceptionNote("firewall/*", field, "vendor support session", "ops", expires, "p.yml:3:5")


def test_an_exception_accepts_its_fields_until_it_expires() -> None:
    desired = state(exceptions=(exception(date(2026, 12, 31)),))
    record = parse_record(recorded(desired))
    out = classify(drifted(FIREWALL_CHANGE), desired, record, TODAY)
    assert out.changes == ()
    assert out.status is HostStatus.IN_SYNC
    assert [(a.address, a.fields) for a in out.accepted] == [
        ("firewall/checkpointctl", ("input: tcp dport 8080 accept",))
    ]
    late = classify(drifted(FIREWALL_CHANGE), desired, record, date(2027, 1, 1))
    assert origins(late) == [DriftOrigin.EXPIRED_EXCEPTION]
    assert late.changes[0].exception == exception(date(2026, 12, 31))
    assert late.status is HostStatus.DRIFT


def test_an_exception_covers_only_the_fields_it_names() -> None:
    two = dataclasses.replace(
        FIREWALL_CHANGE,
        fields=(*FIREWALL_CHANGE.fields, FieldChange("input.policy", "accept", "drop")),
    )
    desired = state(exceptions=(exception(date(2026, 12, 31)),))
    out = classify(drifted(two), desired, parse_record(recorded(desired)), TODAY)
    assert [f.path for f in out.changes[0].fields] == ["input.policy"]
    assert out.accepted[0].fields == ("input: tcp dport 8080 accept",)


def test_fail_on_chooses_which_classes_make_drift_exit_2() -> None:
    vendor = dataclasses.replace(IMAGE_CHANGE, origin=DriftOrigin.VENDOR_UPDATE)
    hosts = (HostResult("cp-1", HostStatus.DRIFT, changes=(vendor,)),)
    assert RunReport("drift", hosts).exit_code == 2
    only = frozenset({DriftOrigin.PENDING, DriftOrigin.OUT_OF_BAND})
    assert RunReport("drift", hosts, fail_on=only).exit_code == 0
    pending = dataclasses.replace(ENV_CHANGE, origin=DriftOrigin.PENDING)
    both = (HostResult("cp-1", HostStatus.DRIFT, changes=(vendor, pending)),)
    assert RunReport("drift", both, fail_on=only).exit_code == 2
    unclassified = (HostResult("cp-1", HostStatus.DRIFT, changes=(ENV_CHANGE,)),)
    assert RunReport("drift", unclassified, fail_on=only).exit_code == 2


def test_apply_leaves_alone_only_what_exceptions_accept_in_full() -> None:
    two = dataclasses.replace(
        FIREWALL_CHANGE,
        fields=(*FIREWALL_CHANGE.fields, FieldChange("input.policy", "accept", "drop")),
    )
    notes = [exception(date(2026, 12, 31))]
    assert accepted_in_full([FIREWALL_CHANGE, two, ENV_CHANGE], notes, TODAY) == [FIREWALL_CHANGE]
    assert accepted_in_full([FIREWALL_CHANGE], notes, date(2027, 1, 1)) == []
