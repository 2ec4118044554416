"""Plans and results as plain, typed data.

A plan is what ``drift`` shows and what ``apply`` executes: a list of :class:`Change` per host.
Plans and results are frozen dataclasses with a versioned JSON form (``to_json``), so they can be
printed, stored, compared in tests and rendered by ``report`` without any host. Secrets travel as
:class:`Secret`, which cannot be printed or serialised: redaction is a property of the type, not
a duty of each renderer.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Literal, TypeAlias, TypeVar

from checkpointctl.errors import Location as Location  # re-exported: where a Change came from
from checkpointctl.model.provenance import AcceptedDifference, DriftOrigin, ExceptionNote, LastApply

FORMAT_VERSION = "1.2"
"""1.1 added ``replace_order`` to the changes whose action is ``replace`` and ``command`` to a
host whose run ended on a failing command; 1.2 added ``checked`` (the resource kinds read) to a
host, so a report rebuilt from its JSON (``report merge``) renders as the original did, and
``origin`` and ``exception`` to a drifted change, ``accepted`` and ``last_apply`` to a host and
``fail_on`` to a drift report (who changed what)."""
REDACTED = "<sensitive>"

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None


class Secret:
    """A sensitive value: prints as ``<sensitive>``, compares by digest, reveals only on request.

    Only the writers that put a secret on a host call :meth:`reveal`; a unit test keeps it so.
    """

    __slots__ = ("_value",)

    def __init__(self, value: bytes | str) -> None:
        self._value = value.encode() if isinstance(value, str) else bytes(value)

    def reveal(self) -> bytes:
        """The plaintext. Call only where the value is written to its destination."""
        return self._value

    def digest(self) -> str:
        """``sha256:<hex>`` of the value: what plans and hosts compare, never the value itself."""
        return "sha256:" + hashlib.sha256(self._value).hexdigest()

    def slow_digest(self, salt: bytes) -> str:
        """An scrypt digest (hex) for places other people can read, such as a container label:
        unlike :meth:`digest`, guessing a weak password from it costs real work per guess."""
        return hashlib.scrypt(self._value, salt=salt, n=2**14, r=8, p=1, dklen=32).hex()

    def redact(self, text: str) -> str:
        """``text`` with this value, wherever it appears, replaced by ``<sensitive>``: for text
        that comes from a host (a command's stderr), which may echo what it was given."""
        try:
            value = self._value.decode("utf-8")
        except UnicodeDecodeError:
            return text
        return text.replace(value, REDACTED) if value else text

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self.digest())

    def __reduce__(self) -> str | tuple[object, ...]:  # pickling would bypass redaction
        raise TypeError("Secret values cannot be pickled")


FieldValue: TypeAlias = "JSONValue | Secret"


#: Host inventory fields the operator set (the rest are defaults an ssh_config may fill in).
INVENTORY_FIELDS = ("address", "port", "user", "identity_file", "known_hosts", "connect_timeout")


@dataclass(frozen=True, slots=True)
class SshSettings:
    """A host's SSH settings beyond address, port, user and key.

    ``given`` names the inventory fields (:data:`INVENTORY_FIELDS`) the operator set; the others
    hold defaults, and an ssh_config ``Host`` block may supply them instead, as with ``ssh``.
    None means every field was given (a host built in code, not read from an inventory).
    """

    given: frozenset[str] | None = None
    config_file: str | None = None
    """``-F FILE``; None reads ``~/.ssh/config`` and then ``/etc/ssh/ssh_config``, those that
    exist."""
    options: tuple[tuple[str, str], ...] = ()
    """``-o Key=Value`` options (lower-cased keys), in order; like ssh's command line, they win
    over the config file."""
    jump: tuple[str, ...] = ()
    """``ssh_jump``/``bastion``: jump hosts ``[user@]host[:port]``, outermost first."""
    passphrase_file: str | None = None
    """A file holding the passphrase of an encrypted identity file."""

    def is_given(self, name: str) -> bool:
        return self.given is None or name in self.given


@dataclass(frozen=True, slots=True)
class Become:
    """Privilege escalation with sudo: commands that need root run as ``user`` through it."""

    user: str = "root"
    password: Secret | None = None
    """The sudo password, fed on stdin (never in argv); None for a NOPASSWD rule."""


