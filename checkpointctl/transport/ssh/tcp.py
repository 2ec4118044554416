"""The TCP connection under an SSH connection, set for request and answer traffic.

An SSH session is a conversation of small messages: a command's ``exec`` request, its stdin and
the end of it, then the host's output, exit status, end and close. With the kernel's defaults,
two such small writes in a row meet Nagle's algorithm (the second waits until the first is
acknowledged) on one side and delayed acknowledgements (up to 40 ms on Linux) on the other, so a
command that costs the host 4 ms takes about 90 ms. ``TCP_NODELAY`` sends our writes at once;
``TCP_QUICKACK`` (Linux, and it lasts only until the kernel's next decision, so it is set again
before every read) acknowledges the peer's writes at once, which releases the writes *its* Nagle
holds back: a jump host's sshd forwarding a host's answer is such a peer, and its socket options
are not ours to set. bench/README.md has the measurements.
"""

from __future__ import annotations

import contextlib
import socket
import sys

#: Linux only; elsewhere the socket keeps only ``TCP_NODELAY``.
_QUICKACK: int | None = socket.TCP_QUICKACK if sys.platform == "linux" else None


class QuickAckSocket(socket.socket):
    """A connected TCP socket that acknowledges what it receives without delay."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if _QUICKACK is not None:
            with contextlib.suppress(OSError):  # a closed socket: recv reports it
                self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        return super().recv(bufsize, flags)


def connect_tcp(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ``address:port`` (each resolved address tried in turn, as
    :func:`socket.create_connection` does), with ``TCP_NODELAY`` and quick acknowledgements.

    Raises:
        OSError: the connection could not be made (``TimeoutError`` when ``timeout`` passed).
    """
    plain = socket.create_connection((address, port), timeout=timeout)
    try:
        plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        quick = QuickAckSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
    except BaseException:
        plain.close()
        raise
    quick.settimeout(timeout)
    return quick
