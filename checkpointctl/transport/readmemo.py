"""Reads answered from the last answer while the files behind them are unchanged (kept connections).

A ``drift --watch`` cycle reads every host again, and on a quiet host most of those reads answer
exactly what they answered the cycle before, at the cost of a process or two each (``stat``,
``sha256sum``, ``grep``...). A read command whose answer depends only on files says which files
(:class:`~checkpointctl.transport.base.Watch`); on a kept connection, :class:`ReadMemo` puts one
``stat`` of all of them (the *probe*) before the reads, in the same request. On the next request
of the same reads, the probe goes first with only the commands that must always run (``nft``);
when its answer is byte for byte the last one, the watched commands' last answers are this
cycle's, otherwise they are read again (a second round trip, only on a host that changed).

Why an equal probe proves an equal answer: the probe lists, for every watched path, every match
of every watched pattern and every directory on their way, the inode, link count, size, type and
mode, owner, group, modification and *change* time (nanoseconds). Any write, chmod, chown,
rename, link or unlink sets the change time of what it touches (or of the directory whose
entries changed) to the kernel's clock, and nothing sets it back. The probe runs before the reads
it covers, so a change after the probe shows in the next one, with one exception: a change in
the same clock tick as the last one before the probe can leave every field equal. So an answer
is only kept when no change time is within :data:`RACY_SECONDS` of the host's clock at the probe
(the change time procfs gives ``/proc/self/fd/0`` when the probe looks it up); a host whose
files keep changing is simply read in full.

Nothing here knows what the commands read: only argv, answers and paths. A host without GNU
``stat`` (its answer does not parse) is read in full from then on.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from checkpointctl.transport.base import Command, CommandResult, Watch, watched

RACY_SECONDS = 2.0
"""An answer read within this long of the last change of a file it depends on is not kept."""

NOW_PATH = "/proc/self/fd/0"
"""The probe's first path: procfs sets its change time when it is looked up, i.e. now."""

_FIELDS = 10
_PROBE_SCRIPT = """n=$1; shift
k=$#
i=0
IFS=
for a do
  i=$((i+1))
  if [ "$i" -le "$n" ]; then
    set -- "$@" "$a"
  else
    for f in $a; do [ -e "$f" ] || [ -L "$f" ] && set -- "$@" "${f%/*}" "$f"; done
  fi
done
shift "$k"
exec stat -c '%d %i %h %s %f %u %g %.9Y %.9Z %n' -- /proc/self/fd/0 "$@"
"""
"""Fixed text: ``$1`` the number of plain paths that follow, then the patterns, each expanded
here (no field splitting); ``stat`` of the host's clock, then every path and every match with
its directory (a pattern that matches nothing adds nothing). ``stat`` exits 1 when a plain
path does not exist, which is an answer like any other."""


class Probe(enum.Enum):
    """What a probe's answer allows."""

    KEEP = "keep"
    """Parsed, nothing changed recently, nothing that must be absent is there."""
    READ = "read"
    """Parsed, but the answers behind it must be read again next time (a recent change, or a
    path of :attr:`~checkpointctl.transport.base.Watch.absent` exists)."""
    UNUSABLE = "unusable"
    """Not the answer of GNU ``stat`` on Linux: the memo is turned off for this connection."""


def probe_command(watches: Iterable[Watch]) -> Command:
    """The one ``stat`` covering every path of ``watches`` (pure; the same watches give the
    same command, whatever their order)."""
    plain, patterns = watched(watches)
    return Command(("sh", "-c", _PROBE_SCRIPT, "sh", str(len(plain)), *plain, *patterns))


def _nanoseconds(field: bytes) -> int:
    seconds, _, fraction = field.partition(b".")
    if not seconds.isdigit() or not fraction.isdigit() or len(fraction) != 9:
        raise ValueError("not a time in nanoseconds")
    return int(seconds) * 1_000_000_000 + int(fraction)


