"""The pull agent: fetch a bundle, believe it only if it verifies, then converge this host.

Pull mode is how a checkpoint that accepts no inbound connections is managed: the host
initiates everything. One run (:func:`run_once`):

1. takes the agent lock (one run at a time per host);
2. loads the trust store and fetches the bundle;
3. verifies it (:func:`~checkpointctl.trust.verify.verify_bundle`: signatures from enough
   distinct trusted, unrevoked keys, member hashes, expiry);
4. enforces **anti-rollback**: a serial older than the highest one this host accepted is
   refused, and so is the same serial with a different manifest (an attacker replaying a
   validly signed old bundle, or a builder reusing a serial); with expiry this also bounds a
   *freeze* (serving the last good bundle forever);
5. extracts this host's state and opens its sealed secrets with the host key;
6. records the accepted serial *before* converging (so a failed apply cannot reopen the door
   to an older bundle), adopts an embedded revocation list if it is newer;
7. converges through the ``converge`` callable it is given (the CLI passes the engine with
   the same resources as push mode, the firewall in pull mode);
8. writes the status file the health check and ``agent status`` read.

Every refusal happens before step 6, so a refused bundle leaves the host exactly as it was;
each is logged and written to the status file with its own message. The agent imports nothing
from the engine or resources: convergence is injected, which keeps ``trust`` below them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from checkpointctl.errors import CheckpointctlError, LockError, TrustError
from checkpointctl.localfile import write_atomic
from checkpointctl.model import HostResult, HostStatus, host_to_json
from checkpointctl.spec import STATE_DIR, DesiredState
from checkpointctl.transport import safepath
from checkpointctl.trust.fetch import fetch
from checkpointctl.trust.store import DEFAULT_TRUST_DIR, adopt_revocations, load_trust_store
from checkpointctl.trust.timeutil import format_time
from checkpointctl.trust.verify import VerifiedBundle, host_state, verify_bundle

__all__ = [
    "AgentOptions",
    "AgentOutcome",
    "Converge",
    "next_delay",
    "read_status",
    "run_loop",
    "run_once",
]

log = logging.getLogger("checkpointctl.agent")

APPLIED_FILE = "agent.json"
STATUS_FILE = "agent-status.json"
LOCK_FILE = "agent.lock"
STATUS_VERSION = "1"

Converge = Callable[[DesiredState, VerifiedBundle], HostResult]
"""Converge this host to a desired state (from that verified bundle, for the audit trail) and
report; never raises for host problems."""
Fetch = Callable[[str], bytes]
Result = Literal["converged", "in-sync", "refused", "failed", "error"]


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """Where the agent gets bundles, what it trusts, and where it keeps its state."""

    source: str
    host: str
    trust_dir: str = DEFAULT_TRUST_DIR
    state_dir: str = STATE_DIR
    threshold: int | None = None
    """A floor on the trust store's threshold (a flag can raise it, never lower it)."""
    extra_keys: tuple[str, ...] = ()
    ca_file: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class AgentOutcome:
    """What one run did. ``message`` says why for refusals and errors."""

    result: Result
    message: str = ""
    serial: int | None = None
    report: HostResult | None = field(default=None, compare=False)

    @property
    def exit_code(self) -> int:
        return 0 if self.result in ("converged", "in-sync") else 1


# --------------------------------------------------------------------------- state files


def _write_json(path: str, doc: object, mode: int = 0o600) -> None:
    data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    try:
        write_atomic(path, data, mode=mode)
    except OSError as e:
        raise CheckpointctlError(f"cannot write {path}: {e.strerror}") from None


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read(1024 * 1024))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise CheckpointctlError(f"cannot read {path}: {e}") from None
    return doc if isinstance(doc, dict) else None


def _applied(state_dir: str) -> tuple[int, str] | None:
    """The highest serial this host accepted and its manifest digest, or None.

    Raises:
        TrustError: the record exists but is unreadable (refuse rather than forget it).
    """
    path = os.path.join(state_dir, APPLIED_FILE)
    try:
        doc = _read_json(path)
    except CheckpointctlError as exc:
        raise TrustError(f"the anti-rollback record is damaged, refusing: {exc}") from None
    if doc is None:
        return None
    serial, digest = doc.get("serial"), doc.get("manifest_sha256")
    if not isinstance(serial, int) or isinstance(serial, bool) or not isinstance(digest, str):
        raise TrustError(f"the anti-rollback record {path} is damaged, refusing")
    return serial, digest


