"""What the local and SSH processes share: reading lines from their output, keeping a tail of
their stderr.

:meth:`~checkpointctl.transport.base.CommandRunner.run` runs a command to completion. A few
things need a command that *stays* running while the controller works and dies with it: the
host lock is a ``flock`` whose child reads the controller's stdin, so the lock is released by
the kernel the moment the controller's connection goes away (``kill -9`` included) and no stale
lock can outlive its holder. Both transports start one with
:meth:`~checkpointctl.transport.base.ProcessRunner.spawn`, which answers a
:class:`~checkpointctl.transport.base.HostProcess`.
"""

from __future__ import annotations

#: How much of a process's stderr is kept for error messages (the tail).
STDERR_KEEP = 4096


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


__all__ = ["STDERR_KEEP", "keep_tail", "split_line"]
