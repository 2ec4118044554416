"""A remote command's timeout holds on the host itself, not only in the controller (pure).

When the controller stops waiting for a command over SSH it closes the command's channel, and
that is all it can do: sshd does not signal a command that runs without a terminal, so the
command runs on, orphaned, until it ends by itself (an ``apt-get -s upgrade`` that ``status``
gave up on, a ``sleep``, a hung ``docker``). Through ``sudo`` it is the same, one process deeper.
So every command the SSH transport runs with a timeout is started under coreutils ``timeout``
on the host, ``timeout -k KILL_AFTER SECONDS argv...``, inside ``sudo`` when the transport
escalates, so the bound runs as the command's own user and can kill it. ``timeout`` puts the
command in a process group of its own; at SECONDS it sends that group SIGTERM, and SIGKILL
:data:`KILL_AFTER` seconds later if the command is still there. One gap remains in ``timeout``
alone: it exits as soon as its own child does, so a grandchild that ignores SIGTERM (or takes
its time) outlives it. So ``timeout`` runs under a small fixed shell script (:data:`BOUND_SCRIPT`,
every value a positional parameter, argv never becomes shell text) that waits for it and, when
the bound fired, kills whatever is left of its process group. The controller waits the bound,
:data:`KILL_AFTER` and :data:`ANSWER_SLACK` for the answer (:func:`controller_wait`), so by the
time it stops waiting nothing of the command is left on the host. The host lock's held shell
does the same for each request itself (:mod:`~checkpointctl.transport.shellserver`). The
command batch and the kept shell, the reads of every drift and watch cycle, start no process
for their bound: they name their process group first
(:data:`~checkpointctl.transport.framing.PROCESS_GROUP`) and the controller kills it when they
outlive their timeout. A process that left the group on purpose
(``setsid``, as the firewall's rollback timer does) is not the command's any more and is left
alone.

A command the host's bound ended is recognised by its status, not its message: ``timeout``
answers 124 when SIGTERM ended the command, 137 when SIGKILL was needed (it kills itself with
the command, and the script reports it). A command can end with those statuses on its own too
(an OOM kill is 137), so a status counts as a timeout only when the controller has waited at
least SECONDS: ``timeout`` cannot fire earlier, and the host started counting after the
controller did (:func:`timed_out`).

A host without ``timeout`` (every Debian, Ubuntu and RHEL has it: coreutils) cannot bound a
command, so no command is run there unbounded: the transport finds out with :data:`PROBE` when a
command fails before any has succeeded, and answers
:class:`~checkpointctl.errors.HostBoundMissing` for every command of that connection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

KILL_AFTER = 3.0
"""Seconds between the host's SIGTERM and its SIGKILL for a command still running: long enough
for a command that handles SIGTERM (``apt-get``, ``docker``) to clean up after itself."""

ANSWER_SLACK = 5.0
"""How much longer than the host's bound the controller waits for the answer: the command
starts on the host after the controller starts counting (a channel, sshd's fork, ``sudo``) and
its status still has to travel back."""

TIMED_OUT_STATUSES = frozenset({124, 137})
"""Exit statuses of a command ended by ``timeout``: 124 (SIGTERM sufficed), 137 (SIGKILL)."""

CANNOT_RUN_STATUSES = frozenset({126, 127})
"""What a shell answers when ``timeout`` is not on the PATH or not executable (126/127), and
``timeout`` itself when it cannot start its command."""

PROBE_SECONDS = 10.0
"""The probe's own bound: it runs ``true``."""

MIN_SECONDS = 0.001
"""The shortest bound written: ``timeout 0`` would mean no bound at all."""


def seconds_text(seconds: float) -> str:
    """``seconds`` as ``timeout`` reads a duration: plain decimal, at most three decimals, never
    ``0`` (which disables the bound) and never an exponent.

    Raises:
        ValueError: ``seconds`` is not a finite number.
    """
    if not math.isfinite(seconds):
        raise ValueError(f"a command's timeout must be a finite number of seconds, not {seconds}")
    return f"{max(seconds, MIN_SECONDS):.3f}".rstrip("0").rstrip(".")


BOUND_SCRIPT = """k=$1 s=$2
shift 2
exec 4<&0
timeout -k "$k" "$s" "$@" <&4 4<&- &
p=$!
exec 4<&-
wait "$p"
c=$?
case $c in 124|137) kill -s KILL -- "-$p" 2>/dev/null;; esac
exit "$c"
"""
"""Fixed text, run as ``sh -c BOUND_SCRIPT sh KILL_AFTER SECONDS ARGV...``: ``timeout`` runs
ARGV in the background (the only way to learn its pid, which is its process group's id), with
the script's own stdin (a background job's would otherwise be ``/dev/null``); once it has ended
with a timeout's status, whatever is left in its group is killed. The script's status is
``timeout``'s: ARGV's own, or :data:`TIMED_OUT_STATUSES`, or 127 when ``timeout`` is not there."""


def bounded(argv: Sequence[str], seconds: float) -> tuple[str, ...]:
    """``argv`` run under the host's bound of ``seconds`` (see the module docstring).

    ``timeout`` stops reading options at its first operand (the duration, a plain number), so
    argv's own arguments are never taken as its options.
    """
    return ("sh", "-c", BOUND_SCRIPT, "sh", seconds_text(KILL_AFTER), seconds_text(seconds), *argv)


#: The command that tells whether the host can bound commands: the bound itself, around ``true``.
PROBE: tuple[str, ...] = bounded(("true",), PROBE_SECONDS)
#: How messages name :data:`PROBE` (its script is not worth showing).
PROBE_SHOWN: tuple[str, ...] = (
    "timeout",
    "-k",
    seconds_text(KILL_AFTER),
    seconds_text(PROBE_SECONDS),
    "true",
)


def controller_wait(seconds: float) -> float:
    """How long the controller waits for a command bounded to ``seconds`` on the host: the
    bound, the host's grace before SIGKILL, and :data:`ANSWER_SLACK`."""
    return seconds + KILL_AFTER + ANSWER_SLACK


def timed_out(status: int, elapsed: float, seconds: float) -> bool:
    """Whether a bounded command that ended with ``status`` after ``elapsed`` seconds (as the
    controller measured them) was ended by the host's bound of ``seconds``."""
    return status in TIMED_OUT_STATUSES and elapsed >= float(seconds_text(seconds))


def did_not_finish(host: str, label: str, seconds: float) -> str:
    """The message of a command that timed out, whoever ended it."""
    return f"{host}: `{label}` did not finish within {seconds:g}s"


__all__ = [
    "ANSWER_SLACK",
    "BOUND_SCRIPT",
    "CANNOT_RUN_STATUSES",
    "KILL_AFTER",
    "PROBE",
    "PROBE_SECONDS",
    "PROBE_SHOWN",
    "TIMED_OUT_STATUSES",
    "bounded",
    "controller_wait",
    "did_not_finish",
    "seconds_text",
    "timed_out",
]
