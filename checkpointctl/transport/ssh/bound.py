"""Whether one SSH connection's host can bound its commands, learnt once per connection.

Every command the SSH transport runs is bounded on the host with coreutils ``timeout`` (see
:mod:`~checkpointctl.transport.hostbound`). Every Debian, Ubuntu and RHEL host has it, so it is
assumed, as the sudo rule is (:mod:`~checkpointctl.transport.ssh.privilege`): a command that
succeeds proves it, at no cost. Only when a command or a batch fails before one has succeeded
does the transport run :data:`~checkpointctl.transport.hostbound.PROBE` (the bound around
``true``, through sudo when the transport escalates) to tell a host without ``timeout`` from the
command's own failure. A host without it answers
:class:`~checkpointctl.errors.HostBoundMissing` for that command and every later one of the
connection, without another round trip: a command is never run unbounded instead.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from checkpointctl.errors import HostBoundMissing
from checkpointctl.transport import hostbound
from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.command import stderr_tail

ProbeRunner = Callable[[tuple[str, ...]], CommandResult]
"""Runs the probe's argv on the host as it is (as the transport runs commands, through sudo
when it escalates, but not bounded again); answers the result, unchecked."""


class BoundState(StrEnum):
    ASSUMED = "assumed"
    PROVEN = "proven"
    MISSING = "missing"


class HostBound:
    """What one connection knows about its host's ``timeout``."""

    def __init__(self, where: str) -> None:
        self._where = where
        self.state = BoundState.ASSUMED
        self._refusal = ""

    def require(self) -> None:
        """Raise when the host is known to lack the bound (nothing is run unbounded).

        Raises:
            HostBoundMissing: the probe found no usable ``timeout`` on this host.
        """
        if self.state is BoundState.MISSING:
            raise HostBoundMissing(self._refusal)

    def succeeded(self) -> None:
        """A bounded command ran: ``timeout`` is there."""
        if self.state is BoundState.ASSUMED:
            self.state = BoundState.PROVEN

    def prove(self, run: ProbeRunner, shown: str) -> None:
        """After a failure while the bound is only assumed: probe it (once per connection);
        ``shown`` names the probe in the error (``sudo … timeout -k 3 10 true``).

        Raises:
            HostBoundMissing: the host has no usable ``timeout``, naming the probe and its answer.
        """
        if self.state is BoundState.ASSUMED:
            result = run(hostbound.PROBE)
            if result.ok:
                self.state = BoundState.PROVEN
                return
            answer = stderr_tail(result.stderr) or f"exit {result.rc}"
            self.state = BoundState.MISSING
            self._refusal = missing_message(self._where, shown, answer)
        self.require()


def missing_message(where: str, shown: str, answer: str) -> str:
    """Why nothing runs on a host without ``timeout``, and what to do (pure)."""
    return (
        f"{where}: cannot bound commands on this host: `{shown}` failed: {answer}\n"
        "  hint: checkpointctl runs every remote command under coreutils `timeout`, so a "
        "command it stops waiting for is ended on the host instead of left running; install "
        "coreutils (or put a `timeout` on the PATH of the login user, and of sudo's secure_path "
        "with become)"
    )


__all__ = ["BoundState", "HostBound", "ProbeRunner", "missing_message"]
