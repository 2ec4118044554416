"""Several commands in one round trip: ``run_many``, and the batch script the SSH transport uses.

Over SSH each command is a new channel, and on the host a new session: sshd forks, sets the
session up and starts a shell. Measured on the lab that costs far more than the commands a
``drift`` reads with (``nft``, ``stat``, ``sha256sum``), so a host's reads go out together:
:func:`run_many` runs a list of commands and returns one :class:`CommandResult` each, exactly as
:meth:`Transport.run` with ``check=False`` would have.

A transport that can do better than one command after the other says so by having a
``run_many`` method (:class:`Batcher`). The SSH transport sends the whole list as one ``sh -c``
of :func:`batch_argv`'s fixed script: every argument travels as a positional parameter of that
script (shell-quoted by the transport like any argv), the script text itself is built from
nothing but the *number* of arguments of each command, so no value is ever parsed by the remote
shell. Each command's stdin is sent on the channel's stdin, one after the other, and handed to
it through ``dd bs=1 count=N`` (exact on every POSIX ``dd``: a command can neither read its
neighbour's bytes nor leave its own unread). The outputs come back after the exit statuses and the
byte lengths of every stdout and stderr, so any bytes survive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from checkpointctl.errors import TransportError
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.command import check_argv

#: Exit status of the batch script when it cannot even start (no temporary directory).
UNAVAILABLE = 125
#: Commands with more stdin than this go on their own: ``dd bs=1`` reads one byte per call.
MAX_BATCH_STDIN = 64 * 1024


@dataclass(frozen=True, slots=True)
class Command:
    """One command of a batch: its argv, its stdin (None: empty) and its timeout."""

    argv: tuple[str, ...]
    stdin: bytes | None = None
    timeout: float = 60.0

    @classmethod
    def of(
        cls, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 60.0
    ) -> Command:
        """A command with a checked argv (see :func:`check_argv`)."""
        return cls(check_argv(argv), stdin, timeout)


@runtime_checkable
class Batcher(Protocol):
    """A transport that runs a list of commands in fewer round trips than one each."""

    def run_many(self, commands: Sequence[Command]) -> list[CommandResult]:
        """One result per command, in order, as ``run(check=False)`` would return it."""
        ...


def run_many(transport: Transport, commands: Sequence[Command]) -> list[CommandResult]:
    """Run ``commands`` on ``transport`` and return one result each (never checked: the caller
    decides what a non-zero exit means, e.g. with :func:`~checkpointctl.transport.command.finish`).

    Raises:
        TransportError: the host could not be reached or a command timed out.
    """
    if not commands:
        return []
    if len(commands) > 1 and isinstance(transport, Batcher):
        return transport.run_many(commands)
    return [transport.run(c.argv, stdin=c.stdin, timeout=c.timeout, check=False) for c in commands]


# -- the batch script (pure) -------------------------------------------------------------------

_PREAMBLE = """d=$(mktemp -d) || exit 125
trap 'rm -rf "$d"' EXIT
s=
r() {
  i=$1; n=$2; shift 2
  if [ "$n" -gt 0 ]; then
    dd bs=1 count="$n" of="$d/$i.i" 2>/dev/null
    (exec "$@") <"$d/$i.i" >"$d/$i.o" 2>"$d/$i.e"; c=$?
  else
    (exec "$@") </dev/null >"$d/$i.o" 2>"$d/$i.e"; c=$?
  fi
  s="$s $c"
}
"""
"""Fixed text. ``r I N ARGV...`` runs ARGV (never a shell function or builtin: ``exec`` in a
subshell) with the next N bytes of stdin (copied to a file first, so a command that reads less
than its share cannot leave bytes for the next one), its stdout and stderr into files numbered
I, and appends its exit status to ``$s``. After the last command the script prints the statuses
on one line, the sizes of every output file (one ``stat``), then all of them (one ``cat``): a
batch costs the host its commands plus four processes, and one ``dd`` per command with stdin."""


def _ref(i: int) -> str:
    return f'"${{{i}}}"'


def batch_script(shape: Sequence[int]) -> str:
    """The script for commands of ``shape[k]`` arguments each: one ``r`` call per command whose
    arguments are positional references only (``"${7}"``); the values are never in the text,
    which is made of the fixed preamble, command numbers and parameter numbers."""
    lines = [_PREAMBLE]
    pos = 1
    files = []
    for number, count in enumerate(shape, 1):
        refs = " ".join(_ref(i) for i in range(pos, pos + count + 1))
        lines.append(f"r {number} {refs}\n")
        files.append(f'"$d/{number}.o" "$d/{number}.e"')
        pos += count + 1
    listed = " ".join(files)
    lines.append(f"echo $s\nstat -c %s {listed}\ncat {listed}\n")
    return "".join(lines)


def batch_argv(commands: Sequence[Command]) -> tuple[list[str], bytes]:
    """The one command (argv) and the stdin that run ``commands`` on a POSIX host."""
    params: list[str] = []
    stdin: list[bytes] = []
    for c in commands:
        data = c.stdin or b""
        params.append(str(len(data)))
        params.extend(c.argv)
        stdin.append(data)
    script = batch_script([len(c.argv) for c in commands])
    return ["sh", "-c", script, "sh", *params], b"".join(stdin)


def batchable(command: Command) -> bool:
    """Whether ``command`` can go in a batch (its stdin is small enough)."""
    return len(command.stdin or b"") <= MAX_BATCH_STDIN


class BatchUnavailable(TransportError):
    """The host could not run the batch script at all (the caller runs the commands singly)."""


def parse_batch_output(
    host: str, commands: Sequence[Command], result: CommandResult
) -> list[CommandResult]:
    """The per-command results framed in the batch script's stdout (pure).

    Raises:
        BatchUnavailable: the script could not start (no temporary directory on the host).
        TransportError: the output is cut short or not in the script's format.
    """
    if result.rc == UNAVAILABLE and not result.stdout:
        raise BatchUnavailable(f"{host}: cannot run a command batch (mktemp -d failed)")
    out = result.stdout
    pos = 0
    results: list[CommandResult] = []

    def line_bytes() -> bytes:
        nonlocal pos
        end = out.find(b"\n", pos)
        if end < 0:
            raise ValueError("missing header line")
        value = out[pos:end]
        pos = end + 1
        return value

    def number() -> int:
        return int(line_bytes())

    try:
        status_line = line_bytes()
        statuses = [int(x) for x in status_line.split()]
        if len(statuses) != len(commands):
            raise ValueError(f"{len(statuses)} exit statuses for {len(commands)} commands")
        sizes = [(number(), number()) for _ in commands]
        for c, rc, (n_out, n_err) in zip(commands, statuses, sizes, strict=True):
            if n_out < 0 or n_err < 0 or pos + n_out + n_err > len(out):
                raise ValueError("output shorter than announced")
            stdout = out[pos : pos + n_out]
            stderr = out[pos + n_out : pos + n_out + n_err]
            pos += n_out + n_err
            results.append(CommandResult(c.argv, rc, stdout, stderr))
    except ValueError as exc:
        tail = result.stderr.decode("utf-8", "replace").strip()[-500:]
        raise TransportError(
            f"{host}: the command batch ended early after {len(results)} of {len(commands)} "
            f"commands (exit {result.rc}): {exc}" + (f": {tail}" if tail else "")
        ) from None
    return results
