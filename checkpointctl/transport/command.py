"""What the local and SSH transports share about commands: argv checks and result handling.

Both transports must behave the same for the resources above them: the same argv rules, the
same ``CommandResult`` and the same ``CommandFailed`` (with the tail of stderr, so the user sees
*why* a command failed without a wall of output). Keeping that here means the two transports
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from checkpointctl.errors import CommandFailed
from checkpointctl.transport.base import CommandResult

#: How much of stderr a ``CommandFailed`` carries: enough for the error, not a whole log.
STDERR_TAIL_LINES = 10
STDERR_TAIL_CHARS = 2000


def check_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """Validate a command's argv and freeze it.

    A command is a non-empty sequence of strings (never one shell string: a ``str`` would be
    iterated character by character, so it is refused). NUL cannot travel in an argument on any
    transport, so it is refused here rather than silently truncated on the SSH side.

    Raises:
        TypeError: argv is a string or holds a non-string.
        ValueError: argv is empty or an argument contains NUL.
    """
    if isinstance(argv, str | bytes):
        raise TypeError("argv must be a sequence of arguments, not a single string")
    frozen = tuple(argv)
    if not frozen:
        raise ValueError("argv must not be empty")
    for arg in frozen:
        if not isinstance(arg, str):
            raise TypeError(f"argv items must be str, got {type(arg).__name__}")
        if "\0" in arg:
            raise ValueError("argv items must not contain NUL")
    return frozen


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