def judge(
    answer: CommandResult, absent: Iterable[str], racy_seconds: float = RACY_SECONDS
) -> Probe:
    """What the probe's ``answer`` allows (pure): see :class:`Probe`."""
    if answer.rc not in (0, 1):
        return Probe.UNUSABLE
    lines = answer.stdout.split(b"\n")
    if not lines or lines[-1] != b"":
        return Probe.UNUSABLE
    rows = [line.split(b" ", _FIELDS - 1) for line in lines[:-1]]
    if not rows or any(len(row) != _FIELDS for row in rows) or rows[0][-1] != NOW_PATH.encode():
        return Probe.UNUSABLE
    try:
        now = _nanoseconds(rows[0][8])
        changed = [_nanoseconds(row[8]) for row in rows[1:]]
    except ValueError:
        return Probe.UNUSABLE
    gone = {p.encode() for p in absent}
    racy = now - int(racy_seconds * 1_000_000_000)
    if any(c >= racy for c in changed) or any(row[-1] in gone for row in rows[1:]):
        return Probe.READ
    return Probe.KEEP


def fingerprint(answer: CommandResult) -> tuple[int, bytes]:
    """What must be equal in two answers of the same probe (pure): everything but the clock's
    line, which differs every time."""
    _, _, rest = answer.stdout.partition(b"\n")
    return answer.rc, rest


@dataclass(frozen=True, slots=True)
class _Kept:
    probe: Command
    fingerprint: tuple[int, bytes]
    results: dict[Command, CommandResult]


Run = Callable[[Sequence[Command]], list[CommandResult]]
"""A transport's ``run_many``: one result per command, in order."""


class ReadMemo:
    """The last answers of one connection's watched reads, and the probe that covers them.

    One per kept connection (answers depend on the connection: ``SSH_CONNECTION``, the user a
    command runs as); used by one thread at a time, as a transport is. ``hits`` counts the
    requests answered from memory (what a test or benchmark checks). ``racy_seconds`` is
    :data:`RACY_SECONDS` but in tests of what a kept answer does."""

    def __init__(self, racy_seconds: float = RACY_SECONDS) -> None:
        self._racy_seconds = racy_seconds
        self._kept: _Kept | None = None
        self._off = False
        self.hits = 0

    def run_many(self, run: Run, commands: Sequence[Command]) -> list[CommandResult]:
        """``run(commands)``'s results, the watched ones from memory when the probe allows."""
        watched = list(dict.fromkeys(c for c in commands if c.watch is not None))
        if self._off or not watched:
            return run(commands)
        watches = [c.watch for c in watched if c.watch is not None]
        probe = probe_command(watches)
        absent = [p for w in watches for p in w.absent]
        kept = self._kept
        if kept is None or kept.probe != probe or kept.results.keys() != set(watched):
            fresh = run([probe, *commands])
            self._keep(probe, fresh[0], absent, dict(zip(commands, fresh[1:], strict=True)))
            return fresh[1:]
        rest = list(dict.fromkeys(c for c in commands if c.watch is None))
        first = run([probe, *rest])
        answers = dict(zip(rest, first[1:], strict=True))
        if fingerprint(first[0]) == kept.fingerprint:
            self.hits += 1
            return [answers[c] if c.watch is None else kept.results[c] for c in commands]
        again = run([probe, *watched])
        answers.update(zip(watched, again[1:], strict=True))
        self._keep(probe, again[0], absent, answers)
        return [answers[c] for c in commands]

    def _keep(
        self,
        probe: Command,
        answer: CommandResult,
        absent: Sequence[str],
        results: dict[Command, CommandResult],
    ) -> None:
        verdict = judge(answer, absent, self._racy_seconds)
        self._off = verdict is Probe.UNUSABLE
        if verdict is Probe.KEEP:
            watched = {c: r for c, r in results.items() if c.watch is not None}
            self._kept = _Kept(probe, fingerprint(answer), watched)
        else:
            self._kept = None
