"""Long-running commands on a host: an optional transport capability.

:meth:`Transport.run` runs a command to completion. A few things need a command that *stays*
running while the controller works and dies with it: the host lock is a ``flock`` whose child
reads the controller's stdin, so the lock is released by the kernel the moment the controller's
connection goes away (``kill -9`` included) and no stale lock can outlive its holder.

Transports that can do this (both of ours) have ``spawn(argv) -> HostProcess``; callers check
with ``isinstance(transport, Spawner)``, so a transport without it still satisfies the core
:class:`~checkpointctl.transport.base.Transport` protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

#: How much of a process's stderr is kept for error messages (the tail).
STDERR_KEEP = 4096


class HostProcess(Protocol):
    """A command started by :meth:`Spawner.spawn`, talking over its stdin and stdout."""

    def send(self, data: bytes) -> None:
        """Write ``data`` to the command's stdin.

        Raises:
            TransportError: the command or the connection is gone.
        """
        ...

    def read_line(self, timeout: float) -> bytes | None:
        """The next line of stdout (with its newline), ``b""`` at end of output, or None when
        nothing complete arrived within ``timeout`` seconds."""
        ...

    def close_stdin(self) -> None:
        """Signal end of input (the command sees EOF)."""
        ...

    def wait(self, timeout: float) -> int | None:
        """The exit status once the command ended, or None if it still runs after ``timeout``."""
        ...

    def stderr_tail(self) -> str:
        """The last :data:`STDERR_KEEP` bytes the command wrote to stderr, decoded."""
        ...

    def close(self) -> None:
        """Stop the command if it still runs and release its channel or pipes. Idempotent."""
        ...


@runtime_checkable
class Spawner(Protocol):
    """A transport that can start a long-running command (see the module docstring)."""

    def spawn(self, argv: Sequence[str]) -> HostProcess:
        """Start argv on the host without waiting for it.

        Raises:
            TransportError: the command could not be started.
        """
        ...


def split_line(buffer: bytearray) -> bytes | None:
    """Remove and return the first complete line of ``buffer`` (newline included), if any."""
    end = buffer.find(b"\n")
    if end < 0:
        return None
    line = bytes(buffer[: end + 1])
    del buffer[: end + 1]
    return line


def keep_tail(buffer: bytearray, data: bytes) -> None:
    """Append ``data`` to ``buffer`` keeping only the last :data:`STDERR_KEEP` bytes."""
    buffer.extend(data)
    if len(buffer) > STDERR_KEEP:
        del buffer[: len(buffer) - STDERR_KEEP]


__all__ = ["STDERR_KEEP", "HostProcess", "Spawner", "keep_tail", "split_line"]
