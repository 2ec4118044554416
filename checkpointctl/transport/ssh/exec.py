"""Commands over an SSH connection: each in a channel of its own, or a batch in one channel.

Three ways to run something on the host, each for a reason:

- :func:`run_command`: one command, its own channel, waited for. What a change needs (a firewall
  load with a large stdin, a command with its own timeout) and what a single read costs anyway.
- :func:`run_batch`: several commands in one channel, as the fixed script of
  :mod:`~checkpointctl.transport.batch`: a host's reads for one session instead of one each.
  (The kept shell of :mod:`~checkpointctl.transport.ssh.shell` answers the same batches without
  any new session, when a shell is kept or lent.)
- :func:`spawn`: a command that keeps running and talks over stdin/stdout while the controller
  works (:class:`SshProcess`), and dies with the connection: the host lock.

This module holds the one place in checkpointctl where an argv becomes a string
(:func:`command_line`), because the SSH protocol carries a command as one string that the
remote shell splits again.
"""

from __future__ import annotations

import contextlib
import select
import shlex
import time
from collections.abc import Callable, Sequence

from checkpointctl.errors import CommandTimedOut, HostUnreachable, TransportError
from checkpointctl.transport import hostbound
from checkpointctl.transport.base import Command, CommandResult
from checkpointctl.transport.batch import batch_argv, batch_group, parse_batch_output
from checkpointctl.transport.command import check_argv, describe, finish
from checkpointctl.transport.framing import new_token
from checkpointctl.transport.process import keep_tail, split_line
from checkpointctl.transport.ssh.privilege import Sudo
from checkpointctl.transport.sshlib import paramiko

#: How much is read from or sent to a channel at once.
CHUNK = 32768


def command_line(argv: Sequence[str]) -> str:
    """The remote command string for argv: :func:`shlex.join`, which the remote shell splits back.

    The only place in checkpointctl where argv becomes a string. ``shlex.join`` single-quotes
    every argument that needs it, so spaces, quotes, ``$(...)``, ``;`` and newlines reach the
    program exactly as given and are never interpreted by the remote shell.

    Raises:
        TypeError, ValueError: argv is not a non-empty sequence of NUL-free strings.
    """
    return shlex.join(check_argv(argv))


def remote_argv(
    argv: Sequence[str], *, timeout: float, sudo: Sudo | None, bound: bool = True
) -> tuple[str, ...]:
    """What the host runs for argv (pure): under the host's bound of ``timeout`` seconds
    (:func:`~checkpointctl.transport.hostbound.bounded`), inside ``sudo`` when given, so the
    bound runs as the become user and its signals reach the command itself (``timeout`` outside
    ``sudo`` could signal only ``sudo``, which cannot pass SIGKILL on)."""
    args = check_argv(argv)
    inner = hostbound.bounded(args, timeout) if bound else args
    return sudo.argv(inner) if sudo is not None else inner


def open_channel(connection: paramiko.Transport, where: str, timeout: float) -> paramiko.Channel:
    """A new session channel on ``connection``.

    Raises:
        TransportError: the host refused another channel (its sshd's ``MaxSessions``).
        HostUnreachable: the connection broke.
    """
    try:
        return connection.open_session(timeout=timeout)
    except paramiko.ChannelException as e:
        raise TransportError(
            f"{where}: the host refused a new channel ({e.text}); too many at once "
            "for its sshd MaxSessions?"
        ) from e
    except (paramiko.SSHException, EOFError, OSError) as e:
        raise HostUnreachable(f"{where}: cannot open a channel: {e}") from e


