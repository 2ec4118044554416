"""The sentences every human format uses for who changed what (see ``model.provenance``):
a change's class, an accepted difference, and the per-class counts of the summary line."""

from __future__ import annotations

from collections.abc import Mapping

from checkpointctl.model import Change, HostResult, RunReport
from checkpointctl.model.provenance import AcceptedDifference, DriftOrigin, ExceptionNote
from checkpointctl.report.display import one_line


def _exception(note: ExceptionNote) -> str:
    source = f", {note.source}" if note.source else ""
    return (
        f"{one_line(note.owner)} until {note.expires.isoformat()}: {one_line(note.reason)}{source}"
    )


def origin_text(host: HostResult, change: Change) -> str | None:
    """``out-of-band: changed on the host since the last apply (…)``; None when unclassified."""
    if change.origin is None:
        return None
    last = host.last_apply
    if change.origin is DriftOrigin.PENDING:
        if last is None:
            return "pending: no apply recorded on this host yet"
        return "pending: the policy changed since the last apply"
    if change.origin is DriftOrigin.VENDOR_UPDATE:
        return (
            "vendor update: the image was replaced by another digest of the same repository "
            "outside checkpointctl"
        )
    if change.origin is DriftOrigin.EXPIRED_EXCEPTION:
        note = change.exception
        return "expired exception" + (f": accepted by {_exception(note)}" if note else "")
    if last is None:
        return "out-of-band: changed on the host"
    revision = f", revision {one_line(last.policy_revision)}" if last.policy_revision else ""
    return (
        f"out-of-band: changed on the host since the last apply ({one_line(last.time)} by "
        f"{one_line(last.who)}, {one_line(last.result)}{revision})"
    )


def accepted_text(item: AcceptedDifference) -> str:
    """``container/probe env.MODE: accepted by exception (ops until 2026-12-31: why, file)``."""
    fields = ", ".join(one_line(f) for f in item.fields)
    return (
        f"{one_line(item.address)} {fields}: accepted by exception ({_exception(item.exception)})"
    )


def origin_counts(report: RunReport) -> str | None:
    """``by origin: 1 pending, 1 out-of-band; 2 accepted by exception``, or None."""
    counts = dict.fromkeys(DriftOrigin, 0)
    for host in report.hosts:
        for change in host.changes:
            if change.origin is not None:
                counts[change.origin] += 1
    return origin_text_of(counts, sum(len(h.accepted) for h in report.hosts))


def origin_text_of(counts: Mapping[DriftOrigin, int], accepted: int) -> str | None:
    """:func:`origin_counts`' words for counts already taken (a streamed report's tally)."""
    parts = []
    if any(counts.values()):
        parts.append(
            "by origin: "
            + ", ".join(f"{counts[o]} {o.value}" for o in DriftOrigin if counts.get(o))
        )
    if accepted:
        parts.append(f"{accepted} accepted by exception")
    return "; ".join(parts) if parts else None
