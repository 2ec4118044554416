"""Jump hosts: one connection per jump host, shared by every host behind it.

A run over 200 hosts behind one bastion logs in to the bastion once: each host's connection is a
``direct-tcpip`` channel on the bastion's connection, used as the socket of the host's own SSH
client (so the host key check and the login are end to end, the bastion sees only ciphertext).
A chain of jump hosts is a chain of such channels. The shared connection is counted: it closes
when the last connection through it closes, and a dead one is replaced on the next use.

The channel is handed to the host's client wrapped (:class:`JumpSocket`) so that closing it can
never overtake a write in flight. paramiko's ``Channel.send`` checks that the channel is open,
then releases the channel's lock before it queues the data, so a host connection's own thread
(answering the host, say a channel close) can queue data *after* the close another thread
just sent; OpenSSH treats data on a channel it has freed as a protocol error and drops the
whole jump connection, and with it every host still using it (seen under load in the bench's
floor, which closes its clients that way: "data packet referred to nonexistent channel").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from checkpointctl.errors import HostUnreachable
from checkpointctl.transport.ssh.route import Endpoint
from checkpointctl.transport.sshlib import paramiko

Chain = tuple[Endpoint, ...]


class JumpSocket:
    """A ``direct-tcpip`` channel as the socket of a host's SSH client: a write is queued
    whole before a close may be, and nothing is written after it (see the module's docstring).
    """

    def __init__(self, channel: paramiko.Channel) -> None:
        self._channel = channel
        self._lock = threading.Lock()
        self._closed = False

    def send(self, data: bytes) -> int:
        with self._lock:
            if self._closed:
                raise OSError("the channel through the jump host is closed")
            return self._channel.send(data)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self.send(bytes(view)) :]

    def recv(self, n: int) -> bytes:
        return self._channel.recv(n)

    def settimeout(self, timeout: float | None) -> None:
        self._channel.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._channel.gettimeout()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._channel.close()


#: Connect one endpoint, given the socket to use (None: a TCP connection of its own).
Connector = Callable[[Endpoint, JumpSocket | None], paramiko.SSHClient]


@dataclass
class _Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: paramiko.SSHClient | None = None
    users: int = 0


class JumpPool:
    """Shared jump connections, keyed by the chain of jump hosts that leads to them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shared: dict[Chain, _Shared] = {}

    def acquire(self, chain: Chain, connect: Connector) -> paramiko.Transport:
        """The live connection to ``chain[-1]`` (through ``chain[:-1]``), opened if needed;
        each acquire needs one :meth:`release` of the same chain.

        Raises:
            HostKeyError, HostUnreachable, TransportError: as ``connect`` raises them.
        """
        with self._lock:
            shared = self._shared.setdefault(chain, _Shared())
        with shared.lock:
            transport = shared.client.get_transport() if shared.client else None
            if transport is None or not transport.is_active():
                if shared.client is not None:
                    shared.client.close()
                    shared.client = None
                    if len(chain) > 1:
                        self.release(chain[:-1])
                sock = self.channel(chain[:-1], chain[-1], connect) if len(chain) > 1 else None
                try:
                    shared.client = connect(chain[-1], sock)
                except BaseException:
                    if len(chain) > 1:
                        self.release(chain[:-1])
                    raise
                transport = shared.client.get_transport()
                if transport is None:
                    raise HostUnreachable(f"{chain[-1].label}: connection closed after login")
            shared.users += 1
            return transport

    def channel(self, chain: Chain, target: Endpoint, connect: Connector) -> JumpSocket:
        """A ``direct-tcpip`` channel to ``target`` through ``chain`` (holding one use of it;
        release the chain when the channel's connection ends).

        Raises:
            HostUnreachable: the jump host could not open the channel.
        """
        transport = self.acquire(chain, connect)
        try:
            return JumpSocket(
                transport.open_channel(
                    "direct-tcpip",
                    (target.address, target.port),
                    ("127.0.0.1", 0),
                    timeout=target.connect_timeout,
                )
            )
        except (paramiko.SSHException, EOFError, OSError) as e:
            self.release(chain)
            raise HostUnreachable(
                f"{target.label} ({target.address}:{target.port}) via {chain[-1].label}: "
                f"the jump host could not connect: {e or type(e).__name__}"
            ) from e

    def release(self, chain: Chain) -> None:
        """One use of ``chain`` is over; the last one closes it (and releases what it used)."""
        with self._lock:
            shared = self._shared.get(chain)
        if shared is None:
            return
        with shared.lock:
            shared.users -= 1
            if shared.users > 0:
                return
            client, shared.client = shared.client, None
            with self._lock:
                if self._shared.get(chain) is shared:
                    del self._shared[chain]
        if client is not None:
            client.close()
            if len(chain) > 1:
                self.release(chain[:-1])

    def open_count(self) -> int:
        """How many jump connections are open (for tests)."""
        with self._lock:
            return sum(1 for s in self._shared.values() if s.client is not None)


#: The process's jump connections.
JUMPS = JumpPool()
