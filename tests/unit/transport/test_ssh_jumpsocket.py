"""JumpSocket: a close never overtakes a write in flight, and nothing is written after it.

The race it prevents (paramiko queues a channel's data after releasing the channel's lock, so a
close from another thread can go out first, and OpenSSH then drops the whole jump connection)
depends on thread timing and cannot be produced on demand on the lab; a stand-in channel that
holds a write until told makes the ordering deterministic here.
"""

from __future__ import annotations

import threading

import pytest

from checkpointctl.transport.ssh.jumps import JumpSocket


class HeldChannel:
    """Stand-in for a paramiko Channel: ``send`` waits until released; records what went out."""

    def __init__(self) -> None:
        self.wire: list[str] = []
        self.sending = threading.Event()
        self.release = threading.Event()

    def send(self, data: bytes) -> int:
        self.sending.set()
        self.release.wait(5)
        self.wire.append(f"data {data!r}")
        return len(data)

    def close(self) -> None:
        self.wire.append("close")


def test_a_close_waits_for_the_write_in_flight_and_later_writes_are_refused() -> None:
    channel = HeldChannel()
    sock = JumpSocket(channel)  # type: ignore[arg-type]  # the stand-in has what is used
    writer = threading.Thread(target=sock.sendall, args=(b"last",))
    writer.start()
    assert channel.sending.wait(5)
    closer = threading.Thread(target=sock.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # held back by the write in flight
    channel.release.set()
    writer.join(5)
    closer.join(5)
    assert channel.wire == ["data b'last'", "close"]
    with pytest.raises(OSError, match="closed"):
        sock.send(b"more")
    assert channel.wire == ["data b'last'", "close"]
