"""Plans and converges hosts: read, diff, (apply, re-read, verify), per host, many at once.

``drift`` is ``apply`` without the apply step: one code path computes every plan, so no resource
can lack a dry run. Each host gets one connection and fresh reads; after applying, every changed
resource is read and diffed again, and a non-empty diff is a failure (the tool never claims a
change it did not make). The engine never prints: it reports to an :class:`Observer` and returns
a :class:`~checkpointctl.model.RunReport`.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from checkpointctl.errors import CheckpointctlError, ConvergenceError, TransportError
from checkpointctl.model import (
    Change,
    Finding,
    Host,
    HostResult,
    HostStatus,
    RunMode,
    RunReport,
    change_to_json,
)
from checkpointctl.resources.base import Resource
from checkpointctl.spec import STATE_DIR, DesiredState
from checkpointctl.transport.base import Transport

Connect = Callable[[Host], Transport]
STATE_FILE = f"{STATE_DIR}/last-apply.json"


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


def default_resources() -> tuple[Resource, ...]:
    """Every resource kind, in the fixed apply order: firewall, credentials, collection,
    containers. Each prefix of that order is a safe state (the firewall first, containers last
    so they start with their files in place)."""
    from checkpointctl.resources.collection import CollectionResource

    return (CollectionResource(),)


@dataclass(frozen=True)
class Rollout:
    """How ``apply`` moves through a fleet. ``serial`` is a host count or a ``"N%"`` string."""

    canary: int = 0
    serial: int | str | None = None
    max_fail: float | None = None
    """Fraction of finished hosts that may fail before the rollout halts (0.1 = 10 %)."""


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


def _plan(
    transport: Transport, desired: DesiredState, resources: Sequence[Resource]
) -> tuple[dict[str, list[Change]], list[Finding]]:
    plan: dict[str, list[Change]] = {}
    findings: list[Finding] = []
    for resource in resources:
        actual = resource.read(transport, desired)
        plan[resource.kind] = resource.diff(desired, actual)
        findings.extend(resource.findings(desired, actual))
    return plan, findings


def _record(transport: Transport, desired: DesiredState, applied: Sequence[Change]) -> None:
    """Leave on the host when it was last converged and to what (no secrets: changes are
    serialised with redaction)."""
    doc = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "policies": list(desired.policies),
        "applied": [change_to_json(c) for c in applied],
    }
    transport.write_file(
        STATE_FILE, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), mode=0o600
    )


def converge_host(
    host: Host,
    desired: DesiredState,
    connect: Connect,
    mode: RunMode,
    resources: Sequence[Resource],
) -> HostResult:
    """Plan one host and, in apply mode, converge and verify it. Never raises."""
    started = time.monotonic()

    def done(status: HostStatus, **kw: object) -> HostResult:
        return HostResult(
            host=host.name, status=status, seconds=time.monotonic() - started, **kw  # type: ignore[arg-type]
        )

    try:
        transport = connect(host)
    except CheckpointctlError as exc:
        return done(HostStatus.UNREACHABLE, error=exc.diagnostics())
    applied: list[Change] = []
    changes: tuple[Change, ...] = ()
    findings: tuple[Finding, ...] = ()
    current: Change | None = None
    try:
        plan, found = _plan(transport, desired, resources)
        changes = tuple(c for kind in plan.values() for c in kind)
        findings = tuple(found)
        if mode != "apply":
            status = HostStatus.DRIFT if changes else HostStatus.IN_SYNC
            return done(status, changes=changes, findings=findings)
        if not changes:
            return done(HostStatus.IN_SYNC, findings=findings)
        by_kind = {r.kind: r for r in resources}
        for kind, kind_changes in plan.items():
            for change in kind_changes:
                current = change
                by_kind[kind].apply(transport, change)
                applied.append(change)
        current = None
        touched = [r for r in resources if plan[r.kind]]
        recheck, _ = _plan(transport, desired, touched)
        left = [c for kind in recheck.values() for c in kind]
        if left:
            detail = "; ".join(
                f"{c.address} ({', '.join(f.path for f in c.fields) or c.action.value})"
                for c in left
            )
            raise ConvergenceError(f"did not converge after apply: {detail}")
        _record(transport, desired, applied)
        return done(
            HostStatus.CONVERGED,
            changes=changes,
            applied=tuple(c.address for c in applied),
            findings=findings,
        )
    except TransportError as exc:
        status = HostStatus.FAILED if applied else HostStatus.UNREACHABLE
        return done(status, changes=changes, applied=tuple(c.address for c in applied),
                    failed=current.address if current else None, error=exc.diagnostics(),
                    findings=findings)
    except CheckpointctlError as exc:
        return done(HostStatus.FAILED, changes=changes,
                    applied=tuple(c.address for c in applied),
                    failed=current.address if current else None, error=exc.diagnostics(),
                    findings=findings)
    except Exception as exc:  # a bug in a resource must not take the fleet down with it
        return done(HostStatus.FAILED, changes=changes,
                    applied=tuple(c.address for c in applied),
                    failed=current.address if current else None,
                    error=f"internal error: {type(exc).__name__}: {exc}", findings=findings)
    finally:
        # closing a broken connection may fail too; there is nothing left to do about it
        with contextlib.suppress(Exception):
            transport.close()


def run_fleet(
    hosts: Sequence[Host],
    states: Mapping[str, DesiredState],
    mode: RunMode,
    connect: Connect,
    *,
    forks: int = 50,
    rollout: Rollout | None = None,
    observer: Observer | None = None,
    resources: Sequence[Resource] | None = None,
) -> RunReport:
    """Plan (drift/check) or converge (apply) every host that has a desired state."""
    obs = observer or NullObserver()
    kinds = tuple(resources) if resources is not None else default_resources()
    todo = [h for h in hosts if h.name in states]
    by_name = {h.name: h for h in todo}
    plan = batches([h.name for h in todo], rollout or Rollout()) if mode == "apply" else [
        [h.name for h in todo]
    ]
    results: dict[str, HostResult] = {}
    lock = threading.Lock()
    halted: str | None = None

    def work(name: str) -> HostResult:
        obs.host_started(name)
        result = converge_host(by_name[name], states[name], connect, mode, kinds)
        with lock:
            results[name] = result
        obs.host_done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, forks)) as pool:
        for index, batch in enumerate(plan):
            obs.batch_started(index, batch)
            list(pool.map(work, batch))
            if mode != "apply":
                continue
            bad = {HostStatus.FAILED, HostStatus.UNREACHABLE}
            finished = [results[n] for b in plan[: index + 1] for n in b]
            failed = [r for r in finished if r.status in bad]
            rollout_ = rollout or Rollout()
            if index == 0 and rollout_.canary and failed:
                halted = f"canary failed on {', '.join(r.host for r in failed)}"
            elif rollout_.max_fail is not None and finished and (
                len(failed) / len(finished) > rollout_.max_fail
            ):
                halted = (
                    f"{len(failed)} of {len(finished)} hosts failed, over the "
                    f"--max-fail of {rollout_.max_fail:.0%}"
                )
            if halted:
                break
    ordered = [
        results.get(h.name) or HostResult(host=h.name, status=HostStatus.NOT_ATTEMPTED)
        for h in todo
    ]
    return RunReport(mode=mode, hosts=tuple(ordered), halted=halted)
