"""Drift that says who changed what: classify each planned change, apply exceptions.

Apply records, in the host's ``last-apply.json``, a fingerprint of the desired state of every
address it converged (:func:`fingerprints`). Drift reads that record back and compares:

- the desired fingerprint now differs from the recorded one (or there is no usable record):
  Git changed and nobody applied it yet: *pending*;
- it is the same: the policy did not change, the host did. When the difference is the
  container's image, now another digest of the same repository, that is a *vendor update*
  (the vendor's auto-updater replacing the image); anything else is *out-of-band*, shown
  with the record of the last apply.

``spec.exceptions`` then take out the fields they accept (``resource`` and ``field`` are globs
over the address and the field path reports show): until ``expires`` the difference is reported
as accepted, after it the change stays drift, classed *expired exception*. All of this is pure
except :func:`read_record`; decisions are on the record's data and the change's typed fields.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date

from checkpointctl.errors import CheckpointctlError
from checkpointctl.model import (
    Change,
    FieldChange,
    Finding,
    HostResult,
    HostStatus,
    JSONValue,
)
from checkpointctl.model.provenance import AcceptedDifference, DriftOrigin, ExceptionNote, LastApply
from checkpointctl.spec import DesiredState, state_to_data
from checkpointctl.transport.base import Transport

_SECTIONS: Mapping[str, tuple[str, str]] = {
    "container": ("containers", "name"),
    "credential": ("credentials", "name"),
    "collection": ("collection", "container"),
    "firewall": ("firewall", ""),
}
"""Resource kind → (the desired state's section, the item key addresses are named by)."""
_CONVERGED = frozenset({"converged", "in-sync"})
"""Results after which the recorded fingerprints are what the host was left holding."""
PROVENANCE_ADDRESS = "provenance"


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def fingerprints(desired: DesiredState) -> dict[str, JSONValue]:
    """``kind/name`` and ``kind`` → a digest of that part of the desired state (secrets by their
    digest, never their value): what the last apply converged each address to."""
    data = state_to_data(desired, lambda s: s.digest())
    out: dict[str, JSONValue] = {}
    for kind, (section, key) in _SECTIONS.items():
        value = data.get(section)
        out[kind] = _digest(value)
        if key and isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and key in item:
                    out[f"{kind}/{item[key]}"] = _digest(item)
    return out


def _lookup(prints: Mapping[str, JSONValue], address: str, kind: str) -> JSONValue:
    return prints[address] if address in prints else prints.get(kind)


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """The parts of ``last-apply.json`` classification needs."""

    last_apply: LastApply
    desired: Mapping[str, JSONValue]
    """Recorded fingerprints; empty when the record has none or the apply did not converge."""


def parse_record(raw: bytes | None) -> Record | None:
    """``last-apply.json`` → :class:`Record` (None when absent or unreadable)."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None

    def text(key: str) -> str | None:
        value = doc.get(key)
        return str(value) if isinstance(value, str) else None

    last = LastApply(
        time=text("time") or "?",
        who=text("who") or "?",
        result=text("result") or "unknown",
        run=text("run"),
        policy_revision=text("policy_revision"),
    )
    prints = doc.get("desired")
    usable = isinstance(prints, dict) and last.result in _CONVERGED
    return Record(last, dict(prints) if usable and isinstance(prints, dict) else {})


def read_record(transport: Transport, path: str) -> Record | None:
    return parse_record(transport.read_file(path))


def _vendor_image(change: Change) -> bool:
    """The container now runs another digest of the repository the policy pins."""
    if change.kind != "container":
        return False
    for f in change.fields:
        if f.path != "image" or not isinstance(f.before, str) or not isinstance(f.after, str):
            continue
        have_repo, _, have = f.before.rpartition("@")
        want_repo, _, want = f.after.rpartition("@")
        if have_repo and have_repo == want_repo and have != want:
            return True
    return False


def origin_of(change: Change, now: Mapping[str, JSONValue], record: Record | None) -> DriftOrigin:
    """The class of one change (pure): pending, vendor update or out-of-band."""
    if record is None or not record.desired:
        return DriftOrigin.PENDING
    if _lookup(now, change.address, change.kind) != _lookup(
        record.desired, change.address, change.kind
    ):
        return DriftOrigin.PENDING
    if _vendor_image(change):
        return DriftOrigin.VENDOR_UPDATE
    return DriftOrigin.OUT_OF_BAND


def _covers(note: ExceptionNote, address: str, field: FieldChange) -> bool:
    return fnmatch.fnmatchcase(address, note.resource) and fnmatch.fnmatchcase(
        field.path, note.field
    )


def apply_exceptions(
    change: Change, exceptions: Sequence[ExceptionNote], today: date
) -> tuple[Change | None, list[AcceptedDifference]]:
    """Split ``change`` into what unexpired exceptions accept and what stays drift.

    The change left (None when every field is accepted) keeps its class unless an expired
    exception covers one of its fields: then it is ``expired-exception`` and names it.
    """
    accepted: dict[ExceptionNote, list[str]] = {}
    left: list[FieldChange] = []
    expired: ExceptionNote | None = None
    for field in change.fields:
        covering = [e for e in exceptions if _covers(e, change.address, field)]
        valid = next((e for e in covering if e.expires >= today), None)
        if valid is not None:
            accepted.setdefault(valid, []).append(field.path)
            continue
        left.append(field)
        if covering and expired is None:
            expired = covering[0]
    found = [AcceptedDifference(change.address, tuple(p), e) for e, p in accepted.items()]
    if not left:
        return None, found
    rest = dataclasses.replace(change, fields=tuple(left))
    if expired is not None:
        rest = dataclasses.replace(rest, origin=DriftOrigin.EXPIRED_EXCEPTION, exception=expired)
    return rest, found


def accepted_in_full(
    changes: Sequence[Change], exceptions: Sequence[ExceptionNote], today: date
) -> list[Change]:
    """The changes whose every field an unexpired exception accepts: apply leaves them alone
    (a partly accepted change is applied whole: its address is converged as one)."""
    return [c for c in changes if apply_exceptions(c, exceptions, today)[0] is None]


def classify(
    result: HostResult, desired: DesiredState, record: Record | None, today: date
) -> HostResult:
    """``result`` with each change classed, accepted differences split off, the last apply
    attached, and the status ``in-sync`` when exceptions accept every difference (pure)."""
    if not result.changes:
        return result
    now = fingerprints(desired)
    changes: list[Change] = []
    accepted: list[AcceptedDifference] = []
    for change in result.changes:
        classed = dataclasses.replace(change, origin=origin_of(change, now, record))
        rest, found = apply_exceptions(classed, desired.exceptions, today)
        accepted.extend(found)
        if rest is not None:
            changes.append(rest)
    status = result.status
    if status is HostStatus.DRIFT and not changes:
        status = HostStatus.IN_SYNC
    return dataclasses.replace(
        result,
        status=status,
        changes=tuple(changes),
        accepted=result.accepted + tuple(accepted),
        last_apply=record.last_apply if record else None,
    )


def classify_on_host(
    result: HostResult,
    transport: Transport,
    desired: DesiredState,
    record_path: str,
    today: date,
) -> HostResult:
    """:func:`classify` with the host's record; a record that cannot be read leaves the changes
    unclassified (they still count) and says so as a finding."""
    if not result.changes:
        return result
    try:
        record = read_record(transport, record_path)
    except CheckpointctlError as exc:
        note = Finding(PROVENANCE_ADDRESS, f"cannot read {record_path}: {exc}", "info")
        return dataclasses.replace(result, findings=(*result.findings, note))
    return classify(result, desired, record, today)
