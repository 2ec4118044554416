"""A long-lived shell on the host that runs batches of commands sent on its stdin.

Every SSH command is a new session on the host: sshd forks, sets the session up and starts the
user's login shell (which may read start-up files) before our command even begins. A kept
connection (``drift --watch``) pays that on every cycle. The shell server is started once, in
one channel; its first line of stdin is the session's frame token, then it runs each request:

request:  ``<argv bytes> <seconds>\\n``, then every command as its stdin length and its
          argv, each field followed by the byte 0x01 and each command by the byte 0x02, then
          the commands' stdin one after the other. ``<seconds>`` bounds the request on the host.
response: each command's stdout and frame end, numbered from 1
          (:mod:`~checkpointctl.transport.framing`), exactly as the command batch answers.

The argv arrives as data and is split by the shell's own field splitting, on 0x02 into commands
and on 0x01 into arguments (``set -f``, no globbing): no argument is ever parsed as shell text,
and the script is fixed. An argument holding 0x01 or 0x02 cannot be framed this way and is never
sent here (:func:`encodable`); the caller runs it in a session of its own. Requests are answered
one at a time, in order.

A request is bounded on the host like any other command (:mod:`~checkpointctl.transport.hostbound`):
the server runs it in a child shell under ``timeout -k KILL_AFTER <seconds>`` (in the background,
to know its process group, with the server's stdin), which reads the request, runs its commands
through the batch's runner and frames their results. So a steady
request costs the host ``timeout``, a ``sh``, one ``dd`` (the argv) and the commands: no new
session, no file. The frame token reaches the child in its environment, never its argv (``ps``
shows argv to everyone), and the child takes it out of the environment before running anything.
When the bound ends a request, or ``timeout`` cannot run, the server ends with that status
(:data:`~checkpointctl.transport.hostbound.TIMED_OUT_STATUSES`,
:data:`~checkpointctl.transport.hostbound.CANNOT_RUN_STATUSES`): its stdin may hold the rest of
the request, so it could not answer another one, and the client gives the session up anyway.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.framing import RUNNER, split_frames
from checkpointctl.transport.hostbound import KILL_AFTER, seconds_text

FIELD = b"\x01"
COMMAND = b"\x02"
READY = b"ready\n"

REQUEST_CHILD = (
    r"""k=$t; unset t; t=$k
alen=$1 field=$2 command=$3
set -f
"""
    + RUNNER
    + r"""req=$(dd bs="$alen" count=1 iflag=fullblock 2>/dev/null) ||
  req=$(dd bs=1 count="$alen" 2>/dev/null)
k=0
IFS=$command
for cmd in $req; do
  IFS=$field
  set -- $cmd
  k=$((k + 1))
  r "$k" "$@"
done
exit 0
"""
)
"""Fixed text: the child shell that answers one request (see the module docstring); ``$1`` is
the request's argv length, ``$2`` and ``$3`` the field and command separators, ``$t`` in its
environment the frame token, which it makes an ordinary variable again (not passed on to the
commands). A request's argv is read with one ``dd``: ``iflag=fullblock`` reads exactly ``alen``
bytes in a few calls; a ``dd`` without it refuses the flag before reading anything, and the
request is read one byte per call instead (exact on every POSIX ``dd``, slow for a large
request)."""

SERVER_SETUP = (
    r"""seps=$(printf '\001\002')
field=${seps%?}
command=${seps#?}
set -f
exec 4<&0
child="""
    + shlex.quote(REQUEST_CHILD)
    + "\n"
)
"""Fixed text: what a shell needs before it can answer requests (the token is in ``$t``; fd 4
is its stdin, for the requests it runs in the background). The child's text is a constant,
quoted once here."""

REQUEST = (
    r"""t=$t timeout -k """
    + seconds_text(KILL_AFTER)
    + r""" "$tmo" sh -c "$child" sh "$alen" "$field" "$command" <&4 4<&- &
p=$!
wait "$p"
c=$?
case $c in
0) ;;
124|137) kill -s KILL -- "-$p" 2>/dev/null; exit "$c";;
*) exit "$c";;
esac
"""
)
"""Fixed text: answer one request of ``$alen`` argv bytes within ``$tmo`` seconds (see the
module docstring), or end the server with the status of the bound that stopped it, after
killing what is left of the request's process group, as
:data:`~checkpointctl.transport.hostbound.BOUND_SCRIPT` does for one command."""

SERVER_SCRIPT = (
    "IFS= read -r t || exit 125\n"
    + SERVER_SETUP
    + "echo ready\nwhile IFS=' ' read -r alen tmo; do\n"
    + REQUEST
    + "done\n"
)
"""Fixed text: the loop described in the module docstring."""


def encodable(argv: Sequence[str]) -> bool:
    """Whether argv can travel in a request (no argument holds a separator byte)."""
    return all("\x01" not in arg and "\x02" not in arg for arg in argv)


def encode_request(
    commands: Sequence[tuple[Sequence[str], bytes | None]], *, timeout: float
) -> bytes:
    """The bytes of one request running ``commands`` (argv, stdin) in order, bounded on the
    host to ``timeout`` seconds (pure).

    Raises:
        ValueError: an argument holds a separator (check :func:`encodable` first).
    """
    parts: list[bytes] = []
    stdins: list[bytes] = []
    for argv, stdin in commands:
        if not encodable(argv):
            raise ValueError("an argument holds the byte 0x01 or 0x02; run it in a session")
        data = stdin or b""
        fields = [str(len(data)), *argv]
        parts.append(b"".join(a.encode("utf-8", "surrogateescape") + FIELD for a in fields))
        stdins.append(data)
    args = COMMAND.join(parts) + COMMAND
    return f"{len(args)} {seconds_text(timeout)}\n".encode() + args + b"".join(stdins)


def decode_response(
    argvs: Sequence[tuple[str, ...]], buffer: bytes, token: str
) -> tuple[list[CommandResult], int] | None:
    """The results of a request of ``len(argvs)`` commands at the start of ``buffer`` and how
    many bytes they took, or None when the buffer does not hold them all yet (pure).

    Raises:
        ValueError: the buffer does not hold the request's frames.
    """
    results, pos, garbage = split_frames(argvs, buffer, token)
    if garbage is not None:
        raise ValueError(garbage)
    return (results, pos) if len(results) == len(argvs) else None
