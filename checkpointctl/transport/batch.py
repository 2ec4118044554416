"""Several commands in one round trip: ``run_many``, and the batch script the SSH transport uses.

Over SSH each command is a new channel, and on the host a new session: sshd forks, sets the
session up and starts a shell. That costs far more than the commands a ``drift`` reads with
(``nft``, ``stat``, ``sha256sum``), so a host's reads go out together:
:func:`run_many` runs a list of commands and returns one :class:`CommandResult` each, exactly as
:meth:`Transport.run` with ``check=False`` would have.

Every transport has ``run_many`` (:class:`~checkpointctl.transport.base.BatchRunner`); the local
one runs the commands one after the other (:func:`run_each`). The SSH transport sends the whole
list as one ``sh -c`` of :func:`batch_argv`'s fixed script: every argument travels as a positional
parameter of that script (shell-quoted by the transport like any argv), the script text itself is
built from nothing but the *number* of arguments of each command, so no value is ever parsed by the
remote shell. The channel's stdin carries a fresh frame token first, then each command's stdin, one
after the other, handed to it through ``dd bs=1 count=N`` (exact on every POSIX ``dd``: a command
can neither read its neighbour's bytes nor leave its own unread). Each command's stdout comes back
as it is, followed by a frame end holding its exit status and stderr
(:mod:`~checkpointctl.transport.framing`), so any stdout bytes survive and no file is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from checkpointctl.errors import TransportError
from checkpointctl.transport import statshare
from checkpointctl.transport.base import Command, CommandResult, CommandRunner, Transport
from checkpointctl.transport.checkfunction import runner_form
from checkpointctl.transport.framing import PROCESS_GROUP, RUNNER, process_group, split_frames

#: Commands with more stdin than this go on their own: ``dd bs=1`` reads one byte per call.
MAX_BATCH_STDIN = 64 * 1024


def run_many(transport: Transport, commands: Sequence[Command]) -> list[CommandResult]:
    """Run ``commands`` on ``transport`` and return one result each (never checked: the caller
    decides what a non-zero exit means, e.g. with :func:`~checkpointctl.transport.command.finish`).

    A single command goes to :meth:`~checkpointctl.transport.base.CommandRunner.run`: a batch
    of one would only wrap it in the batch script.

    Raises:
        TransportError: the host could not be reached or a command timed out.
    """
    if not commands:
        return []
    if len(commands) > 1:
        return transport.run_many(commands)
    c = commands[0]
    return [transport.run(c.argv, stdin=c.stdin, timeout=c.timeout, check=False)]


def run_each(runner: CommandRunner, commands: Sequence[Command]) -> list[CommandResult]:
    """``run_many`` for a transport whose commands cost no round trip (the local one): each
    command in turn, unchecked."""
    return [runner.run(c.argv, stdin=c.stdin, timeout=c.timeout, check=False) for c in commands]


# -- the batch script (pure) -------------------------------------------------------------------

_PREAMBLE = "IFS= read -r t || exit 125\n" + PROCESS_GROUP + 'printf "%s\\n" "$g"\n' + RUNNER
"""Fixed text: the frame token from the first line of stdin, the script's process group as the
first line of its output (:data:`~checkpointctl.transport.framing.PROCESS_GROUP`: what the
controller kills when the batch outlives its timeout), then the shared runner ``r``
(:data:`~checkpointctl.transport.framing.RUNNER`). A batch costs the host its commands, and a
``dd`` and a ``cat`` per command with stdin: nothing else, and no file."""


def _ref(i: int) -> str:
    return f'"${{{i}}}"'


def batch_script(shape: Sequence[int], shared: int = 0, drop_before: int | None = None) -> str:
    """The script for commands of ``shape[k]`` arguments each: one ``r`` call per command whose
    arguments are positional references only (``"${7}"``); the values are never in the text,
    which is made of the fixed preamble, command numbers and parameter numbers.

    With ``shared`` > 0 the first ``shared`` parameters are ``cp_pf``'s, which runs first
    (:mod:`~checkpointctl.transport.statshare`); its answer is dropped before command number
    ``drop_before`` (counted from 1), the first that may change the host."""
    lines = [_PREAMBLE]
    pos = 1
    if shared:
        refs = " ".join(_ref(i) for i in range(1, shared + 1))
        lines.append(f"{statshare.PREFETCH_FUNCTION}cp_pf {refs}\n")
        pos += shared
    for number, count in enumerate(shape, 1):
        if shared and number == drop_before:
            lines.append("unset cp_ps cp_pl\n")
        refs = " ".join(_ref(i) for i in range(pos, pos + count + 1))
        lines.append(f"r {number} {refs}\n")
        pos += count + 1
    return "".join(lines)


def batch_argv(commands: Sequence[Command], token: str) -> tuple[list[str], bytes]:
    """The one command (argv) and the stdin that run ``commands`` on a POSIX host, framing
    their results with ``token`` (see :func:`~checkpointctl.transport.framing.new_token`).
    Reads that share a ``stat`` get one, before the first command
    (:mod:`~checkpointctl.transport.statshare`); a script that starts with the safe-path check
    goes without it, which the runner defines once
    (:func:`~checkpointctl.transport.checkfunction.runner_form`)."""
    params = statshare.prefetch_params(commands)
    shared = len(params)
    stdin: list[bytes] = [token.encode() + b"\n"]
    for c in commands:
        data = c.stdin or b""
        params.append(str(len(data)))
        params.extend(runner_form(c.argv))
        stdin.append(data)
    drop_before = next((k for k, c in enumerate(commands, 1) if not c.changes_nothing), None)
    script = batch_script([len(c.argv) for c in commands], shared, drop_before)
    return ["sh", "-c", script, "sh", *params], b"".join(stdin)


def batchable(command: Command) -> bool:
    """Whether ``command`` can go in a batch (its stdin is small enough)."""
    return len(command.stdin or b"") <= MAX_BATCH_STDIN


def batch_group(stdout: bytes) -> int | None:
    """The process group the batch script named on its first line, from as much of its output
    as arrived (None: not arrived, or none named) (pure)."""
    line, newline, _ = stdout.partition(b"\n")
    return process_group(line) if newline else None


def parse_batch_output(
    host: str, commands: Sequence[Command], result: CommandResult, token: str
) -> list[CommandResult]:
    """The per-command results framed in the batch script's stdout with ``token``, after its
    process group's line (pure).

    Raises:
        TransportError: the output is cut short or not in the script's format.
    """
    _, _, framed = result.stdout.partition(b"\n")
    results, _, problem = split_frames([c.argv for c in commands], framed, token)
    if problem is None and len(results) < len(commands):
        problem = "output shorter than announced"
    if problem is not None:
        tail = result.stderr.decode("utf-8", "replace").strip()[-500:]
        raise TransportError(
            f"{host}: the command batch ended early after {len(results)} of {len(commands)} "
            f"commands (exit {result.rc}): {problem}" + (f": {tail}" if tail else "")
        )
    return results


__all__ = [
    "MAX_BATCH_STDIN",
    "Command",
    "batch_argv",
    "batch_group",
    "batch_script",
    "batchable",
    "parse_batch_output",
    "run_each",
    "run_many",
]
