"""Who changed what: the class of a drifted change, accepted differences, the last apply.

``drift`` used to say only "this differs". An operator's next question is whose change it is:
Git's (*pending*: the policy changed and nobody applied it yet), a person's on the host
(*out-of-band*: the host changed since the last apply), the vendor's (*vendor update*: the image
was replaced by another digest of the same repository, as the vendor's auto-updater does), or a
known difference whose exception ran out (*expired exception*). The engine decides the class on
types (fingerprints of the desired state recorded at apply, the image field's repository), never
on message text; reports show it and ``drift --fail-on`` chooses which classes fail CI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class DriftOrigin(StrEnum):
    """Why a change is in the plan."""

    PENDING = "pending"
    """Git changed (the desired state differs from what the last apply converged to), or the
    host was never applied: applying is the expected next step."""
    OUT_OF_BAND = "out-of-band"
    """Git did not change since the last apply, the host did: someone changed it by hand."""
    VENDOR_UPDATE = "vendor-update"
    """A container runs another digest of the same repository, and Git did not ask for it."""
    EXPIRED_EXCEPTION = "expired-exception"
    """An exception accepted this difference, and it has expired."""


@dataclass(frozen=True, slots=True)
class ExceptionNote:
    """An exception from ``spec.exceptions`` as reports show it."""

    resource: str
    field: str
    reason: str
    owner: str
    expires: date
    source: str = ""
    """``file:line:col`` of the exception in its policy."""


@dataclass(frozen=True, slots=True)
class AcceptedDifference:
    """A difference an unexpired exception accepts: not drift, but never hidden from reports."""

    address: str
    fields: tuple[str, ...]
    exception: ExceptionNote


@dataclass(frozen=True, slots=True)
class LastApply:
    """The host's last apply, from its ``last-apply.json``: shown beside out-of-band changes."""

    time: str
    who: str
    result: str
    run: str | None = None
    policy_revision: str | None = None
