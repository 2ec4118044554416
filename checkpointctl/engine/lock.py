"""The host lock: one controller converges a host at a time, and a dead one never blocks it.

How it works: over the host's own connection, ``flock LOCKFILE sh -c HELD`` is started in a
channel of its own (:meth:`~checkpointctl.transport.base.ProcessRunner.spawn`). ``flock`` takes an
exclusive lock on ``/var/lib/checkpointctl/lock`` and runs :data:`HELD_SCRIPT`, which says
``locked`` (so we know the lock is ours) and then waits on its stdin. The lock is held as long as
that script runs, and it runs as long as the controller's connection: on release we send
``release`` and close its stdin; if the controller dies (``kill -9``, a crash, a dropped network)
sshd or the kernel closes it for us. So the kernel releases the lock whenever the holder is gone;
there is no lease to expire and nothing to clean up by hand.

Who holds the lock is written next to it (``lock-owner.json``: user, controller, pid, since),
for the message a second controller shows ("cp-1 is being converged by ops@ci-3 (pid 812)
since …"). The held script writes it (the record arrives on its stdin), and removes it only on
an explicit ``release``. Finding it when we have just taken the lock therefore means the
previous holder died while holding it: a *stale* lock, which the kernel has already released
and which we report as taken over. The script hands back what it found before writing ours.
The whole exchange is one channel and two round trips: no SFTP, no other session (SFTP would
cost some twenty round trips per host, a no-op ``apply`` then being far slower than ``drift``).

The held shell does more than wait: it answers the kept shell's command batches
(:mod:`~checkpointctl.transport.shellserver`), so while the lock is held the SSH transport runs
the host's reads, changes and verification in it (:meth:`HostLock.lend_shell`), and it writes the
last-apply record and the audit line. A whole ``apply`` of a host is then this one session
(plus the sessions of commands too large for a batch, such as a firewall load): everything it
runs is under the lock by construction.

Only ``apply`` locks; ``drift`` and ``apply --check`` only read and never wait for a lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import os
import posixpath
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from checkpointctl.errors import LockError, TransportError
from checkpointctl.model import JSONValue
from checkpointctl.spec import STATE_DIR
from checkpointctl.transport import safepath
from checkpointctl.transport.base import HeldShell, HostProcess, Transport
from checkpointctl.transport.framing import new_token
from checkpointctl.transport.shellserver import BOUNDED_REQUEST, SERVER_SETUP

LOCK_FILE = f"{STATE_DIR}/lock"
OWNER_FILE = f"{STATE_DIR}/lock-owner.json"
RECORD_NAME = "last-apply.json"
RECORD_FILE = f"{STATE_DIR}/{RECORD_NAME}"
AUDIT_NAME = "audit.jsonl"
AUDIT_FILE = f"{STATE_DIR}/{AUDIT_NAME}"
RECORD = b"record\n"
BUSY_EXIT = 75
"""Exit status ``flock`` is told to use when the lock is taken (EX_TEMPFAIL)."""
READY = b"locked\n"
HELD = b"held\n"
RELEASE = b"release\n"
ANSWER_SECONDS = 60.0
"""How long ``flock`` may take to answer beyond the wait we asked of it (a slow host)."""
HELD_SCRIPT = (
    r"""o=$1 rec=$2 aud=$3
IFS= read -r t || exit 0
echo locked
IFS= read -r owner || exit 0
if [ -f "$o" ]; then tr '\n' ' ' <"$o"; fi
echo
umask 022
printf '%s\n' "$owner" >"$o" || exit 1
"""
    + SERVER_SETUP
    + r"""echo held
while IFS=' ' read -r word tmo; do
  case $word in
  record)
    IFS= read -r last || exit 0
    IFS= read -r line || exit 0
    umask 077
    if printf '%s\n' "$last" >"$rec.new" && mv -f -- "$rec.new" "$rec"; then
      echo recorded
    else
      rm -f -- "$rec.new"; echo not-recorded
    fi
    if printf '%s\n' "$line" >>"$aud"; then echo appended; else echo not-appended; fi
    umask 022;;
  release) rm -f -- "$o"; exit 0;;
  ''|*[!0-9]*) exit 0;;
  *)
    alen=$word
"""
    + BOUNDED_REQUEST
    + """    ;;
  esac
