"""Errors and diagnostics.

Every failure a user can cause or meet is a :class:`CheckpointctlError`; the CLI catches this one
type at its single boundary and turns it into ``checkpointctl: error: ...`` and an exit code.
Anything else escaping is a bug and is shown with a traceback. Messages never interpolate secret
values: callers pass names and locations, not contents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a diagnostic is: errors fail ``validate``; warnings are printed and pass."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value was written: 1-based line and column in a file."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in the user's input, rendered as ``path:line:col: field: message``.

    Diagnostics are values so that a run can collect *all* problems and report them together;
    only the CLI decides what they mean for the exit code.
    """

    message: str
    location: Location | None = None
    field: str | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR
    rule: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.location is not None:
            parts.append(str(self.location))
        if self.field:
            parts.append(self.field)
        prefix = ": ".join(parts)
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.severity is Severity.WARNING:
            text = f"warning: {text}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class CheckpointctlError(Exception):
    """Base of every expected failure; ``exit_code`` is what the CLI returns for it."""

    exit_code: int = 1

    def diagnostics(self) -> str:
        """The human text for this error (without the ``checkpointctl: error:`` prefix)."""
        return str(self)


class PolicyError(CheckpointctlError):
    """One or more problems in policies (syntax, schema, template, layering, lint)."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items: tuple[Diagnostic, ...] = tuple(diagnostics)
        super().__init__("\n".join(str(d) for d in self.items))

    def diagnostics(self) -> str:
        errors = [d for d in self.items if d.severity is Severity.ERROR]
        lines = [str(d) for d in self.items]
        if len(errors) > 1:
            lines.append(f"{len(errors)} errors")
        return "\n".join(lines)


class InventoryError(PolicyError):
    """A problem in an inventory file or a ``--limit`` pattern."""


class VaultError(CheckpointctlError):
    """A secret could not be encrypted or decrypted (wrong key, tampered data, bad format)."""


class TransportError(CheckpointctlError):
    """A host could not be reached, or the connection to it failed or timed out."""


class HostUnreachable(TransportError):
    """Connecting to a host failed or timed out."""


class CommandTimedOut(TransportError):
    """A command did not finish within its timeout: the controller stopped waiting, or the
    host's own bound (coreutils ``timeout``) ended it. Either way it no longer runs."""


class HostBoundMissing(TransportError):
    """The host cannot bound a command's run time (no usable coreutils ``timeout``), so no
    command with a timeout is run there: one that outlived the controller's wait would be left
    running on the host."""


class HostKeyError(TransportError):
    """A host presented a key that is unknown or differs from the one recorded in known_hosts."""


class CommandFailed(CheckpointctlError):
    """A command ran on a reachable host and exited non-zero while the caller required success.

    Not a :class:`TransportError`: the host answered, so it is reported as failed (with the
    command, its exit status and its stderr), never as unreachable.
    """

    def __init__(self, host: str, argv: tuple[str, ...], rc: int, stderr_tail: str) -> None:
        self.host = host
        self.argv = argv
        self.rc = rc
        self.stderr_tail = stderr_tail
        super().__init__(f"{host}: `{self.command}` exited {rc}: {stderr_tail.strip()}")

    @property
    def command(self) -> str:
        """The command as messages name it: its first three arguments."""
        return " ".join(self.argv[:3])


class ResourceError(CheckpointctlError):
    """Reading or applying a resource failed in a way the resource understands."""


class ConvergenceError(ResourceError):
    """After apply, re-reading the host still shows a difference from the desired state."""


class LockError(CheckpointctlError):
    """Another controller holds the host's convergence lock."""


class TrustError(CheckpointctlError):
    """A bundle or signature failed verification (bad signature, expired, rolled back...)."""


class LabError(CheckpointctlError):
    """The local lab could not be brought up, inspected or torn down."""