def run_command(
    connection: paramiko.Transport,
    host: str,
    where: str,
    argv: Sequence[str],
    *,
    stdin: bytes | None,
    timeout: float,
    check: bool,
    channel_timeout: float,
    sudo: Sudo | None = None,
    bound: bool = True,
    label: str | None = None,
    on_timeout: Callable[[bytes], None] | None = None,
) -> CommandResult:
    """Run argv in a new channel of ``connection`` (through ``sudo`` when given; the result
    names argv as given, messages name it ``label``, by default its first words).

    stdout and stderr are read while ``stdin`` is being sent, so neither side can stall the
    other however much they write. ``timeout`` bounds the whole command on the host itself
    (``bound``, see :mod:`~checkpointctl.transport.hostbound`: coreutils ``timeout`` inside
    ``sudo``), and the controller waits for it that long plus the host's grace; whoever gives
    up first, the command is reported as timed out and no longer runs on the host. Only the
    probes that find out whether sudo and the bound work run unbounded (``bound=False``): each
    runs a command that cannot hang (``true``), and the command batch, which ``on_timeout``
    ends instead: it is given the stdout that arrived before the controller stopped waiting.
    A command killed by a signal reports exit status -1.

    Raises:
        CommandFailed: ``check`` and a non-zero exit.
        CommandTimedOut: the command did not finish within ``timeout`` seconds.
        TransportError: the host refused another channel.
        HostUnreachable: the connection broke.
    """
    args = check_argv(argv)
    line = command_line(remote_argv(args, timeout=timeout, sudo=sudo, bound=bound))
    if sudo is not None:
        stdin = sudo.stdin(stdin)
    shown = label or describe(args)
    started = time.monotonic()
    deadline = started + (hostbound.controller_wait(timeout) if bound else timeout)
    chan = open_channel(connection, where, min(timeout, channel_timeout))
    arrived: list[bytes] = []
    try:
        chan.exec_command(line)
        out, err = _exchange(chan, stdin or b"", deadline, arrived)
        if out is None or err is None:
            if on_timeout is not None:
                on_timeout(b"".join(arrived))
            raise CommandTimedOut(hostbound.did_not_finish(host, shown, timeout))
        rc = chan.recv_exit_status()
    except (paramiko.SSHException, EOFError, OSError) as e:
        raise HostUnreachable(f"{where}: connection lost running `{shown}`: {e}") from e
    finally:
        chan.close()
    if bound and hostbound.timed_out(rc, time.monotonic() - started, timeout):
        raise CommandTimedOut(hostbound.did_not_finish(host, shown, timeout))
    return finish(host, CommandResult(args, rc, out, err), check=check)


def run_batch(
    connection: paramiko.Transport,
    host: str,
    where: str,
    commands: Sequence[Command],
    *,
    channel_timeout: float,
    kill_group: Callable[[int], None],
    sudo: Sudo | None = None,
) -> list[CommandResult]:
    """Run ``commands`` as one batch script in one channel (under one ``sudo`` when given);
    their results, unchecked.

    The batch starts no process for its bound (a cold drift pays nothing for it): when it
    outlives the sum of the commands' timeouts, ``kill_group`` kills the process group the
    script named on its first line (the script, the command that hangs and everything it
    started) through a new channel. A batch on a connection that died meanwhile ends with its
    commands.

    Raises:
        CommandTimedOut: the batch did not finish within the sum of the commands' timeouts.
        TransportError: its output was cut short.
        HostUnreachable: the connection broke.
    """
    token = new_token()
    argv, stdin = batch_argv(commands, token)

    def end_group(arrived: bytes) -> None:
        group = batch_group(arrived)
        if group is not None:
            with contextlib.suppress(TransportError):  # the timeout is what to report
                kill_group(group)

    raw = run_command(
        connection,
        host,
        where,
        argv,
        stdin=stdin,
        timeout=sum(c.timeout for c in commands),
        check=False,
        channel_timeout=channel_timeout,
        sudo=sudo,
        bound=False,
        label="the command batch",
        on_timeout=end_group,
    )
    return parse_batch_output(host, commands, raw, token)


def spawn(
    connection: paramiko.Transport,
    where: str,
    argv: Sequence[str],
    *,
    channel_timeout: float,
    sudo: Sudo | None = None,
) -> SshProcess:
    """Start argv in a new channel of ``connection`` and return at once.

    The command lives as long as its channel: when the connection ends for any reason
    (``close()``, a crash, ``kill -9`` of the controller), sshd closes the command's stdin, which
    is what the host lock relies on.

    Raises:
        TransportError: the host refused another channel.
        HostUnreachable: the connection broke.
    """
    args = check_argv(argv)
    chan = open_channel(connection, where, channel_timeout)
    try:
        chan.exec_command(command_line(sudo.argv(args) if sudo else args))
        if sudo is not None and sudo.preamble:
            chan.sendall(sudo.preamble)
    except (paramiko.SSHException, EOFError, OSError) as e:
        chan.close()
        raise HostUnreachable(f"{where}: connection lost starting `{describe(args)}`: {e}") from e
    return SshProcess(where, args, chan)


