"""The client side of a shell server on the host: a kept shell, or the host lock's held one.

A kept shell (:meth:`ShellSession.start`) is started once per connection and answers every
later batch without a new session on the host (see
:mod:`~checkpointctl.transport.shellserver`). The host lock's held shell speaks the same
protocol; while the lock is held the transport borrows it (:meth:`ShellSession.borrow`) through
the process's public loan (:meth:`~checkpointctl.transport.ssh.exec.SshProcess.lend`) and hands
it back before the lock's owner talks to it again (:meth:`ShellSession.give_back`).
"""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Callable, Sequence

from checkpointctl.errors import CommandTimedOut, HostBoundMissing, HostUnreachable, TransportError
from checkpointctl.transport import hostbound
from checkpointctl.transport.base import Command, CommandResult
from checkpointctl.transport.framing import new_token
from checkpointctl.transport.shellserver import (
    SERVER_SCRIPT,
    decode_response,
    encode_request,
    parse_ready,
)
from checkpointctl.transport.ssh.exec import CHUNK, SshProcess, command_line, open_channel
from checkpointctl.transport.ssh.privilege import Sudo
from checkpointctl.transport.sshlib import paramiko

KillGroup = Callable[[int], None]
"""Kills a process group on the host through a channel of its own (the kept shell's bound)."""


