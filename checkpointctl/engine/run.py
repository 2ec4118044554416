"""Plans and converges hosts: read, diff, (apply, re-read, verify), per host, many at once.

``drift`` is ``apply`` without the apply step: one code path computes every plan, so no resource
can lack a dry run. Each host gets one connection and fresh reads; after applying, every changed
resource is read and diffed again, and a non-empty diff is a failure (the tool never claims a
change it did not make). The engine never prints: it reports to an :class:`Observer` and returns
a :class:`~checkpointctl.model.RunReport`.

``apply`` adds, per host and over the same connection: the host lock (a second controller waits
or fails with who holds it; a dead holder's lock is taken over with a note), the health gate
(the host's checkpoint containers must run, be healthy and, where they declare one, answer
their agent's health signal; a host that fails it is put back on its previous images at once),
a record of the run in the host's
state dir and a line in the audit logs. Across the fleet it moves in batches (canary, serial),
halts on a failed canary, on ``--max-fail`` or on a failed health gate, reports the hosts it did
not reach as not attempted, and with ``--rollback-on-fail`` also puts the converged hosts of
the halted batch back on their previous image.

Memory stays flat as the fleet grows: a host's actual state lives only while its worker plans
it, and what is kept per host is its small :class:`~checkpointctl.model.HostResult`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from checkpointctl.engine import audit as audit_mod
from checkpointctl.engine.context import with_context
from checkpointctl.engine.fanout import DEFAULT_FORKS, FanOut
from checkpointctl.engine.lock import (
    HostLock,
    LockBusyError,
    LockNote,
    LockNoteKind,
    LockOwner,
    LockPaths,
    acquire,
)
from checkpointctl.engine.provenance import accepted_in_full, classify_on_host, fingerprints
from checkpointctl.engine.updates import held_findings, image_hold, replaces_image
from checkpointctl.engine.waivers import waiver_findings
from checkpointctl.errors import (
    CheckpointctlError,
    CommandFailed,
    ConvergenceError,
    LockError,
    TransportError,
)
from checkpointctl.model import (
    REDACTED,
    Change,
    CommandFailure,
    FailureReason,
    Finding,
    Host,
    HostResult,
    HostStatus,
    JSONValue,
    RunMode,
    RunReport,
    Secret,
    change_to_json,
)
from checkpointctl.model.locations import by_location, has_locations, min_healthy_of
from checkpointctl.model.provenance import DriftOrigin
from checkpointctl.resources.base import AnyResource, KindPlan
from checkpointctl.resources.batched import read_all
from checkpointctl.resources.paths import is_repair
from checkpointctl.spec import STATE_DIR, DesiredState, state_to_data
from checkpointctl.transport.base import Transport

Connect = Callable[[Host], Transport]
BAD = frozenset({HostStatus.FAILED, HostStatus.UNREACHABLE})
GATE_PREFIX = "health gate: "
LOCK_ADDRESS = "lock"


class Observer(Protocol):
    """Progress callbacks (called from worker threads; implementations must be thread-safe)."""

    def host_started(self, host: str) -> None: ...

    def host_done(self, result: HostResult) -> None: ...

    def batch_started(self, index: int, hosts: Sequence[str]) -> None: ...


class NullObserver:
    """Observes nothing: for tests, pipes and library use."""

    def host_started(self, host: str) -> None:
        return None

    def host_done(self, result: HostResult) -> None:
        return None

    def batch_started(self, index: int, hosts: Sequence[str]) -> None:
        return None


def default_resources(*, pull_mode: bool = False) -> tuple[AnyResource, ...]:
    """Every resource kind, in the fixed apply order: managed paths, firewall, credentials,
    secret files, collection, networks and volumes to create, containers, networks and volumes
    to remove (once no orphan container uses them), then the auto-updater report. Each prefix
    of that order is a safe state (the managed directories made safe to write below before
    anything is written there, the firewall next, containers last so they start with their
    files in place).
    ``pull_mode``: the host converges itself (the agent), so the firewall needs no management
    access for a controller."""
    from checkpointctl.resources.collection.resource import CollectionResource
    from checkpointctl.resources.containers.objects import Phase, objects_of
    from checkpointctl.resources.containers.resource import ContainersResource
    from checkpointctl.resources.credentials.files import SecretFilesResource
    from checkpointctl.resources.credentials.resource import CredentialsResource
    from checkpointctl.resources.firewall.resource import FirewallResource
    from checkpointctl.resources.paths import PathsResource
    from checkpointctl.resources.updaters import AutoUpdatersResource

    return (
        PathsResource(),
        FirewallResource(pull_mode=pull_mode),
        CredentialsResource(),
        SecretFilesResource(),
        CollectionResource(),
        *objects_of(Phase.CREATE),
        ContainersResource(),
        *objects_of(Phase.REMOVE),
        AutoUpdatersResource(),
    )


@dataclass(frozen=True)
class Rollout:
    """How ``apply`` moves through a fleet. ``serial`` is a host count or a ``"N%"`` string."""

    canary: int = 0
    serial: int | str | None = None
    max_fail: float | None = None
    """Fraction of finished hosts that may fail before the rollout halts (0.1 = 10 %)."""
    rollback_on_fail: bool = False
    """When a batch halts the rollout, put its converged hosts back on their previous image."""


@dataclass(frozen=True)
class ApplyOptions:
    """What ``apply`` does around each host besides converging it (defaults suit a library)."""

    lock_wait: float = 0.0
    """Seconds to wait for another controller's lock on a host; 0 fails at once."""
    owner: LockOwner | None = None
    """Who this controller is, for the lock and the audit log (default: this process)."""
    audit: audit_mod.AuditContext | None = None
    """Run-wide audit data (default: who = the owner, no policy revision)."""
    audit_log: audit_mod.LocalAuditLog | None = field(default=None, compare=False)
    """The controller's audit log; None keeps only the hosts' copies."""
    health_gate: bool = True
    state_dir: str = STATE_DIR
    """Where on each host the lock, its owner, ``last-apply.json`` and ``audit.jsonl`` live."""
    today: date | None = None
    """The day ``spec.exceptions`` are judged on (drift ``--at``); None: today."""
    allow_image_updates: bool = False
    """``apply --allow-image-updates``: replace images whatever ``updates.*`` say."""
    now: datetime | None = None
    """The instant ``updates.window`` is judged at; None: the clock."""
    fail_on: frozenset[DriftOrigin] | None = None
    """``drift --fail-on``: the classes of change that make a drift report exit 2 (None: every
    change); one-shot drift and every ``--watch`` cycle are judged by this one setting."""

    @property
    def lock_paths(self) -> LockPaths:
        return LockPaths.under(self.state_dir)

    def resolved_owner(self) -> LockOwner:
        from checkpointctl.engine.lock import current_owner

        return self.owner or current_owner()

    def resolved_audit(self, owner: LockOwner) -> audit_mod.AuditContext:
        return self.audit or audit_mod.AuditContext(who=owner.who, revision=None)