class SshProcess:
    """A command running in its own channel (see :func:`spawn`).

    A kept shell can take over its channel (:meth:`lend` and :meth:`take_back`): the host
    lock's held shell answers batches while the lock is held.
    """

    def __init__(self, where: str, argv: tuple[str, ...], chan: paramiko.Channel) -> None:
        self._where = where
        self._argv = argv
        self._chan = chan
        self._out = bytearray()
        self._err = bytearray()

    def lend(self) -> tuple[paramiko.Channel, bytes]:
        """The channel, and what was read from it and not yet used (now the borrower's): for a
        borrower that talks to the command until it hands the rest back with
        :meth:`take_back`."""
        unread, self._out = bytes(self._out), bytearray()
        return self._chan, unread

    def take_back(self, unread: bytes) -> None:
        """End a loan: what the borrower read and did not use is read from here on first."""
        self._out[:0] = unread

    def send(self, data: bytes) -> None:
        try:
            self._chan.sendall(data)
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise HostUnreachable(
                f"{self._where}: cannot write to `{describe(self._argv)}`: {e}"
            ) from e

    def _drain(self) -> None:
        while self._chan.recv_ready():
            self._out.extend(self._chan.recv(CHUNK))
        while self._chan.recv_stderr_ready():
            keep_tail(self._err, self._chan.recv_stderr(CHUNK))

    def read_line(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            line = split_line(self._out)
            if line is not None:
                return line
            if self._chan.eof_received or self._chan.closed:
                self._drain()
                line = split_line(self._out)
                if line is not None:
                    return line
                rest, self._out = bytes(self._out), bytearray()
                return rest
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            select.select([self._chan], [], [], remaining)

    def close_stdin(self) -> None:
        with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
            self._chan.shutdown_write()

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while not self._chan.status_event.is_set():
            self._drain()  # keep the window open so the command can finish writing
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._chan.status_event.wait(min(remaining, 0.05))
        self._drain()
        return self._chan.recv_exit_status()

    def stderr_tail(self) -> str:
        self._drain()
        return self._err.decode("utf-8", "replace")

    def close(self) -> None:
        with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
            self._chan.close()


def _exchange(
    chan: paramiko.Channel, stdin: bytes, deadline: float, out: list[bytes] | None = None
) -> tuple[bytes, bytes] | tuple[None, None]:
    """Send stdin, collect stdout/stderr until output ends and the exit status is in.

    Returns (None, None) when ``deadline`` passes first; what stdout had sent by then is in
    ``out`` when given.

    Waits with ``select`` on the channel (paramiko signals its buffers through a pipe), sending
    stdin in chunks only as the window allows so a command that writes before it reads cannot
    deadlock against us.
    """
    out = [] if out is None else out
    err: list[bytes] = []
    pending = memoryview(stdin)
    if not pending:
        chan.shutdown_write()
    while True:
        while chan.recv_ready():
            out.append(chan.recv(CHUNK))
        while chan.recv_stderr_ready():
            err.append(chan.recv_stderr(CHUNK))
        if pending and chan.send_ready():
            sent = chan.send(bytes(pending[:CHUNK]))
            pending = pending[sent:]
            if not pending:
                chan.shutdown_write()
            continue
        if chan.eof_received or chan.closed:
            # End of output. Only now is all data in: OpenSSH may send the exit status before
            # it has forwarded everything the command wrote.
            if not chan.status_event.wait(max(0.0, deadline - time.monotonic())):
                return None, None
            while chan.recv_ready():
                out.append(chan.recv(CHUNK))
            while chan.recv_stderr_ready():
                err.append(chan.recv_stderr(CHUNK))
            return b"".join(out), b"".join(err)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, None
        # While stdin waits for window space nothing may become readable: poll briefly.
        select.select([chan], [], [], min(remaining, 0.05) if pending else remaining)
