"""Connections kept open across runs, for continuous drift (``drift --watch``).

A cold ``drift`` pays, per host, a TCP connect, the SSH key exchange and the authentication: on
the lab that is most of the host's share of the run. Watching a fleet repeats the same reads
every interval, so the pool keeps each host's transport (its connection, SFTP session and Docker
client) open between runs: :meth:`ConnectionPool.connect` hands out the idle transport of that
host when it is still alive, and the engine's ``close()`` gives it back instead of closing it.

A connection that died in between (host rebooted, network cut) is noticed when it is handed
out or given back and replaced by a fresh one: the host is reconnected on the next run. A run
that fails on a broken connection reports the host unreachable for that run only, as a cold
run would.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Sequence

from checkpointctl.errors import TransportError
from checkpointctl.model import Host
from checkpointctl.transport.base import (
    ByteStream,
    Command,
    CommandResult,
    DockerClient,
    FileStat,
    HeldShell,
    HostProcess,
    NewConnections,
    Transport,
)
from checkpointctl.transport.readmemo import ReadMemo

Connect = Callable[[Host], Transport]


def is_alive(transport: Transport) -> bool:
    """Whether the transport's connection is still open (a broken transport is a dead one,
    whatever it raises when asked)."""
    try:
        return transport.alive()
    except Exception:
        return False


class ConnectionPool:
    """At most one open transport per host, reused run after run (thread-safe).

    ``connects`` counts the connections made, so a caller (and a test) can see reuse.
    """

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._idle: dict[str, tuple[Transport, ReadMemo]] = {}
        self._lock = threading.Lock()
        self.connects = 0

    def connect(self, host: Host) -> Transport:
        """The host's idle transport if still alive, else a new one. The caller ``close()``s it
        to give it back.

        Raises:
            CheckpointctlError: as the underlying connect does.
        """
        with self._lock:
            idle = self._idle.pop(host.name, None)
        if idle is not None:
            transport, memo = idle
            if is_alive(transport) and transport.host == host:
                return PooledTransport(self, transport, memo)
            _close_quietly(transport)
        transport = self._connect(host)
        transport.keep_shell()  # kept connections run their batches in one kept shell
        with self._lock:
            self.connects += 1
        return PooledTransport(self, transport, ReadMemo())

    def give_back(self, transport: Transport, memo: ReadMemo) -> None:
        """Keep ``transport`` (and the last answers of its reads) for the next run, or close it
        when its connection is gone."""
        if not is_alive(transport):
            _close_quietly(transport)
            return
        with self._lock:
            old = self._idle.pop(transport.host.name, None)
            self._idle[transport.host.name] = (transport, memo)
        if old is not None and old[0] is not transport:
            _close_quietly(old[0])

    @property
    def memo_hits(self) -> int:
        """Requests of the idle connections answered from their :class:`ReadMemo`."""
        with self._lock:
            return sum(memo.hits for _, memo in self._idle.values())

    def close(self) -> None:
        """Close every idle connection (the pool can still be used afterwards)."""
        with self._lock:
            idle, self._idle = list(self._idle.values()), {}
        for transport, _ in idle:
            _close_quietly(transport)


def _close_quietly(transport: Transport) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may fail too
        transport.close()


class PooledTransport:
    """A transport on loan from a :class:`ConnectionPool`: ``close()`` returns it to the pool.

    Everything else goes to the real transport, so batching, the kept shell and the host lock
    work exactly as on a fresh connection; a batch's file-backed reads may be answered from the
    connection's :class:`~checkpointctl.transport.readmemo.ReadMemo`.
    """

    def __init__(self, pool: ConnectionPool, transport: Transport, memo: ReadMemo) -> None:
        self._pool = pool
        self._transport: Transport | None = transport
        self._memo = memo
        self.host = transport.host

    @property
    def inner(self) -> Transport:
        if self._transport is None:
            raise TransportError(f"{self.host.name}: this connection was given back to the pool")
        return self._transport

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        return self.inner.run(argv, stdin=stdin, timeout=timeout, check=check)

    def run_many(self, commands: Sequence[Command]) -> list[CommandResult]:
        return self._memo.run_many(self.inner.run_many, commands)

    def spawn(self, argv: Sequence[str]) -> HostProcess:
        return self.inner.spawn(argv)

    def keep_shell(self) -> bool:
        return self.inner.keep_shell()

    def adopt_shell(self, shell: HeldShell) -> bool:
        return self.inner.adopt_shell(shell)

    def drop_shell(self, shell: HeldShell) -> None:
        self.inner.drop_shell(shell)

    def read_file(self, path: str) -> bytes | None:
        return self.inner.read_file(path)

    def stat(self, path: str) -> FileStat | None:
        return self.inner.stat(path)

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int = 0, gid: int = 0) -> None:
        self.inner.write_file(path, data, mode=mode, uid=uid, gid=gid)

    def remove_file(self, path: str) -> None:
        self.inner.remove_file(path)

    def docker(self) -> DockerClient:
        return self.inner.docker()

    def open_stream(self, timeout: float) -> ByteStream:
        inner = self.inner
        if isinstance(inner, NewConnections):
            return inner.open_stream(timeout)
        return socket.create_connection((self.host.address, self.host.port), timeout=timeout)

    def alive(self) -> bool:
        """Whether the loaned connection is still open (False once given back)."""
        return self._transport is not None and is_alive(self._transport)

    def close(self) -> None:
        """Give the transport back to the pool (once; later calls do nothing)."""
        transport, self._transport = self._transport, None
        if transport is not None:
            self._pool.give_back(transport, self._memo)