@dataclass(frozen=True, slots=True)
class Host:
    """One inventory host: where it is, how to reach it, and its variables.

    ``vars`` holds the merged group and host variables (used by templating); it does not take
    part in equality, so hosts compare by identity and address.
    """

    name: str
    address: str
    port: int = 22
    user: str = "root"
    connection: Literal["ssh", "local"] = "ssh"
    groups: frozenset[str] = frozenset()
    identity_file: str | None = None
    known_hosts: str | None = None
    trust_on_first_use: bool = False
    connect_timeout: float = 10.0
    vars: Mapping[str, object] = field(default_factory=dict, compare=False, hash=False)
    ssh: SshSettings = field(default_factory=SshSettings, compare=False, hash=False)
    """ssh_config, ``-o`` options, jump hosts (see :mod:`checkpointctl.model.access`)."""
    become: Become | None = field(default=None, compare=False, hash=False)
    """Escalate with sudo for commands that need root; None: the login user runs them."""
    refused: str | None = field(default=None, compare=False, hash=False)
    """Why checkpointctl cannot manage this host (``os: windows``), with where the inventory
    says so; None for a host it manages. A refused host is reported as refused by every verb
    that would reach it, without a connection; the other hosts go on."""


class ReplaceOrder(StrEnum):
    """Which goes first when a resource is replaced: the new one or the old one."""

    CREATE_FIRST = "create-first"
    """The new one runs before the old one goes (Terraform's create_before_destroy)."""
    DESTROY_FIRST = "destroy-first"
    """The old one goes first, then the new one is made (they cannot run side by side)."""