done
"""
)
"""Fixed text, run by ``flock`` with the lock held; ``$1`` is the owner record's path, ``$2``
the last-apply record's, ``$3`` the audit log's. Reads the frame token (first line of stdin,
sent with the command); says ``locked``; reads our owner record (one line of JSON); answers with
the record it found (one line, empty when there was none); writes ours (0644, in place: a
second controller that reads it half-written retries, see :func:`_read_owner_of_busy_lock`)
and says ``held``; then takes words. A number is a request of the kept shell's protocol
(:mod:`~checkpointctl.transport.shellserver`): the held shell runs the host's command batches
for as long as the lock is held, so an ``apply`` reads, changes and verifies a host without a
session of its own (:meth:`HostLock.lend_shell`). ``record`` is followed by the
last-apply record and the audit line (one line of JSON each): the record replaces the file
whole (0600, renamed over it, so a reader sees the old one or the new one) and the line is
appended with one ``write`` (0600 when created); each is answered ``recorded``/``appended`` or
``not-…``. ``release`` removes the owner record and ends; end of input without it (the
controller died) leaves the owner record for the next holder to report as stale.

Why the records go here: written by the shell already holding the lock, they cost the host one
``mv`` and no session; a session of their own would cost the host a login's worth of CPU per host, a
large part of a no-op ``apply``. Neither holds a secret (both are built redacted) and they travel on
stdin, not argv, so ``ps`` shows nothing of them. The last-apply record is not ``fsync``'d, like the
owner record: it says when the host was last converged, and a rename over an existing file is
flushed by ext4 (``auto_da_alloc``) before the rename is committed."""
OWNER_RETRIES = 5
OWNER_RETRY_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class LockPaths:
    """Where the lock lives on a host, and the files written while holding it (tests point this
    at a temporary directory). The records live in the lock's directory, which taking the lock
    creates."""

    lock: str = LOCK_FILE
    owner: str = OWNER_FILE
    record: str = RECORD_FILE
    """``last-apply.json``: when, by whom and to what the host was last converged."""
    audit: str = AUDIT_FILE
    """``audit.jsonl``: one line per run that held the lock."""

    @classmethod
    def under(cls, directory: str) -> LockPaths:
        """Every path in ``directory`` (``apply --state-dir``, tests)."""
        return cls(
            f"{directory}/lock",
            f"{directory}/lock-owner.json",
            f"{directory}/{RECORD_NAME}",
            f"{directory}/{AUDIT_NAME}",
        )


DEFAULT_PATHS = LockPaths()


@dataclass(frozen=True, slots=True)
class LockOwner:
    """Who holds (or held) a host lock: enough for a person to find that run."""

    user: str
    controller: str
    pid: int
    since: str
    """When the lock was taken, ISO 8601 in UTC."""
    command: str = "apply"

    @property
    def who(self) -> str:
        return f"{self.user}@{self.controller}"

    def to_json(self) -> bytes:
        doc = {
            "user": self.user,
            "controller": self.controller,
            "pid": self.pid,
            "since": self.since,
            "command": self.command,
        }
        return (json.dumps(doc, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> LockOwner | None:
        """Parse an owner file; anything unreadable is None (it is only ever shown)."""
        try:
            doc: JSONValue = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        pid = doc.get("pid")
        return cls(
            user=str(doc.get("user") or "?"),
            controller=str(doc.get("controller") or "?"),
            pid=pid if isinstance(pid, int) else 0,
            since=str(doc.get("since") or "?"),
            command=str(doc.get("command") or "apply"),
        )


class LockBusyError(LockError):
    """Another controller holds the host's lock (the message names who and since when)."""


class LockNoteKind(StrEnum):
    """What happened while taking the lock that a person should know."""

    WAITED = "waited"
    """Another controller held it; this one waited for it (``--lock-wait``)."""
    STALE = "stale"
    """A dead controller's lock was taken over: its run may have left the host half-converged."""


@dataclass(frozen=True, slots=True)
class LockNote:
    """A note about taking the lock: its kind (what the engine decides on) and its text."""

    kind: LockNoteKind
    text: str