def batches(hosts: Sequence[str], rollout: Rollout) -> list[list[str]]:
    """Split hosts into the canary batch and then serial batches (pure)."""
    remaining = list(hosts)
    out: list[list[str]] = []
    if rollout.canary > 0:
        out.append(remaining[: rollout.canary])
        remaining = remaining[rollout.canary :]
    size: int
    if rollout.serial is None:
        size = len(remaining) or 1
    elif isinstance(rollout.serial, str) and rollout.serial.endswith("%"):
        pct = float(rollout.serial[:-1])
        size = max(1, math.ceil(len(hosts) * pct / 100))
    else:
        size = max(1, int(rollout.serial))
    for i in range(0, len(remaining), size):
        out.append(remaining[i : i + size])
    return [b for b in out if b]


def gate_failed(result: HostResult) -> bool:
    """Whether this host failed the health gate (rather than failing to converge)."""
    return result.status is HostStatus.FAILED and result.failure is FailureReason.GATE_FAILED


def halt_reason(
    rollout: Rollout,
    index: int,
    batch: Sequence[HostResult],
    finished: Sequence[HostResult],
) -> str | None:
    """Why the rollout must stop after batch ``index``, or None to go on (pure).

    In order: a host of this batch failed its health gate; the canary batch had a failure;
    failures among all finished hosts exceed ``max_fail``.
    """
    gated = [r for r in batch if gate_failed(r)]
    if gated:
        first = (gated[0].error or "").removeprefix(GATE_PREFIX)
        names = ", ".join(r.host for r in gated)
        return f"health gate failed after batch {index + 1} on {names} ({first})"
    if index == 0 and rollout.canary:
        failed = [r.host for r in batch if r.status in BAD]
        if failed:
            return f"canary failed on {', '.join(failed)}"
    if rollout.max_fail is not None and finished:
        bad = sum(r.status in BAD for r in finished)
        if bad / len(finished) > rollout.max_fail:
            return (
                f"{bad} of {len(finished)} hosts failed, over the --max-fail of "
                f"{rollout.max_fail:.0%}"
            )
    return None