class ShellSession:
    """One shell server's channel, one request at a time.

    A kept shell's request that outlives its timeout is ended by the controller: ``kill_group``
    kills the server's process group (which it named in its ``ready`` line) and the session is
    given up. A borrowed (held) shell bounds its requests on the host itself (see
    :mod:`~checkpointctl.transport.shellserver`)."""

    def __init__(
        self,
        where: str,
        chan: paramiko.Channel,
        token: str,
        unread: bytes = b"",
        *,
        kill_group: KillGroup | None = None,
    ) -> None:
        self._where = where
        self._chan = chan
        self._token = token
        self._buf = bytearray(unread)
        self.usable = True
        self._kill_group = kill_group
        """None: the server bounds requests itself (the held shell)."""
        self._group: int | None = None
        """The kept shell's process group, from its ``ready`` line (None: unknown)."""
        self._request: tuple[float, float] | None = None
        """When the request in flight was sent and its bound, to judge how the server ended."""

    @classmethod
    def start(
        cls,
        connection: paramiko.Transport,
        where: str,
        *,
        timeout: float,
        kill_group: KillGroup,
        sudo: Sudo | None = None,
    ) -> ShellSession:
        """Start a shell server in a new channel (under one ``sudo`` when given) and wait for
        its ``ready``; ``kill_group`` ends its process group when a request outlives its
        timeout.

        Raises:
            TransportError: it did not start (no channel, no answer).
        """
        token = new_token()
        chan = open_channel(connection, where, timeout)
        try:
            server = ("sh", "-c", SERVER_SCRIPT)
            chan.exec_command(command_line(sudo.argv(server) if sudo else server))
            chan.sendall((sudo.preamble if sudo else b"") + token.encode() + b"\n")
        except (paramiko.SSHException, EOFError, OSError) as e:
            chan.close()
            raise TransportError(f"{where}: cannot start a shell: {e}") from e
        session = cls(where, chan, token, kill_group=kill_group)
        try:
            session._fill_line(time.monotonic() + timeout)
            session._group = parse_ready(bytes(session._buf))
        except ValueError:
            session.close()
            raise TransportError(f"{where}: the shell did not start") from None
        except TransportError:
            session.close()
            raise
        session._buf.clear()
        return session

    @classmethod
    def borrow(cls, where: str, process: SshProcess, token: str) -> ShellSession:
        """Talk to the shell server already running as ``process`` (framing with ``token``)
        until :meth:`give_back`."""
        chan, unread = process.lend()
        return cls(where, chan, token, unread)

    def give_back(self, process: SshProcess) -> None:
        """End :meth:`borrow`: what was read and not used goes back to ``process``. The channel
        stays open: it belongs to the process."""
        self.usable = False
        process.take_back(bytes(self._buf))
        self._buf.clear()

    def _recv(self, deadline: float) -> None:
        """Wait for more output (or raise when the channel ended or the deadline passed)."""
        while self._chan.recv_stderr_ready():  # nothing of ours goes there; keep it flowing
            self._chan.recv_stderr(CHUNK)
        if self._chan.recv_ready():
            self._buf.extend(self._chan.recv(CHUNK))
            return
        if self._chan.eof_received or self._chan.closed:
            self.usable = False
            self._raise_ended(deadline)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.usable = False
            if self._request is not None:
                self._end_request()
                raise CommandTimedOut(
                    hostbound.did_not_finish(
                        self._where, "the kept shell's request", self._request[1]
                    )
                )
            raise TransportError(f"{self._where}: the kept shell did not answer in time")
        select.select([self._chan], [], [], min(remaining, 1.0))

    def _end_request(self) -> None:
        """A kept shell's request outlived its timeout: kill the server's process group (the
        server, the request and whatever it started), so nothing of it runs on. Without a
        known group (no procfs) it is only given up."""
        if self._kill_group is None or self._group is None:
            return
        with contextlib.suppress(TransportError):  # the timeout is the error to report
            self._kill_group(self._group)

    def _raise_ended(self, deadline: float) -> None:
        """The server ended: say why, from its exit status (see
        :mod:`~checkpointctl.transport.shellserver`).

        Raises:
            CommandTimedOut: the host's bound ended the request in flight.
            HostBoundMissing: the server could not run ``timeout``.
            HostUnreachable: it ended otherwise.
        """
        ended = self._chan.status_event.wait(max(0.0, deadline - time.monotonic()))
        status = self._chan.exit_status if ended else -1
        if self._request is not None and self._kill_group is None:
            sent, seconds = self._request
            if ended and hostbound.timed_out(status, time.monotonic() - sent, seconds):
                raise CommandTimedOut(
                    hostbound.did_not_finish(self._where, "the kept shell's request", seconds)
                )
            if ended and status in hostbound.CANNOT_RUN_STATUSES:
                raise HostBoundMissing(
                    f"{self._where}: the held shell cannot bound its commands: `timeout` "
                    f"exited {status} (not on the PATH?)"
                )
        raise HostUnreachable(f"{self._where}: the kept shell ended")

    def _fill_line(self, deadline: float) -> None:
        while b"\n" not in self._buf:
            self._recv(deadline)

    def call(self, commands: Sequence[Command], timeout: float) -> list[CommandResult]:
        """Run ``commands`` in the server within ``timeout`` seconds (a held shell's bound on
        the host; a kept shell's process group is killed when they pass); their results
        (unchecked).

        Raises:
            HostUnreachable: the channel or the connection ended (nothing is retried: the
                commands may have run).
            CommandTimedOut: the request did not finish within ``timeout`` seconds: the host's
                bound ended it, or no answer came within the controller's wait (the session
                is then given up).
            HostBoundMissing: the server cannot run ``timeout``.
        """
        sent = time.monotonic()
        kept = self._kill_group is not None
        deadline = sent + (timeout if kept else hostbound.controller_wait(timeout))
        self._request = (sent, timeout)
        argvs = [c.argv for c in commands]
        try:
            pairs = [(c.argv, c.stdin) for c in commands]
            request = encode_request(pairs, bound=None if kept else timeout)
            self._chan.sendall(request)
            while True:
                try:
                    decoded = decode_response(argvs, bytes(self._buf), self._token)
                except ValueError as e:
                    self.usable = False
                    raise TransportError(f"{self._where}: the kept shell answered garbage") from e
                if decoded is not None:
                    results, used = decoded
                    del self._buf[:used]
                    self._request = None
                    return results
                self._recv(deadline)
        except (paramiko.SSHException, EOFError, OSError) as e:
            self.usable = False
            raise HostUnreachable(f"{self._where}: connection lost in the kept shell: {e}") from e
        finally:
            if not self.usable:
                self.close()

    def close(self) -> None:
        self.usable = False
        with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
            self._chan.shutdown_write()
        with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
            self._chan.close()