def current_owner(command: str = "apply", now: datetime | None = None) -> LockOwner:
    """This process as a lock owner: login name, machine name, pid, the time now."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME: still say something
        user = f"uid{os.getuid()}"
    when = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    return LockOwner(user, socket.gethostname(), os.getpid(), when, command)


def _holder(owner: LockOwner | None) -> str:
    if owner is None:
        return "another controller (which has not recorded itself yet)"
    return f"{owner.who} (pid {owner.pid}, {owner.command}) since {owner.since}"


def busy_message(host: str, owner: LockOwner | None, waited: float = 0.0) -> str:
    """``cp-1 is being converged by ops@ci-3 (pid 812, apply) since 2025-…`` (+ a hint)."""
    text = f"{host} is being converged by {_holder(owner)}"
    if waited > 0:
        return f"{text}; gave up after waiting {waited:g}s (--lock-wait)"
    return f"{text}\n  hint: wait for it with --lock-wait SECONDS"


def stale_message(owner: LockOwner | None) -> str:
    """The note for a lock whose holder died without releasing it."""
    holder = _holder(owner) if owner is not None else "a controller that left no readable record"
    return (
        f"took over a stale lock left by {holder}: its holder is gone "
        "(that run was killed or lost its connection; the host may be half-converged, "
        "which this run repairs)"
    )


def waited_message(owner: LockOwner | None, seconds: float) -> str:
    return f"waited {seconds:.1f}s for the lock held by {_holder(owner)}"


class HostLock:
    """A held host lock; :meth:`release` it (or let the connection close)."""

    def __init__(
        self,
        transport: Transport,
        process: HostProcess,
        paths: LockPaths,
        notes: tuple[LockNote, ...],
        token: str,
    ) -> None:
        self._transport = transport
        self._process = process
        self._paths = paths
        self._shell = HeldShell(process, token)
        self.notes = notes
        """What a person should know about taking it: a wait, a stale lock taken over."""
        self._released = False
        self._lent = False

    def lend_shell(self) -> bool:
        """Let the transport run its command batches in the held shell until the records are
        written or the lock released: the host's reads, changes and checks then cost no session
        of their own, and run under the lock by construction. Whether the transport took it
        (one that cannot, such as the local one, goes on as before)."""
        if self._released or self._lent:
            return self._lent
        self._lent = self._transport.adopt_shell(self._shell)
        return self._lent

    def _take_back(self) -> None:
        """End the loan of :meth:`lend_shell`: from here on this object talks to the shell."""
        if self._lent:
            self._lent = False
            self._transport.drop_shell(self._shell)

    def write_records(self, record: bytes, line: bytes, *, release: bool = False) -> list[str]:
        """Replace the host's last-apply record with ``record`` and append ``line`` to its audit
        log, both one line of JSON, through the held script (see :data:`HELD_SCRIPT`); what
        could not be written, as messages (empty when both were). ``release``: let the lock go
        in the same exchange (one round trip fewer than :meth:`release` after it).

        Raises:
            LockError: the script stopped answering (the connection broke).
            ValueError: ``record`` or ``line`` is not one line.
        """
        docs = [record.rstrip(b"\n"), line.rstrip(b"\n")]
        if any(b"\n" in doc for doc in docs):
            raise ValueError("the last-apply record and the audit line must be one line each")
        self._take_back()
        words = RECORD + docs[0] + b"\n" + docs[1] + b"\n" + (RELEASE if release else b"")
        self._process.send(words)
        answers = [self._process.read_line(ANSWER_SECONDS) for _ in range(2)]
        if answers[0] is None or answers[1] is None or not answers[1].endswith(b"\n"):
            raise LockError(f"{self._transport.host.name}: the lock's shell stopped answering")
        problems = []
        why = ""
        for answer, done, what in (
            (answers[0], b"recorded\n", f"write the host's last-apply record {self._paths.record}"),
            (answers[1], b"appended\n", f"append to the host's audit log {self._paths.audit}"),
        ):
            if answer != done:
                why = why or self._process.stderr_tail().strip()[-300:] or "no reason given"
                problems.append(f"could not {what}: {why}")
        if release:
            self._released = True
            self._end()
        return problems

    def release(self) -> None:
        """Tell the held script to remove the owner record, then end it so ``flock`` lets go.
        Idempotent.

        If the connection broke first, the lock is still released when the connection ends,
        and the record stays for the next holder to report as stale.
        """
        if self._released:
            return
        self._released = True
        self._take_back()
        try:
            with contextlib.suppress(TransportError):
                self._process.send(RELEASE)
        finally:
            self._end()

    def _end(self) -> None:
        self._process.close_stdin()
        self._process.wait(5.0)
        self._process.close()


def _read_owner(transport: Transport, paths: LockPaths) -> LockOwner | None:
    raw = safepath.read(transport, paths.owner)
    return None if raw is None else LockOwner.from_json(raw)


def _read_owner_of_busy_lock(transport: Transport, paths: LockPaths) -> LockOwner | None:
    """The holder of a lock we found taken; it may need a moment to write its record."""
    for attempt in range(OWNER_RETRIES):
        owner = _read_owner(transport, paths)
        if owner is not None or attempt == OWNER_RETRIES - 1:
            return owner
        time.sleep(OWNER_RETRY_SECONDS)
    return None


def _try_lock(
    transport: Transport, paths: LockPaths, wait: float | None, token: str
) -> HostProcess | None:
    """Start ``flock … sh -c HELD`` (creating the lock's directory first, in the same command:
    one session on the host, not two); the held process, or None when the lock stayed taken."""
    flock = ["flock", "--conflict-exit-code", str(BUSY_EXIT)]
    flock += ["--nonblock"] if wait is None else ["--timeout", f"{wait:g}"]
    flock += [paths.lock, "sh", "-c", HELD_SCRIPT, "sh", paths.owner, paths.record, paths.audit]
    # the lock's directory is checked (not a link, root's, not writable by others) before the
    # lock file, the owner record, the last-apply record or the audit log is opened in it
    process = transport.spawn(safepath.ensure_then_exec(posixpath.dirname(paths.lock), flock))
    try:
        # read once the lock is ours; when it is not (flock already gave up), the write may
        # meet a closed pipe, and the exit status below says why
        with contextlib.suppress(TransportError):
            process.send(token.encode() + b"\n")
        line = process.read_line((wait or 0.0) + ANSWER_SECONDS)
        if line == READY:
            return process
        if line is None:
            raise LockError(
                f"{transport.host.name}: flock did not answer within "
                f"{(wait or 0.0) + ANSWER_SECONDS:g}s"
            )
        status = process.wait(ANSWER_SECONDS)
        if status == BUSY_EXIT:
            process.close()
            return None
        if status == safepath.UNSAFE_EXIT:
            text = line + (process.read_line(1.0) or b"")
            found = safepath.parse_violations(text.decode("utf-8", "replace"))
            raise safepath.UnsafePathError(transport.host.name, found)
        why = process.stderr_tail().strip() or f"exit status {status}"
        if status == 127:
            why = "flock is not installed on the host (util-linux)"
        raise LockError(f"{transport.host.name}: cannot take the host lock {paths.lock}: {why}")
    except BaseException:
        process.close()
        raise


def _record_owner(transport: Transport, process: HostProcess, owner: LockOwner) -> bytes:
    """Hand our owner record to the held script; return the record it found (b"" if none).

    Raises:
        LockError: the script could not write the record, or stopped answering.
    """
    host = transport.host.name
    now = datetime.now(UTC).isoformat(timespec="seconds")
    process.send(dataclasses.replace(owner, since=now).to_json())
    previous = process.read_line(ANSWER_SECONDS)
    done = process.read_line(ANSWER_SECONDS) if previous else None
    if not previous or done != HELD:
        process.close_stdin()
        process.wait(ANSWER_SECONDS)
        why = process.stderr_tail().strip() or "no answer"
        raise LockError(f"{host}: cannot write the lock's owner record: {why}")
    return previous.strip()


def acquire(
    transport: Transport,
    owner: LockOwner,
    *,
    wait: float = 0.0,
    paths: LockPaths = DEFAULT_PATHS,
) -> HostLock:
    """Take the host's lock over ``transport``, waiting up to ``wait`` seconds for it.

    ``owner`` describes this controller; its ``since`` is set to the moment the lock is taken.

    Raises:
        LockBusyError: another controller holds it (the message names who and since when).
        LockError: ``flock`` failed.
        TransportError: the host could not be reached.
    """
    host = transport.host.name
    notes: list[LockNote] = []
    started = time.monotonic()
    token = new_token()
    process = _try_lock(transport, paths, None, token)
    if process is None:
        holder = _read_owner_of_busy_lock(transport, paths)
        if wait <= 0:
            raise LockBusyError(busy_message(host, holder))
        process = _try_lock(transport, paths, wait, token)
        if process is None:
            raise LockBusyError(busy_message(host, _read_owner(transport, paths) or holder, wait))
        waited = waited_message(holder, time.monotonic() - started)
        notes.append(LockNote(LockNoteKind.WAITED, waited))
    try:
        previous = _record_owner(transport, process, owner)
        if previous:
            stale = stale_message(LockOwner.from_json(previous))
            notes.append(LockNote(LockNoteKind.STALE, stale))
    except BaseException:
        process.close()
        raise
    return HostLock(transport, process, paths, tuple(notes), token)


__all__ = [
    "DEFAULT_PATHS",
    "LOCK_FILE",
    "OWNER_FILE",
    "HostLock",
    "LockBusyError",
    "LockNote",
    "LockNoteKind",
    "LockOwner",
    "LockPaths",
    "acquire",
    "busy_message",
    "current_owner",
    "stale_message",
    "waited_message",
]
