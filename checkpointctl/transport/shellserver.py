"""A long-lived shell on the host that runs batches of commands sent on its stdin.

Every SSH command is a new session on the host: sshd forks, sets the session up and starts the
user's login shell (which may read start-up files) before our command even begins. A kept
connection (``drift --watch``) pays that on every cycle. The shell server is started once, in
one channel; its first line of stdin is the session's frame token, then it runs each request:

request:  ``<argv bytes>\\n`` (the held shell: ``<argv bytes> <seconds>\\n``, its bound on
          the host), then every command as its stdin length and its argv, each field followed
          by the byte 0x01 and each command by the byte 0x02, then the commands' stdin one after
          the other.
response: each command's stdout and frame end, numbered from 1
          (:mod:`~checkpointctl.transport.framing`), exactly as the command batch answers.

The argv arrives as data and is split by the shell's own field splitting, on 0x02 into commands
and on 0x01 into arguments (``set -f``, no globbing): no argument is ever parsed as shell text,
and the script is fixed. An argument holding 0x01 or 0x02 cannot be framed this way and is never
sent here (:func:`encodable`); the caller runs it in a session of its own. Requests are answered
one at a time, in order.

Two servers speak this protocol, and their requests are bounded differently:

- the kept shell (:data:`SERVER_SCRIPT`, ``drift --watch``) runs a request in itself, so a steady
  request costs the host one ``dd`` (the argv) and the commands: no new session, no process of
  its own. It says ``ready PGID`` when it starts: its process group, which holds it and all it
  runs (an SSH session's command leads a group of its own; under ``sudo``, sudo's). When a
  request outlives its timeout, the controller kills that group through a new channel
  (:class:`~checkpointctl.transport.ssh.shell.ShellSession`) and gives the session up: nothing
  of the request runs on, and a watch cycle pays nothing for the bound. (A connection that dies
  mid-request cannot send the kill: the request then ends when its commands do, and the server
  at the end of its input.)
- the host lock's held shell (:mod:`~checkpointctl.engine.lock`) runs each request in a child
  shell under ``timeout -k KILL_AFTER <seconds>`` (:data:`BOUNDED_REQUEST`, in the background,
  to know its process group, with the server's stdin), bounded on the host like any other
  command (:mod:`~checkpointctl.transport.hostbound`): killing its group from outside would end
  the lock itself. The frame token reaches the child in its environment, never its argv (``ps``
  shows argv to everyone), and the child takes it out of the environment before running
  anything. When the bound ends a request, or ``timeout`` cannot run, the server ends with that
  status (:data:`~checkpointctl.transport.hostbound.TIMED_OUT_STATUSES`,
  :data:`~checkpointctl.transport.hostbound.CANNOT_RUN_STATUSES`): its stdin may hold the rest
  of the request, so it could not answer another one, and the client gives the session up.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.checkfunction import runner_form
from checkpointctl.transport.framing import PROCESS_GROUP, RUNNER, process_group, split_frames
from checkpointctl.transport.hostbound import KILL_AFTER, seconds_text

FIELD = b"\x01"
COMMAND = b"\x02"

IN_PROCESS = r"""req=$(dd bs="$alen" count=1 iflag=fullblock 2>/dev/null) ||
  req=$(dd bs=1 count="$alen" 2>/dev/null)
k=0
IFS=$command
for cmd in $req; do
  IFS=$field
  set -- $cmd
  k=$((k + 1))
  r "$k" "$@"
done
"""
"""Fixed text: read one request of ``$alen`` argv bytes and run its commands through the batch's
runner, framing their results (``$t`` the token, ``$field``/``$command`` the separators). A
request's argv is read with one ``dd``: ``iflag=fullblock`` reads exactly ``alen`` bytes in a
few calls; a ``dd`` without it refuses the flag before reading anything, and the request is
read one byte per call instead (exact on every POSIX ``dd``, slow for a large request). It sets
the positional parameters: a script that needs its own saves them first."""

REQUEST_CHILD = (
    r"""k=$t; unset t; t=$k
alen=$1 field=$2 command=$3
set -f
"""
    + RUNNER
    + IN_PROCESS
    + "exit 0\n"
)
"""Fixed text: the held shell's child that answers one request (see the module docstring);
``$1`` is the request's argv length, ``$2`` and ``$3`` the field and command separators, ``$t``
in its environment the frame token, which it makes an ordinary variable again (not passed on to
the commands)."""

SEPARATORS = r"""seps=$(printf '\001\002')
field=${seps%?}
command=${seps#?}
set -f
"""
"""Fixed text: the field and command separators, and no globbing."""

SERVER_SETUP = (
    SEPARATORS
    + r"""exec 4<&0
child="""
    + shlex.quote(REQUEST_CHILD)
    + "\n"
)
"""Fixed text: what the held shell needs before it can answer requests (the token is in ``$t``;
fd 4 is its stdin, for the requests it runs in the background). The child's text is a
constant, quoted once here."""

BOUNDED_REQUEST = (
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
"""Fixed text: the held shell answers one request of ``$alen`` argv bytes within ``$tmo``
seconds (see the module docstring), or ends with the status of the bound that stopped it, after
killing what is left of the request's process group, as
:data:`~checkpointctl.transport.hostbound.BOUND_SCRIPT` does for one command."""

SERVER_SCRIPT = (
    "IFS= read -r t || exit 125\n"
    + PROCESS_GROUP
    + SEPARATORS
    + RUNNER
    + 'echo "ready $g"\nwhile IFS= read -r alen; do\n'
    + IN_PROCESS
    + "IFS=' '\ndone\n"
)
"""Fixed text: the kept shell's loop described in the module docstring."""


def parse_ready(line: bytes) -> int | None:
    """The kept shell's first line → its process group, or None where it named none (pure).

    Raises:
        ValueError: it is not the server's ``ready`` line.
    """
    word, _, group = line.rstrip(b"\n").partition(b" ")
    if word != b"ready" or not line.endswith(b"\n"):
        raise ValueError("not the kept shell's ready line")
    return process_group(group)


def encodable(argv: Sequence[str]) -> bool:
    """Whether argv can travel in a request (no argument holds a separator byte)."""
    return all("\x01" not in arg and "\x02" not in arg for arg in argv)


def encode_request(
    commands: Sequence[tuple[Sequence[str], bytes | None]], *, bound: float | None
) -> bytes:
    """The bytes of one request running ``commands`` (argv, stdin) in order (pure; a script
    that starts with the safe-path check goes without it, see
    :func:`~checkpointctl.transport.checkfunction.runner_form`); ``bound``:
    the held shell's bound on the host, in seconds (None for the kept shell, whose requests the
    controller bounds).

    Raises:
        ValueError: an argument holds a separator (check :func:`encodable` first).
    """
    parts: list[bytes] = []
    stdins: list[bytes] = []
    for argv, stdin in commands:
        if not encodable(argv):
            raise ValueError("an argument holds the byte 0x01 or 0x02; run it in a session")
        data = stdin or b""
        fields = [str(len(data)), *runner_form(argv)]
        parts.append(b"".join(a.encode("utf-8", "surrogateescape") + FIELD for a in fields))
        stdins.append(data)
    args = COMMAND.join(parts) + COMMAND
    head = f"{len(args)}" if bound is None else f"{len(args)} {seconds_text(bound)}"
    return f"{head}\n".encode() + args + b"".join(stdins)


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
