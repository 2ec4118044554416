"""How a host script hands back several commands' results on one stream, without temporary files.

The command batch and the kept shell both run commands on a host and must return, for each, its
exit status, stdout and stderr through one channel. Nothing touches the host's disk: creating
and deleting files per batch costs a host more than the commands themselves (ext4's inode
allocator scanning recently deleted inodes), and reading them back costs processes. Instead:

- a command's stdout goes straight to the stream;
- its stderr is captured by the shell (``e=$(exec "$@" 2>&1 >&3 3>&-)``: the command itself
  replaces the substitution's subshell, so this costs no process beyond the command's own);
- then the shell writes a *frame end*: ``\\n<token> <index> <status>\\n<stderr>\\n<token>\\n``.

The token is 32 random hex digits sent on the script's stdin (not its argv, so ``ps`` on the
host does not show it) and known to nobody else, so no output can forge a frame end: splitting
the stream at ``\\n<token> `` is exact for any stdout bytes. stderr loses its trailing newlines
and NUL bytes (a shell variable holds it); it is only ever read as a message.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.checkfunction import CHECK_FUNCTION

RUNNER = (
    CHECK_FUNCTION
    + """exec 3>&1
v="t i n c e k req cmd alen field command seps word o rec aud owner last line v"
r() {
  i=$1; n=$2; shift 2
  if [ "$1" = sh ] && [ "$2" = -c ] && { [ "$#" -eq 3 ] || [ "$4" = sh ]; }; then
    s=$3
    if [ "$#" -ge 4 ]; then shift 4; else shift 3; fi
    if [ "$n" -gt 0 ]; then
      e=$(dd bs=1 count="$n" 2>/dev/null | {
        (unset IFS; unset $v; set +f; eval "$s") 2>&1 >&3 3>&-; c=$?
        cat >/dev/null; exit "$c"; }); c=$?
    else
      e=$(unset IFS; unset $v; set +f; eval "$s" 2>&1 >&3 3>&- </dev/null); c=$?
    fi
  elif [ "$n" -gt 0 ]; then
    e=$(dd bs=1 count="$n" 2>/dev/null |
      { (exec "$@") 2>&1 >&3 3>&-; c=$?; cat >/dev/null; exit "$c"; }); c=$?
  else
    e=$(exec "$@" 2>&1 >&3 3>&- </dev/null); c=$?
  fi
  printf '\\n%s %s %s\\n%s\\n%s\\n' "$t" "$i" "$c" "$e" "$t"
}
"""
)
"""Fixed shell text shared by the command batch and the kept shell. Expects the token in ``$t``.
It starts with the safe-path check's functions, which the scripts it runs then need not carry
(:mod:`~checkpointctl.transport.checkfunction`).

``r I N ARGV...`` runs ARGV with the next N bytes of the script's stdin, its stdout straight to
the stream and its stderr captured, then writes command I's frame end. A program runs through
``exec`` (never a shell function or builtin). ``sh -c SCRIPT [sh ARGS...]``, the form of our own
fixed scripts, runs in a subshell of this shell instead: ``eval`` of SCRIPT with ARGS as its
positional parameters, default ``IFS``, globbing on and none of this shell's variables (``$v``,
the token first), as a new ``sh`` would, without starting one (a process spared per fixed
script). No value becomes script text either way: SCRIPT is the fixed text ``sh -c`` would
have parsed. A command with stdin reads it from a pipe fed by ``dd bs=1 count=N`` (exact on
every POSIX ``dd``) whose rest is drained by ``cat``, so a command that reads less than its
share cannot leave bytes for the next one; no file is written."""


PROCESS_GROUP = r"""g=
if IFS= read -r g 2>/dev/null </proc/$$/stat; then
  g=${g##*) }; g=${g#* }; g=${g#* }; g=${g%% *}
else
  g=
fi
"""
"""Fixed text: ``$g``, this shell's process group, field 5 of ``/proc/$$/stat`` (after the
command name in parentheses, the state and the parent's pid), read with the builtin ``read``
and cut with parameter expansions: no process, and the positional parameters untouched. Empty
where there is no procfs. An SSH session's command leads a process group of its own (under
``sudo``, sudo's), so this group holds the script and everything it starts: what the controller
kills when the script outlives its timeout."""


def process_group(text: bytes) -> int | None:
    """A process group a script named (:data:`PROCESS_GROUP`'s ``$g``), or None when it named
    none or one never to kill (init's, or 0) (pure)."""
    return int(text) if text.isdigit() and int(text) > 1 else None


def new_token() -> str:
    """A fresh frame token: 128 random bits, as hex (no shell or regex metacharacter)."""
    return secrets.token_hex(16)


def split_frame(
    argv: tuple[str, ...], buffer: bytes, pos: int, token: str, index: int
) -> tuple[CommandResult, int] | None:
    """The result of command ``index`` framed in ``buffer`` from ``pos`` and where the next
    frame starts, or None when the buffer does not hold the whole frame yet (pure).

    Raises:
        ValueError: the frame end names another command or a status that is not a number.
    """
    mark = b"\n" + token.encode() + b" "
    at = buffer.find(mark, pos)
    if at < 0:
        return None
    head_start = at + len(mark)
    head_end = buffer.find(b"\n", head_start)
    if head_end < 0:
        return None
    number, _, status = buffer[head_start:head_end].partition(b" ")
    if int(number) != index:
        raise ValueError(f"frame of command {int(number)} where {index} was expected")
    rc = int(status)
    tail = b"\n" + token.encode() + b"\n"
    err_end = buffer.find(tail, head_end)
    if err_end < 0:
        return None
    stdout = bytes(buffer[pos:at])
    stderr = bytes(buffer[head_end + 1 : err_end])
    return CommandResult(argv, rc, stdout, stderr), err_end + len(tail)


def split_frames(
    argvs: Sequence[tuple[str, ...]], buffer: bytes, token: str
) -> tuple[list[CommandResult], int, str | None]:
    """The results of the commands ``argvs`` framed in order from the start of ``buffer``, as
    many as are whole there (fewer than asked when it is cut short), where they end, and why
    the next one is not a frame (None when it is only not there yet) (pure)."""
    results: list[CommandResult] = []
    pos = 0
    for index, argv in enumerate(argvs, 1):
        try:
            framed = split_frame(argv, buffer, pos, token, index)
        except ValueError as exc:
            return results, pos, str(exc)
        if framed is None:
            break
        result, pos = framed
        results.append(result)
    return results, pos, None