def check_rollback(bundle: VerifiedBundle, applied: tuple[int, str] | None) -> None:
    """Refuse an older serial, or the same serial with a different manifest (pure).

    Raises:
        TrustError: naming both serials (and digests) involved.
    """
    if applied is None:
        return
    serial, digest = applied
    got = bundle.manifest.serial
    if got < serial:
        raise TrustError(
            f"bundle serial {got} is older than serial {serial}, which this host already "
            "accepted: refusing a rollback"
        )
    if got == serial and bundle.manifest_sha256 != digest:
        raise TrustError(
            f"bundle serial {got} was already accepted with different content (manifest "
            f"{digest[7:19]}…, this bundle {bundle.manifest_sha256[7:19]}…): a changed bundle "
            "must carry a higher serial"
        )


@contextlib.contextmanager
def _lock(state_dir: str) -> Iterator[None]:
    path = os.path.join(state_dir, LOCK_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise CheckpointctlError(f"cannot open the agent lock {path}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockError(
                f"another agent run holds {path}; try again when it has finished"
            ) from None
        yield
    finally:
        os.close(fd)


def read_status(state_dir: str = STATE_DIR) -> dict[str, Any] | None:
    """The last run's status document, or None if the agent never ran.

    Raises:
        CheckpointctlError: the file exists but cannot be read.
    """
    return _read_json(os.path.join(state_dir, STATUS_FILE))


# --------------------------------------------------------------------------- one run


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def run_once(
    options: AgentOptions,
    converge: Converge,
    *,
    now: Callable[[], datetime] = _utcnow,
    fetcher: Fetch | None = None,
) -> AgentOutcome:
    """Fetch, verify, check anti-rollback, extract, converge and record: one agent run.

    Never raises for a bad bundle or an unreachable source: the outcome (also written to the
    status file) says what happened.

    Raises:
        CheckpointctlError: the state directory cannot be used (no lock, no status file).
    """
    # the state directory must be safe to write below before its lock or records are opened
    safepath.require_local([options.state_dir])
    try:
        os.makedirs(options.state_dir, mode=0o755, exist_ok=True)
    except OSError as e:
        raise CheckpointctlError(f"cannot create {options.state_dir}: {e.strerror}") from None
    safepath.require_local([options.state_dir])
    with _lock(options.state_dir):
        try:
            previous = read_status(options.state_dir)
        except CheckpointctlError:
            previous = None  # a damaged status file is replaced, not fatal
        bundle: VerifiedBundle | None = None
        try:
            store = load_trust_store(options.trust_dir, extra_keys=options.extra_keys)
            get: Fetch = fetcher or (
                lambda src: fetch(src, ca_file=options.ca_file, timeout=options.timeout)
            )
            data = get(options.source)
        except CheckpointctlError as exc:
            outcome = AgentOutcome("error", exc.diagnostics())
            _finish(options, outcome, None, previous, now())
            return outcome
        try:
            threshold = max(store.threshold, options.threshold or 1)
            bundle = verify_bundle(
                data, store.keys, now=now(), threshold=threshold, revoked=store.revoked
            )
            check_rollback(bundle, _applied(options.state_dir))
            desired = host_state(bundle, options.host, store.host_key)
        except TrustError as exc:
            serial = bundle.manifest.serial if bundle else None
            outcome = AgentOutcome("refused", f"refused: {exc.diagnostics()}", serial)
            _finish(options, outcome, bundle, previous, now())
            return outcome
        # Accepted: from here the host may change. Keep what the bundle taught (a newer
        # revocation list) and record the serial first; if either cannot be written, stop
        # here rather than leave an older bundle or a revoked key acceptable next time.
        try:
            if bundle.revocations is not None and adopt_revocations(store, bundle.revocations):
                log.info("adopted revocation list serial %d", bundle.revocations.serial)
            _write_json(
                os.path.join(options.state_dir, APPLIED_FILE),
                {
                    "serial": bundle.manifest.serial,
                    "manifest_sha256": bundle.manifest_sha256,
                    "accepted_at": format_time(now()),
                },
            )
        except CheckpointctlError as exc:
            outcome = AgentOutcome("error", exc.diagnostics(), bundle.manifest.serial)
            _finish(options, outcome, bundle, previous, now())
            return outcome
        try:
            result = converge(desired, bundle)
        except Exception as exc:  # a bug must still leave a status behind, then surface
            outcome = AgentOutcome(
                "failed", f"internal error: {type(exc).__name__}", bundle.manifest.serial
            )
            _finish(options, outcome, bundle, previous, now())
            raise
        if result.status is HostStatus.CONVERGED:
            outcome = AgentOutcome("converged", "", bundle.manifest.serial, result)
        elif result.status is HostStatus.IN_SYNC:
            outcome = AgentOutcome("in-sync", "", bundle.manifest.serial, result)
        else:
            outcome = AgentOutcome(
                "failed", result.error or result.status.value, bundle.manifest.serial, result
            )
        _finish(options, outcome, bundle, previous, now())
        return outcome


def _finish(
    options: AgentOptions,
    outcome: AgentOutcome,
    bundle: VerifiedBundle | None,
    previous: dict[str, Any] | None,
    when: datetime,
) -> None:
    healthy = outcome.result in ("converged", "in-sync")
    last_success = (previous or {}).get("last_success")
    if healthy:
        last_success = {
            "time": format_time(when),
            "serial": outcome.serial,
            "result": outcome.result,
        }
    failures = 0 if healthy else int((previous or {}).get("consecutive_failures") or 0) + 1
    doc: dict[str, object] = {
        "format_version": STATUS_VERSION,
        "host": options.host,
        "time": format_time(when),
        "source": options.source,
        "result": outcome.result,
        "healthy": healthy,
        "message": outcome.message,
        "bundle": bundle.summary() if bundle else None,
        "last_success": last_success,
        "consecutive_failures": failures,
        "report": host_to_json(outcome.report) if outcome.report else None,
    }
    level = logging.INFO if healthy else logging.ERROR
    text = outcome.message or outcome.result
    if not text.startswith(outcome.result):
        text = f"{outcome.result}: {text}"
    log.log(level, "%s: %s", options.host, text)
    _write_json(os.path.join(options.state_dir, STATUS_FILE), doc, mode=0o644)


def next_delay(interval: float, jitter: float, rng: random.Random) -> float:
    """Seconds until the next run: ``interval`` plus a random part of ``jitter`` (uniform in
    [0, jitter]), as the systemd timer's ``RandomizedDelaySec`` does, so a fleet started at
    once does not poll its source in step."""
    return interval + (rng.uniform(0.0, jitter) if jitter > 0 else 0.0)


def run_loop(
    options: AgentOptions,
    converge: Converge,
    interval: float,
    stop: threading.Event,
    *,
    jitter: float = 0.0,
    rng: random.Random | None = None,
    on_outcome: Callable[[AgentOutcome], None] | None = None,
    fetcher: Fetch | None = None,
) -> None:
    """Run :func:`run_once`, then wait ``interval`` plus up to ``jitter`` seconds
    (:func:`next_delay`), until ``stop`` is set.

    A failed run is recorded and retried at the next tick; only a state directory that
    cannot be used at all ends the loop (by raising). Each wait is logged ("next run in").
    """
    draw = rng or random.Random()  # noqa: S311 (spreading polls, not a secret)
    while not stop.is_set():
        try:
            outcome = run_once(options, converge, fetcher=fetcher)
        except LockError as exc:
            log.warning("%s", exc)
        else:
            if on_outcome is not None:
                on_outcome(outcome)
        if stop.is_set():
            break
        delay = next_delay(interval, jitter, draw)
        log.info("next run in %.1fs (interval %gs, jitter up to %gs)", delay, interval, jitter)
        stop.wait(delay)