def _plan(
    transport: Transport, desired: DesiredState, resources: Sequence[AnyResource]
) -> list[KindPlan]:
    # one round trip for every resource's reads (see resources.batched); each step drops its
    # actual state once planned: only the plan outlives the read, memory stays per host
    plans = [step.plan() for step in read_all(transport, desired, resources)]
    # one change per address: a resource whose read was refused plans the same repair of an
    # unsafe directory as the paths resource before it
    seen: set[str] = set()
    out = []
    for kind_plan in plans:
        kept = tuple(c for c in kind_plan.changes if c.change.address not in seen)
        seen.update(c.change.address for c in kept)
        out.append(dataclasses.replace(kind_plan, changes=kept))
    return out


def record_doc(
    result: HostResult,
    desired: DesiredState,
    ctx: audit_mod.AuditContext,
    *,
    action: str = "apply",
    when: datetime | None = None,
) -> dict[str, JSONValue]:
    """What ``last-apply.json`` holds: when, by whom, from what, and how it ended (pure; no
    secrets, changes are serialised with redaction)."""
    applied: list[JSONValue] = [
        change_to_json(c) for c in result.changes if c.address in result.applied
    ]
    policies: list[JSONValue] = list(desired.policies)
    return {
        "time": (when or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
        "action": action,
        "result": result.status.value,
        "error": result.error,
        "who": ctx.who,
        "run": ctx.run_id,
        "policy_revision": ctx.revision,
        "policies": policies,
        "applied": applied,
        "desired": fingerprints(desired),
    }


def _record_content(
    desired: DesiredState,
    result: HostResult,
    ctx: audit_mod.AuditContext,
    action: str,
) -> bytes:
    """The host's last-apply record: when it was last converged, by whom, to what, and how it
    ended."""
    doc = record_doc(result, desired, ctx, action=action)
    return (json.dumps(doc, sort_keys=True) + "\n").encode()  # one line: the lock's shell reads it


@dataclass
class _Run:
    """One host's run in progress: what is known so far, turned into a result at the end."""

    host: str
    started: float = field(default_factory=time.monotonic)
    changes: tuple[Change, ...] = ()
    applied: list[Change] = field(default_factory=list)
    current: Change | None = None
    findings: list[Finding] = field(default_factory=list)
    checked: tuple[str, ...] = ()

    def result(
        self,
        status: HostStatus,
        error: str | None = None,
        failure: FailureReason | None = None,
    ) -> HostResult:
        return HostResult(
            host=self.host,
            status=status,
            changes=self.changes,
            applied=tuple(c.address for c in self.applied),
            failed=self.current.address if self.current else None,
            error=error,
            findings=tuple(self.findings),
            seconds=time.monotonic() - self.started,
            checked=self.checked,
            failure=failure,
        )


def _converge(
    run: _Run,
    transport: Transport,
    desired: DesiredState,
    mode: RunMode,
    resources: Sequence[AnyResource],
    hold: str | None = None,
    today: date | None = None,
) -> HostResult:
    """Plan, and in apply mode apply and verify, over an open (and locked) connection.

    With ``hold`` (see :mod:`engine.updates`), container changes that replace an image are
    left alone, said so in a finding, and not expected to have converged."""
    plan = _plan(transport, desired, resources)
    run.checked = tuple(dict.fromkeys(k.kind for k in plan))  # a kind may plan in two phases
    run.changes = tuple(c for k in plan for c in k.plain)
    run.findings.extend(f for k in plan for f in k.findings)
    run.findings.extend(waiver_findings(desired))
    if mode != "apply":
        return run.result(HostStatus.DRIFT if run.changes else HostStatus.IN_SYNC)
    if not run.changes:
        return run.result(HostStatus.IN_SYNC)
    day = today or datetime.now(UTC).date()

    def waiting_of(changes: Sequence[Change]) -> set[str]:
        """Addresses left alone this run: image swaps held for the window or a manual
        strategy, and differences that exceptions accept in full (each said as a finding)."""
        held = [c for c in changes if hold and replaces_image(c)]
        if hold and held:
            run.findings.extend(f for f in held_findings(held, hold) if f not in run.findings)
        accepted = accepted_in_full(changes, desired.exceptions, day)
        note = "left alone: spec.exceptions accept this difference"
        run.findings.extend(
            f for f in (Finding(c.address, note, "info") for c in accepted) if f not in run.findings
        )
        return {c.address for c in held} | {c.address for c in accepted}

    waiting = waiting_of(run.changes)
    changed: set[str] = set()
    for attempt in range(2):
        repaired = False
        for kind_plan in plan:
            if kind_plan.changes:
                changed.add(kind_plan.kind)
            for bound in kind_plan.changes:
                if bound.change.address in waiting:
                    continue
                run.current = bound.change
                bound.apply(transport)
                run.applied.append(bound.change)
                repaired = repaired or is_repair(bound.change)
            if repaired:
                break  # what comes next was planned from a read refused before the repair
        run.current = None
        if not repaired or attempt:
            break
        # read again below the repaired directories, and apply what that plans
        plan = _plan(transport, desired, resources)
        run.changes = (*run.applied, *(c for k in plan for c in k.plain))
        run.findings.extend(f for k in plan for f in k.findings if f not in run.findings)
        waiting = waiting_of([c for k in plan for c in k.plain])
    touched = [r for r in resources if r.kind in changed]
    left = [
        c for k in _plan(transport, desired, touched) for c in k.plain if c.address not in waiting
    ]
    if left:
        detail = "; ".join(
            f"{c.address} ({', '.join(f.path for f in c.fields) or c.action.name_in_report})"
            for c in left
        )
        raise ConvergenceError(f"did not converge after apply: {detail}")
    return run.result(HostStatus.CONVERGED)


def lock_findings(notes: Sequence[LockNote]) -> list[Finding]:
    """The lock's notes as findings: taking over a stale lock is a warning, a wait is info."""
    return [
        Finding(LOCK_ADDRESS, n.text, "warning" if n.kind is LockNoteKind.STALE else "info")
        for n in notes
    ]


def command_failure(exc: CommandFailed, desired: DesiredState) -> CommandFailure:
    """What a host's result says of a command that failed on it: the command, its exit status
    and the tail of its stderr, with any of the desired state's secrets the command echoed
    redacted."""
    found: list[Secret] = []

    def collect(secret: Secret) -> str:
        found.append(secret)
        return REDACTED

    state_to_data(desired, collect)
    stderr = exc.stderr_tail
    for secret in found:
        stderr = secret.redact(stderr)
    return CommandFailure(exc.command, exc.rc, stderr)


def failure_reason(exc: BaseException, applying: bool) -> tuple[HostStatus, FailureReason]:
    """How a host's run that raised ``exc`` ends, typed (pure): the status and the reason the
    engine decides on. ``applying``: whether any change had started."""
    if isinstance(exc, TransportError):
        # the connection failing before any change is "unreachable"; a write refused while
        # applying (a read-only file system, a full disk) is the apply failing
        if applying:
            return HostStatus.FAILED, FailureReason.APPLY_FAILED
        return HostStatus.UNREACHABLE, FailureReason.UNREACHABLE
    if isinstance(exc, LockBusyError):
        return HostStatus.FAILED, FailureReason.LOCK_BUSY
    if isinstance(exc, LockError):
        return HostStatus.FAILED, FailureReason.LOCK_FAILED
    if isinstance(exc, ConvergenceError):
        return HostStatus.FAILED, FailureReason.CONVERGENCE
    if isinstance(exc, CheckpointctlError):
        why = FailureReason.APPLY_FAILED if applying else FailureReason.PLAN_FAILED
        return HostStatus.FAILED, why
    return HostStatus.FAILED, FailureReason.INTERNAL


def _failure(run: _Run, exc: BaseException, desired: DesiredState) -> HostResult:
    status, reason = failure_reason(exc, bool(run.applied) or run.current is not None)
    if isinstance(exc, CommandFailed):
        # the host answered: a command failing there is the host failing, never unreachable
        failure = command_failure(exc, desired)
        shown = CommandFailed(exc.host, exc.argv, failure.exit_status, failure.stderr)
        return dataclasses.replace(run.result(status, shown.diagnostics(), reason), command=failure)
    if isinstance(exc, CheckpointctlError):
        return run.result(status, exc.diagnostics(), reason)
    # a bug in a resource must not take the fleet down with it
    return run.result(status, f"internal error: {type(exc).__name__}: {exc}", reason)


def _gate(transport: Transport, desired: DesiredState, result: HostResult) -> HostResult:
    """Fail a host whose checkpoint containers do not run healthy after its apply."""
    from checkpointctl.engine.health import check_gate  # apply's only: a drift never loads it

    if result.status not in (HostStatus.CONVERGED, HostStatus.IN_SYNC) or not desired.containers:
        return result
    try:
        problems = check_gate(transport, desired)
    except CheckpointctlError as exc:
        problems = [f"cannot read container health: {exc}"]
    if not problems:
        return result
    return dataclasses.replace(
        result,
        status=HostStatus.FAILED,
        error=GATE_PREFIX + "; ".join(problems),
        failure=FailureReason.GATE_FAILED,
    )


def _finish_on_host(
    lock: HostLock,
    desired: DesiredState,
    result: HostResult,
    ctx: audit_mod.AuditContext,
    line: bytes,
    action: str,
) -> HostResult:
    """Under the lock, by the lock's own shell: the host's last-apply record and audit line, and
    the lock's release in the same exchange. A failure to write them does not undo the apply;
    it is reported as a finding."""
    try:
        record = _record_content(desired, result, ctx, action)
        problems = lock.write_records(record, line, release=True)
    except (CheckpointctlError, ValueError) as exc:  # ValueError: a record of several lines
        problems = [f"could not write the host's last-apply record and audit line: {exc}"]
    if not problems:
        return result
    found = tuple(Finding("audit", p) for p in problems)
    return dataclasses.replace(result, findings=result.findings + found)


def _host_run(
    host: Host,
    desired: DesiredState,
    connect: Connect,
    mode: RunMode,
    resources: Sequence[AnyResource],
    options: ApplyOptions,
    owner: LockOwner,
    ctx: audit_mod.AuditContext,
    action: str = "apply",
) -> HostResult:
    """One host, start to end: connect, (lock), plan/apply/verify, (gate, record, audit),
    release, close. Never raises."""
    run = _Run(host.name)
    notes: list[LockNote] = []
    if host.refused is not None:  # a host checkpointctl cannot manage: no connection at all
        return run.result(HostStatus.FAILED, f"refused: {host.refused}", FailureReason.REFUSED)
    try:
        transport = connect(host)
    except CheckpointctlError as exc:
        result = run.result(HostStatus.UNREACHABLE, exc.diagnostics(), FailureReason.UNREACHABLE)
        _audit_local(options, ctx, result, desired, action, notes)
        return result
    lock: HostLock | None = None
    try:
        try:
            if mode == "apply":
                lock = acquire(transport, owner, wait=options.lock_wait, paths=options.lock_paths)
                lock.lend_shell()  # reads, changes and checks run in the held shell
                notes.extend(lock.notes)
                run.findings.extend(lock_findings(lock.notes))
            hold = None
            if action == "apply":
                at = options.now or datetime.now(UTC)
                hold = image_hold(desired, at, allowed=options.allow_image_updates)
            result = _converge(run, transport, desired, mode, resources, hold, options.today)
            if mode != "apply":
                today = options.today or datetime.now(UTC).date()
                record = options.lock_paths.record
                result = classify_on_host(result, transport, desired, record, today)
        except Exception as exc:
            result = _failure(run, exc, desired)
        line = None
        if lock is not None:
            if options.health_gate:
                result = _gate(transport, desired, result)
            line = _audit_line(ctx, result, desired, action, notes)
            result = _finish_on_host(lock, desired, result, ctx, line, action)
        _audit_local(options, ctx, result, desired, action, notes, line)
        return result
    finally:
        # releasing or closing a broken connection may fail too; there is nothing left to do
        if lock is not None:
            with contextlib.suppress(Exception):
                lock.release()
        with contextlib.suppress(Exception):
            transport.close()


def _audit_line(
    ctx: audit_mod.AuditContext,
    result: HostResult,
    desired: DesiredState | None,
    action: str,
    notes: Sequence[LockNote],
) -> bytes:
    policies = desired.policies if desired else ()
    texts = [n.text for n in notes]
    record = audit_mod.audit_record(ctx, result, policies=policies, action=action, notes=texts)
    return audit_mod.audit_line(record)


def _audit_local(
    options: ApplyOptions,
    ctx: audit_mod.AuditContext,
    result: HostResult,
    desired: DesiredState | None,
    action: str,
    notes: Sequence[LockNote] = (),
    line: bytes | None = None,
) -> None:
    """The controller's copy of a host's audit line: the very line the host got, when it got
    one; drift and check are not audited (they change nothing)."""
    if options.audit_log is None or action == "drift":
        return
    options.audit_log.append(line or _audit_line(ctx, result, desired, action, notes))


def converge_host(
    host: Host,
    desired: DesiredState,
    connect: Connect,
    mode: RunMode,
    resources: Sequence[AnyResource],
    *,
    options: ApplyOptions | None = None,
) -> HostResult:
    """Plan one host and, in apply mode, lock, converge, verify, gate and record it.

    Never raises: every failure becomes the host's status and error.
    """
    opts = options or ApplyOptions()
    owner = opts.resolved_owner()
    ctx = opts.resolved_audit(owner)
    action = "apply" if mode == "apply" else "drift"
    return _host_run(host, desired, connect, mode, resources, opts, owner, ctx, action)


def _rollback(
    host: Host,
    desired: DesiredState,
    result: HostResult,
    connect: Connect,
    resources: Sequence[AnyResource],
    opts: ApplyOptions,
    owner: LockOwner,
    ctx: audit_mod.AuditContext,
    why: str,
) -> HostResult:
    """Put ``host`` back on the images its containers ran before this rollout (``why``: the
    words its findings give for it)."""
    from checkpointctl.engine.rollback import (
        CONTAINER_KIND,
        OnlyAddresses,
        previous_images,
        rollback_findings,
        rollback_state,
    )

    previous = previous_images([c for c in result.changes if c.address in result.applied])
    containers = next((r for r in resources if r.kind == CONTAINER_KIND), None)
    if not previous or containers is None:
        return result
    only = OnlyAddresses(containers, frozenset(f"{CONTAINER_KIND}/{n}" for n in previous))
    back = _host_run(
        host,
        rollback_state(desired, previous),
        connect,
        "apply",
        [only],
        opts,
        owner,
        ctx,
        "rollback",
    )
    found = rollback_findings(previous, back.status.value, back.error, why)
    return dataclasses.replace(result, findings=result.findings + tuple(found))


def _check_location_rollout(rollout: Rollout) -> None:
    """With locations, hosts go one at a time per location: batch options have no meaning
    there, and an option that cannot be honoured is refused, never dropped."""
    given = [
        name
        for name, used in (
            ("--serial", rollout.serial is not None),
            ("--canary N above 1", rollout.canary > 1),
            ("--max-fail", rollout.max_fail is not None),
        )
        if used
    ]
    if given:
        raise CheckpointctlError(
            f"{', '.join(given)}: the hosts have locations, so apply goes one host at a time "
            "per location (the first is its canary) and stops a location at its first failure"
        )


def _roll_locations(
    todo: Sequence[Host],
    states: Mapping[str, DesiredState],
    connect: Connect,
    kinds: Sequence[AnyResource],
    opts: ApplyOptions,
    owner: LockOwner,
    ctx: audit_mod.AuditContext,
    work: Callable[[str], HostResult],
    roll_back: Callable[[str], None],
) -> list[str]:
    """Apply by location (see :mod:`engine.location_rollout`): the lanes' stop reasons."""
    from checkpointctl.engine.health import healthy_now
    from checkpointctl.engine.location_rollout import Lane, run_lanes

    by_name = {h.name: h for h in todo}

    def plan_of(name: str) -> Sequence[Change]:
        check = _host_run(by_name[name], states[name], connect, "check", kinds, opts, owner, ctx,
                          "drift")  # fmt: skip
        return check.changes

    def healthy(name: str) -> bool:
        try:
            transport = connect(by_name[name])
        except CheckpointctlError:
            return False
        try:
            return healthy_now(transport, states[name])
        except CheckpointctlError:
            return False
        finally:
            with contextlib.suppress(Exception):
                transport.close()

    lanes = [
        Lane(location, tuple(h.name for h in hosts), min_healthy_of(hosts))
        for location, hosts in by_location(todo).items()
    ]
    return run_lanes(lanes, work, plan_of, healthy, roll_back)


def run_fleet(
    hosts: Sequence[Host],
    states: Mapping[str, DesiredState],
    mode: RunMode,
    connect: Connect,
    *,
    forks: int = DEFAULT_FORKS,
    rollout: Rollout | None = None,
    observer: Observer | None = None,
    resources: Sequence[AnyResource] | None = None,
    options: ApplyOptions | None = None,
) -> RunReport:
    """Plan (drift/check) or converge (apply) every host that has a desired state.

    In apply mode, hosts go in batches (:func:`batches`); after each batch
    :func:`halt_reason` decides whether to go on. Hosts of later batches are then reported as
    not attempted (and audited as such), never as changed.
    """
    # apply's only (like the health gate and the location lanes): a drift never loads them
    from checkpointctl.engine.rollback import AFTER_GATE, AFTER_HALT

    obs = observer or NullObserver()
    opts = options or ApplyOptions()
    owner = opts.resolved_owner()
    ctx = opts.resolved_audit(owner)
    rollout_ = rollout or Rollout()
    kinds = tuple(resources) if resources is not None else default_resources()
    todo = [h for h in hosts if h.name in states]
    by_name = {h.name: h for h in todo}
    names = [h.name for h in todo]
    plan = batches(names, rollout_) if mode == "apply" else [names]
    action = "apply" if mode == "apply" else "drift"
    results: dict[str, HostResult] = {}
    lock = threading.Lock()
    halted: str | None = None

    def work(name: str) -> HostResult:
        obs.host_started(name)
        result = _host_run(
            by_name[name], states[name], connect, mode, kinds, opts, owner, ctx, action
        )
        with lock:
            results[name] = result
        obs.host_done(result)
        return result

    def roll_back(name: str, why: str = AFTER_GATE) -> None:
        result = _rollback(
            by_name[name], states[name], results[name], connect, kinds, opts, owner, ctx, why
        )
        with lock:
            results[name] = result

    finished: list[HostResult] = []
    if mode == "apply" and has_locations(todo):
        _check_location_rollout(rollout_)
        stops = _roll_locations(todo, states, connect, kinds, opts, owner, ctx, work, roll_back)
        halted = "; ".join(stops) or None
        plan = []  # the lanes went instead of batches
    with FanOut(forks) as pool:
        for index, batch in enumerate(plan):
            obs.batch_started(index, batch)
            done = pool.map(work, batch)
            if mode != "apply":
                continue
            finished.extend(done)
            # a host that failed its health gate goes back to its previous images at once,
            # whatever the rollout options say: it is known broken, its old images are not
            pool.map(roll_back, [r.host for r in done if gate_failed(r)])
            halted = halt_reason(rollout_, index, done, finished)
            if halted:
                if rollout_.rollback_on_fail:
                    back = [r.host for r in done if r.status is HostStatus.CONVERGED]
                    pool.map(lambda name: roll_back(name, AFTER_HALT), back)
                    if back:
                        halted += f"; rolled back {len(back)} converged host(s) of that batch"
                break
    ordered = []
    for h in todo:
        result = results.get(h.name)
        if result is None:
            reason = f"halted: {halted}" if halted else None
            result = HostResult(
                host=h.name,
                status=HostStatus.NOT_ATTEMPTED,
                error=reason,
                failure=FailureReason.HALTED if halted else None,
            )
            _audit_local(opts, ctx, result, states.get(h.name), action)
        ordered.append(with_context(result, h, states.get(h.name)))
    fail_on = opts.fail_on if mode == "drift" else None
    return RunReport(mode=mode, hosts=tuple(ordered), halted=halted, fail_on=fail_on)


def stream_fleet(
    hosts: Sequence[Host],
    states: Mapping[str, DesiredState],
    mode: RunMode,
    connect: Connect,
    emit: Callable[[HostResult], None],
    *,
    forks: int = DEFAULT_FORKS,
    observer: Observer | None = None,
    resources: Sequence[AnyResource] | None = None,
    options: ApplyOptions | None = None,
) -> None:
    """:func:`run_fleet` for a read (drift or check) whose results go to ``emit``, in the
    hosts' order, each as soon as it and the hosts before it are done, and are not kept: the
    controller's memory does not grow with the fleet (a report writer streams them).

    A read has no batches nor halts, so nothing about the whole run is decided here; the
    caller tallies what it needs (exit code, summary) from what it is given.
    """
    if mode == "apply":
        raise ValueError("stream_fleet reads (drift, check); apply goes through run_fleet")
    obs = observer or NullObserver()
    opts = options or ApplyOptions()
    owner = opts.resolved_owner()
    ctx = opts.resolved_audit(owner)
    kinds = tuple(resources) if resources is not None else default_resources()

    def work(host: Host) -> HostResult:
        obs.host_started(host.name)
        desired = states[host.name]
        result = _host_run(host, desired, connect, mode, kinds, opts, owner, ctx, "drift")
        obs.host_done(result)
        return with_context(result, host, desired)

    with FanOut(forks) as pool:
        obs.batch_started(0, [h.name for h in hosts if h.name in states])
        pool.stream(work, (h for h in hosts if h.name in states), emit)