class Action(StrEnum):
    """What a change does. The two replacements differ in what runs while they happen, so a
    plan says which one it is; the JSON form keeps ``"replace"`` as the action and adds the
    :class:`ReplaceOrder` beside it (see :attr:`name_in_report`)."""

    NOOP = "no-op"
    CREATE = "create"
    UPDATE = "update"
    REPLACE_CREATE_FIRST = "replace-create-first"
    REPLACE_DESTROY_FIRST = "replace-destroy-first"
    DELETE = "delete"

    @property
    def replace_order(self) -> ReplaceOrder | None:
        """For a replacement, which goes first; None for every other action."""
        if self is Action.REPLACE_CREATE_FIRST:
            return ReplaceOrder.CREATE_FIRST
        if self is Action.REPLACE_DESTROY_FIRST:
            return ReplaceOrder.DESTROY_FIRST
        return None

    @property
    def is_replace(self) -> bool:
        return self.replace_order is not None

    @property
    def name_in_report(self) -> str:
        """The action as reports name it: both replacements are ``replace``."""
        return "replace" if self.is_replace else self.value

    @property
    def symbol(self) -> str:
        """Terraform's symbols: ``+/-`` creates the new one first, ``-/+`` destroys first."""
        return {
            Action.NOOP: " ",
            Action.CREATE: "+",
            Action.UPDATE: "~",
            Action.REPLACE_CREATE_FIRST: "+/-",
            Action.REPLACE_DESTROY_FIRST: "-/+",
            Action.DELETE: "-",
        }[self]

    @property
    def verb(self) -> str:
        return {
            Action.NOOP: "left unchanged",
            Action.CREATE: "created",
            Action.UPDATE: "updated in-place",
            Action.REPLACE_CREATE_FIRST: "replaced",
            Action.REPLACE_DESTROY_FIRST: "replaced",
            Action.DELETE: "deleted",
        }[self]


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs: ``before`` is the actual value, ``after`` the desired one.

    ``None`` on one side means the field is absent there. Secrets stay :class:`Secret` and are
    rendered as ``<sensitive>`` everywhere.
    """

    path: str
    before: FieldValue
    after: FieldValue


@dataclass(frozen=True, slots=True)
class Change:
    """One address on one host that must change.

    ``address`` is ``kind/name`` (``collection/probe``, ``firewall/checkpointctl``...).
    ``reason`` and ``source`` are for people; apply must never branch on them. What apply
    converges to travels beside the change, typed, in :class:`Planned`.
    """

    address: str
    action: Action
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""
    source: Location | None = None
    origin: DriftOrigin | None = None
    """Who changed what (drift and check only): None when not classified."""
    exception: ExceptionNote | None = None
    """The expired exception that accepted this difference (origin ``expired-exception``)."""

    @property
    def kind(self) -> str:
        return self.address.split("/", 1)[0]


DesiredT = TypeVar("DesiredT")


@dataclass(frozen=True, slots=True)
class Planned(Generic[DesiredT]):
    """A change as its resource planned it: the plain :class:`Change` that reports render, and
    the typed object apply converges to (a container target, a file's wanted content...).

    ``desired`` is for the resource's own ``apply`` only: it is not serialised and does not take
    part in equality, so two plans compare by what they would change. The properties read
    through to the change, so a plan reads like a list of changes.
    """

    change: Change
    desired: DesiredT = field(repr=False, compare=False)

    @property
    def address(self) -> str:
        return self.change.address

    @property
    def action(self) -> Action:
        return self.change.action

    @property
    def fields(self) -> tuple[FieldChange, ...]:
        return self.change.fields

    @property
    def reason(self) -> str:
        return self.change.reason

    @property
    def source(self) -> Location | None:
        return self.change.source

    @property
    def kind(self) -> str:
        return self.change.kind


@dataclass(frozen=True, slots=True)
class Finding:
    """Something on a host worth a person's attention that the tool will not change.

    Example: a container not managed by checkpointctl that publishes a port. Findings never
    make drift fail on their own unless ``severity`` is ``error`` (then drift exits 2).
    """

    address: str
    message: str
    severity: Literal["info", "warning", "error"] = "warning"


@dataclass(frozen=True, slots=True)
class DataCollection:
    """What one container's checkpoint may send off-site, as the host's policies set it.

    Reports carry it so an auditor can answer "which hosts send screenshots?" from the report
    alone (the privacy view of the HTML report); the engine copies it from the desired state.
    """

    container: str
    profile: str
    settings: tuple[tuple[str, bool], ...] = ()


class FailureReason(StrEnum):
    """Why a host did not end converged or in sync: what the engine decides on (halting a
    rollout, the severity of a note), beside the ``error`` text that is for people."""

    UNREACHABLE = "unreachable"
    """The connection failed, or broke before any change."""
    LOCK_BUSY = "lock-busy"
    """Another controller holds the host's lock."""
    LOCK_FAILED = "lock-failed"
    """The lock could not be taken for another reason (no spawn support, ``flock`` failed)."""
    PLAN_FAILED = "plan-failed"
    """Reading or planning the host failed before any change."""
    APPLY_FAILED = "apply-failed"
    """A change failed while it was applied."""
    CONVERGENCE = "convergence"
    """Every change applied, but the host did not read back as desired."""
    GATE_FAILED = "gate-failed"
    """The host converged, but its checkpoint containers do not run healthy (health gate)."""
    HALTED = "halted"
    """The rollout halted before this host's batch (the host is not attempted)."""
    INTERNAL = "internal"
    """A bug: an exception no resource or transport should raise."""
    REFUSED = "refused"
    """The inventory describes a host checkpointctl cannot manage (``Host.refused``)."""


class HostStatus(StrEnum):
    """Where a host ended up in a run."""

    IN_SYNC = "in-sync"
    DRIFT = "drift"
    CONVERGED = "converged"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    NOT_ATTEMPTED = "not-attempted"


@dataclass(frozen=True, slots=True)
class CommandFailure:
    """A command that failed on a reachable host: what the host's result says of it.

    ``stderr`` is the tail of its stderr with the desired state's secrets redacted.
    """

    command: str
    exit_status: int
    stderr: str


@dataclass(frozen=True, slots=True)
class HostResult:
    """Everything one run learned and did on one host.

    ``changes`` is the plan computed from fresh reads; ``applied`` the addresses that were
    applied (in order); ``failed`` the address whose apply failed, if any.
    """

    host: str
    status: HostStatus
    changes: tuple[Change, ...] = ()
    applied: tuple[str, ...] = ()
    failed: str | None = None
    error: str | None = None
    findings: tuple[Finding, ...] = ()
    seconds: float = 0.0
    failure: FailureReason | None = None
    """Why the host failed, typed, for the decisions ``error`` (for people) must not drive;
    None when it did not fail. Not serialised (the JSON keeps ``status`` and ``error``)."""
    checked: tuple[str, ...] = ()
    """Resource kinds read on this host (in apply order), so reports can show the ones in sync
    too (a JUnit testcase per host × resource); empty when unknown. Serialised since 1.2, only
    when not empty."""
    command: CommandFailure | None = None
    """The command whose failure failed the host, if that is what did."""
    accepted: tuple[AcceptedDifference, ...] = ()
    """Differences an unexpired ``spec.exceptions`` entry accepts (not in ``changes``)."""
    last_apply: LastApply | None = None
    """The host's last apply record, when drift read it (to show beside out-of-band changes)."""
    location: str | None = None
    """Where the host stands (its inventory ``location`` variable, else ``region``), so
    reports can group hosts by site; None when the inventory says nothing."""
    data_collection: tuple[DataCollection, ...] = ()
    """The data-collection switches the policies set on this host, per container."""

    @property
    def in_sync(self) -> bool:
        return not self.changes


RunMode = Literal["drift", "apply", "check"]


@dataclass(frozen=True, slots=True)
class RunReport:
    """The result of ``drift`` or ``apply`` over a fleet; it alone decides the exit code."""

    mode: RunMode
    hosts: tuple[HostResult, ...]
    halted: str | None = None
    format_version: str = FORMAT_VERSION
    fail_on: frozenset[DriftOrigin] | None = None
    """``drift --fail-on``: the classes of change that make drift exit 2 (None: every change)."""

    def fails(self, change: Change) -> bool:
        """Whether ``change`` counts for the exit code (an unclassified change always does)."""
        return self.fail_on is None or change.origin is None or change.origin in self.fail_on

    @property
    def exit_code(self) -> int:
        """DESIGN.md contract: drift/check 0 in sync, 2 drift, 1 error; apply 0 ok, 1 failure."""
        bad = {HostStatus.FAILED, HostStatus.UNREACHABLE}
        if any(h.status in bad for h in self.hosts) or self.halted:
            return 1
        if self.mode in ("drift", "check") and any(
            any(self.fails(c) for c in h.changes) or any(f.severity == "error" for f in h.findings)
            for h in self.hosts
        ):
            return 2
        return 0

    def counts(self) -> Mapping[str, int]:
        """How many hosts ended in each status (for summaries)."""
        out: dict[str, int] = {}
        for h in self.hosts:
            out[h.status.value] = out.get(h.status.value, 0) + 1
        return out


def value_to_json(value: FieldValue) -> JSONValue:
    """The JSON form of a field value; a secret is only ever its redaction marker."""
    if isinstance(value, Secret):
        return REDACTED
    return value


def change_to_json(change: Change) -> dict[str, JSONValue]:
    """The stable JSON form of a change: a replacement is ``"action": "replace"`` with its
    ``replace_order`` beside it (since format 1.1), so consumers of 1.0 read it unchanged."""
    out: dict[str, JSONValue] = {
        "address": change.address,
        "action": change.action.name_in_report,
        "reason": change.reason,
        "source": str(change.source) if change.source else None,
        "fields": [
            {"path": f.path, "before": value_to_json(f.before), "after": value_to_json(f.after)}
            for f in change.fields
        ],
    }
    order = change.action.replace_order
    if order is not None:
        out["replace_order"] = order.value
    if change.origin is not None:
        out["origin"] = change.origin.value
    if change.exception is not None:
        out["exception"] = exception_to_json(change.exception)
    return out


def exception_to_json(note: ExceptionNote) -> dict[str, JSONValue]:
    return {
        "resource": note.resource,
        "field": note.field,
        "reason": note.reason,
        "owner": note.owner,
        "expires": note.expires.isoformat(),
        "source": note.source or None,
    }


def last_apply_to_json(record: LastApply) -> dict[str, JSONValue]:
    return {
        "time": record.time,
        "who": record.who,
        "result": record.result,
        "run": record.run,
        "policy_revision": record.policy_revision,
    }


def host_to_json(result: HostResult) -> dict[str, JSONValue]:
    """The stable JSON form of one host's result (``command`` only when a command failed)."""
    doc: dict[str, JSONValue] = {
        "host": result.host,
        "status": result.status.value,
        "changes": [change_to_json(c) for c in result.changes],
        "applied": list(result.applied),
        "failed": result.failed,
        "error": result.error,
        "findings": [
            {"address": f.address, "message": f.message, "severity": f.severity}
            for f in result.findings
        ],
        "seconds": round(result.seconds, 3),
    }
    if result.checked:
        doc["checked"] = list(result.checked)
    if result.command is not None:
        doc["command"] = {
            "command": result.command.command,
            "exit_status": result.command.exit_status,
            "stderr": result.command.stderr,
        }
    if result.accepted:
        doc["accepted"] = [
            {
                "address": a.address,
                "fields": list(a.fields),
                "exception": exception_to_json(a.exception),
            }
            for a in result.accepted
        ]
    if result.last_apply is not None:
        doc["last_apply"] = last_apply_to_json(result.last_apply)
    # optional: left out when unknown, so reports without them keep their exact bytes
    if result.location is not None:
        doc["location"] = result.location
    if result.data_collection:
        doc["data_collection"] = [data_collection_to_json(c) for c in result.data_collection]
    return doc


def data_collection_to_json(c: DataCollection) -> dict[str, JSONValue]:
    """One container's data-collection switches as run and status reports write them."""
    return {"container": c.container, "profile": c.profile, "settings": dict(c.settings)}


def report_to_json(report: RunReport) -> dict[str, JSONValue]:
    """The versioned JSON form of a run (minor versions add fields, major versions break)."""
    doc: dict[str, JSONValue] = {
        "format_version": report.format_version,
        "mode": report.mode,
        "exit_code": report.exit_code,
        "halted": report.halted,
        "summary": dict(report.counts()),
        "hosts": [host_to_json(h) for h in report.hosts],
    }
    if report.fail_on is not None:
        doc["fail_on"] = [o.value for o in DriftOrigin if o in report.fail_on]
    return doc
