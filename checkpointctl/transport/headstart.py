"""Connections opened while the policy is still loading.

A cold ``drift`` or ``apply`` first imports its libraries and loads, renders and checks the
policies (a few hundred milliseconds of controller CPU), and only then connects. During that
time the hosts are idle, and a connection is mostly the host's work (sshd's key exchange and
login). :class:`HeadStart` connects the first ``width``
hosts of the run in background threads as soon as the inventory is known, so the hosts' half of
those handshakes overlaps the controller's start-up; the engine then takes each connection from
here instead of opening it (:meth:`HeadStart.connect`), and every other host is connected as
before. Nothing is read or written before the policy is loaded: a connection is only a login.

A connection that failed is reported when the engine asks for it, exactly as if the engine had
made it; connections nobody asked for (the policy did not load, a host had no desired state)
are closed by :meth:`HeadStart.close`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from checkpointctl.model import Host
from checkpointctl.transport.base import Transport
from checkpointctl.transport.connect import load_transports

Connect = Callable[[Host], Transport]


class HeadStart:
    """Transports being opened ahead of the engine; use as a context manager."""

    def __init__(self, connect: Connect, hosts: Sequence[Host], *, width: int) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[Host, Future[Transport]]] = {}
        early = [h for h in hosts if h.refused is None][: max(0, width)]
        # the threads' first imports must not race the caller's (see load_transports)
        load_transports(early)
        for host in early:
            future: Future[Transport] = Future()
            self._pending[host.name] = (host, future)
            # daemon threads: an error before the run (a bad policy) must not wait for a slow
            # host's connect timeout, at close or at interpreter exit
            threading.Thread(
                target=_open, args=(future, connect, host), name="headstart", daemon=True
            ).start()

    def connect(self, host: Host) -> Transport:
        """The transport opened ahead for ``host`` (waiting for it if need be), else a new one.

        Raises:
            CheckpointctlError: as the underlying connect does (for an early connection, the
                error it met).
        """
        with self._lock:
            early = self._pending.pop(host.name, None)
        if early is None:
            return self._connect(host)
        started_for, future = early
        if started_for != host:  # the run changed the host's settings: connect as asked now
            _close_when_done(future)
            return self._connect(host)
        return future.result()

    def close(self) -> None:
        """Close the connections nobody asked for (those still being opened as they open;
        nothing waits for them)."""
        with self._lock:
            left, self._pending = list(self._pending.values()), {}
        for _, future in left:
            _close_when_done(future)

    def __enter__(self) -> HeadStart:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(future: Future[Transport], connect: Connect, host: Host) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(connect(host))
    except BaseException as exc:  # handed to whoever asks for this host, as connect would raise
        future.set_exception(exc)


def _close_when_done(future: Future[Transport]) -> None:
    def close(done: Future[Transport]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        with contextlib.suppress(Exception):  # closing a half-open connection may fail too
            done.result().close()

    future.add_done_callback(close)
