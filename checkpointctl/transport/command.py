"""What the local and SSH transports share about commands: argv checks and result handling.

Both transports must behave the same for the resources above them: the same argv rules, the
same ``CommandResult`` and the same ``CommandFailed`` (with the tail of stderr, so the user sees
*why* a command failed without a wall of output). Keeping that here means the two transports
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from checkpointctl.errors import CommandFailed
from checkpointctl.transport.base import CommandResult, check_argv

#: How much of stderr a ``CommandFailed`` carries: enough for the error, not a whole log.
STDERR_TAIL_LINES = 10
STDERR_TAIL_CHARS = 2000


def stderr_tail(stderr: bytes) -> str:
    """The last lines of stderr, decoded, for error messages.

    At most :data:`STDERR_TAIL_LINES` lines and :data:`STDERR_TAIL_CHARS` characters; invalid
    UTF-8 is replaced because this text is only ever shown to a person.
    """
    text = stderr.decode("utf-8", "replace").rstrip()
    lines = text.splitlines()[-STDERR_TAIL_LINES:]
    tail = "\n".join(lines)
    if len(tail) > STDERR_TAIL_CHARS:
        tail = "…" + tail[-STDERR_TAIL_CHARS:]
    return tail


def describe(argv: Sequence[str]) -> str:
    """A short human label for a command in messages (not shell text: never executed)."""
    shown = " ".join(argv[:3])
    return shown + (" …" if len(argv) > 3 else "")


def finish(host: str, result: CommandResult, *, check: bool) -> CommandResult:
    """Return ``result``, or raise ``CommandFailed`` when ``check`` and the command failed.

    Raises:
        CommandFailed: ``check`` is true and the exit status is not 0.
    """
    if check and not result.ok:
        raise CommandFailed(host, result.argv, result.rc, stderr_tail(result.stderr))
    return result


__all__ = [
    "STDERR_TAIL_CHARS",
    "STDERR_TAIL_LINES",
    "check_argv",
    "describe",
    "finish",
    "stderr_tail",
]
