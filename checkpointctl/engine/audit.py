"""The audit log: one JSON line per host per ``apply``, kept locally and on the host.

A line says who converged the host, when, from which policy revision (the git commit of the
policy repository, ``+dirty`` when the policy files have uncommitted edits), with which command,
what the plan was (its digest and its changes) and how it ended. The local log (default
``$XDG_STATE_HOME/checkpointctl/audit.jsonl``, ``~/.local/state/checkpointctl/audit.jsonl``
without it: the user's state directory, never the current directory, which is usually the
policy repository's checkout) is the controller's record of everything it did; the host's copy
(``/var/lib/checkpointctl/audit.jsonl``) lets whoever logs in there see who changed it, even
when several controllers (or the pull agent) take turns.

Secrets never appear: changes are serialised with :func:`~checkpointctl.model.change_to_json`,
which writes every :class:`~checkpointctl.model.Secret` as ``<sensitive>``, and the encoder
refuses anything that is not plain JSON data. The host copy is appended under the host lock with
``tee -a`` (append mode, one writer at a time), so lines never interleave.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from checkpointctl.model import (
    REDACTED,
    Change,
    HostResult,
    JSONValue,
    Secret,
    change_to_json,
)

AUDIT_FORMAT = "1"
LOCAL_LOG_NAME = "audit.jsonl"


def default_local_log(env: dict[str, str] | None = None) -> str:
    """``$XDG_STATE_HOME/checkpointctl/audit.jsonl`` (an absolute ``XDG_STATE_HOME`` only, as
    the XDG spec says), else ``~/.local/state/checkpointctl/audit.jsonl``."""
    environ = os.environ if env is None else env
    state = environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):
        home = environ.get("HOME") or os.path.expanduser("~")
        state = os.path.join(home, ".local", "state")
    return os.path.join(state, "checkpointctl", LOCAL_LOG_NAME)


DEFAULT_LOCAL_LOG = default_local_log()
GIT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class AuditContext:
    """What every line of one run shares."""

    who: str
    """``user@controller`` (the lock owner's name)."""
    revision: str | None
    """Git commit of the policy repository, ``+dirty`` if edited; None outside a repository."""
    argv: tuple[str, ...] = ()
    run_id: str = field(default_factory=lambda: secrets.token_hex(6))
    """Ties together the lines of one run, across hosts and across local/host logs: 12 random
    hex digits (not a UUID: the ``uuid`` module imports ``platform``, whose regular
    expressions cost every drift's start-up a few milliseconds)."""


def plan_digest(changes: Sequence[Change]) -> str:
    """``sha256:…`` over the plan as it is shown (secrets redacted): equal plans, equal digest."""
    doc = [change_to_json(c) for c in changes]
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=_refuse)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def audit_record(
    ctx: AuditContext,
    result: HostResult,
    *,
    policies: Sequence[str] = (),
    action: str = "apply",
    notes: Sequence[str] = (),
    when: datetime | None = None,
) -> dict[str, JSONValue]:
    """The JSON object of one audit line (pure).

    ``action`` is ``apply`` or ``rollback``; ``notes`` carries what the run learned that is not
    a change (a lock waited for or taken over from a dead controller).
    """
    stamp = (when or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    return {
        "format": AUDIT_FORMAT,
        "time": stamp,
        "run": ctx.run_id,
        "who": ctx.who,
        "host": result.host,
        "action": action,
        "policy_revision": ctx.revision,
        "policies": list(policies),
        "argv": list(ctx.argv),
        "plan_digest": plan_digest(result.changes),
        "changes": [change_to_json(c) for c in result.changes],
        "result": result.status.value,
        "applied": list(result.applied),
        "failed": result.failed,
        "error": result.error,
        "notes": list(notes),
        "seconds": round(result.seconds, 3),
    }


def _refuse(obj: object) -> str:
    if isinstance(obj, Secret):
        return REDACTED
    raise TypeError(f"cannot put a value of type {type(obj).__name__} in the audit log")


def audit_line(record: dict[str, JSONValue]) -> bytes:
    """One line of JSON Lines: compact, sorted keys, ``\\n``-terminated, no raw newlines."""
    return (json.dumps(record, sort_keys=True, default=_refuse) + "\n").encode()


class LocalAuditLog:
    """The controller's audit log: appended by many worker threads, one ``write`` per line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.error: str | None = None
        """The first write failure, for the CLI to report (a host's apply is not undone by
        the controller's own log failing, so append never raises)."""
        self._lock = threading.Lock()

    def append(self, line: bytes) -> None:
        """Append one line (``O_APPEND``, so other processes' lines never interleave within it)."""
        with self._lock:
            try:
                parent = os.path.dirname(os.path.abspath(self.path))
                os.makedirs(parent, mode=0o700, exist_ok=True)
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                fd = os.open(self.path, flags, 0o600)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
            except OSError as exc:
                self.error = self.error or f"cannot write the audit log {self.path}: {exc}"


def policy_revision(paths: Sequence[str]) -> str | None:
    """The git commit the policies come from, ``+dirty`` when they have uncommitted edits.

    Asks ``git`` in the directory of the first path (a file's folder, or the folder itself);
    None when git is missing or the policies are not in a repository.
    """
    if not paths:
        return None
    first = os.path.abspath(paths[0])
    where = first if os.path.isdir(first) else os.path.dirname(first)
    if not os.path.isdir(where):
        return None
    head = _git(where, ["rev-parse", "--verify", "HEAD"])
    if head is None:
        return None
    status = _git(where, ["status", "--porcelain", "--", *(os.path.abspath(p) for p in paths)])
    return head + ("+dirty" if status else "")


def _git(where: str, args: list[str]) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", where, *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


__all__ = [
    "DEFAULT_LOCAL_LOG",
    "AuditContext",
    "LocalAuditLog",
    "audit_line",
    "audit_record",
    "default_local_log",
    "plan_digest",
    "policy_revision",
]
