"""The SSH transport: one authenticated paramiko connection per host, reused for everything.

Every command is a channel on that connection, files go through one SFTP session on it, and the
Docker client speaks HTTP over more channels on it (``docker system dial-stdio``), so a run logs
in to each host exactly once. The jobs live in one module each: :mod:`.connect` (client, host
keys, retries), :mod:`.exec` (one command, a batch, a long-running process), :mod:`.shell` (the
kept shell and the host lock's held one) and :mod:`.sftp` (files); this class puts them
together behind the :class:`~checkpointctl.transport.base.Transport` protocol.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Sequence

from checkpointctl.errors import CommandFailed, HostUnreachable, TransportError
from checkpointctl.model import Become, Host
from checkpointctl.transport.base import (
    ByteStream,
    Command,
    CommandResult,
    DockerClient,
    FileStat,
    HeldShell,
)
from checkpointctl.transport.batch import batchable
from checkpointctl.transport.hostbound import PROBE_SECONDS, PROBE_SHOWN
from checkpointctl.transport.shellserver import encodable
from checkpointctl.transport.ssh import exec as ssh_exec
from checkpointctl.transport.ssh.bound import HostBound
from checkpointctl.transport.ssh.connect import open_client, where
from checkpointctl.transport.ssh.exec import SshProcess
from checkpointctl.transport.ssh.privilege import Sudo, probe
from checkpointctl.transport.ssh.rootfiles import RootFiles
from checkpointctl.transport.ssh.sftp import SftpFiles
from checkpointctl.transport.ssh.shell import ShellSession
from checkpointctl.transport.sshlib import paramiko

KEPT_WAKE = 60.0
"""Seconds between the idle wake-ups of a kept connection's reader thread (paramiko's own is
0.1 s: 10 wake-ups a second per connection, the controller's main idle cost in a watch), and
between its keepalives (the reader thread sends them when it wakes; 60 s is what
``ServerAliveInterval`` is usually set to, well inside the idle timeouts of NAT and stateful
firewalls). Nothing waits on a wake-up: closing shuts the socket down, which ends the wait
(:meth:`SshTransport.close`)."""


class SshTransport:
    """Commands, files and Docker on one host over one SSH connection.

    Create it with :meth:`open`. Methods may be called from one thread at a time per host (the
    engine's model); the connection itself multiplexes channels safely.
    """

    host: Host
    connect_attempts: int
    """How many connects :meth:`open` needed (1 unless a busy sshd dropped the first)."""

    def __init__(
        self,
        host: Host,
        client: paramiko.SSHClient,
        *,
        on_close: Callable[[], None] | None = None,
        via: str = "",
        open_stream: Callable[[float], ByteStream] | None = None,
    ) -> None:
        """Wrap an already connected and authenticated client (use :meth:`open`).
        ``on_close`` runs after the client is closed (it gives back a shared jump connection);
        ``via`` names the jump hosts in messages."""
        self.host = host
        self.connect_attempts = 1
        self._client = client
        self._on_close = on_close
        self._open_stream = open_stream
        self._where = where(host) + via
        self._lock = threading.Lock()
        self._files = SftpFiles(host.name, self._where, lambda: self.connection)
        self._sudo: Sudo | None = None
        self._become: Become | None = None
        """Set while the sudo rule is assumed, not yet proven (see :meth:`become`)."""
        self._root_files: RootFiles | None = None
        self._bound = HostBound(self._where)
        """Whether the host can bound commands (coreutils ``timeout``): see :mod:`.bound`."""
        self._docker: DockerClient | None = None
        self._keep_shell = False
        self._shell: ShellSession | None = None
        self._held: HeldShell | None = None

    @classmethod
    def open(cls, host: Host, *, timeout: float | None = None) -> SshTransport:
        """Connect, check the host key and authenticate (see
        :func:`~checkpointctl.transport.ssh.connect.open_client`).

        Raises:
            HostKeyError: the host key is unknown (without trust on first use) or changed.
            HostUnreachable: the host cannot be reached, does not speak SSH in time, or refused
                our key.
            TransportError: the host's SSH settings are unusable.
        """
        connected = open_client(host, timeout=timeout)
        opened = cls(
            host,
            connected.client,
            on_close=connected.release,
            via=connected.route.via(),
            open_stream=connected.open_stream,
        )
        opened.connect_attempts = connected.attempts
        if host.become is not None:
            try:
                opened.become(host.become)
            except BaseException:
                opened.close()
                raise
        return opened

    def become(self, become: Become) -> None:
        """Run every command (and every file change) as ``become.user`` through sudo from now
        on (see :mod:`~checkpointctl.transport.ssh.privilege`).

        Without a become password there is only one way to run sudo (``sudo -n``), so nothing
        is asked up front: the first command run through it proves the rule, and only when a
        command or batch fails before that is the probe run, to tell a refused sudo (raised,
        naming the command) from the command's own failure (returned as it is). That saves a
        session and a sudo per host. With a password the probe runs first: whether the rule
        asks for it decides whether the password goes on stdin, where it would otherwise reach
        the command.

        Raises:
            TransportError: sudo refused, naming the refused command.
        """
        if become.password is None:
            self._sudo = Sudo(become.user)
            self._become = become
        else:
            self._sudo = probe(become, self._run_as_login, self._where, self.login)
        self._root_files = RootFiles(self.host.name, self._files, self._run_as_root)

    def _prove_sudo(self) -> None:
        """Run the sudo probe if the rule is still only assumed (see :meth:`become`).

        Raises:
            TransportError: sudo refused, naming the refused command.
        """
        if self._become is not None:
            self._sudo = probe(self._become, self._run_as_login, self._where, self.login)
            self._become = None

    @property
    def login(self) -> str:
        """The user the connection logged in as (ssh_config may have chosen it)."""
        transport = self._client.get_transport()
        name = transport.get_username() if transport is not None else None
        return name or self.host.user

    def _run_as_login(self, argv: Sequence[str], stdin: bytes | None) -> CommandResult:
        return ssh_exec.run_command(
            self.connection,
            self.host.name,
            self._where,
            argv,
            stdin=stdin,
            timeout=self.host.connect_timeout + 20.0,
            check=False,
            channel_timeout=self.host.connect_timeout,
            bound=False,
        )

    def _run_bound_probe(self, argv: tuple[str, ...]) -> CommandResult:
        """Run the bound's probe (see :mod:`.bound`) as commands run, through sudo if any."""
        return ssh_exec.run_command(
            self.connection,
            self.host.name,
            self._where,
            argv,
            stdin=None,
            timeout=PROBE_SECONDS + self.host.connect_timeout,
            check=False,
            channel_timeout=self.host.connect_timeout,
            sudo=self._sudo,
            bound=False,
        )

    def _prove_bound(self) -> None:
        """After a failure: probe the host's ``timeout`` if no command has proven it yet.

        Raises:
            HostBoundMissing: the host has none (this connection then runs nothing more).
        """
        shown = self._sudo.argv(PROBE_SHOWN) if self._sudo else PROBE_SHOWN
        self._bound.prove(self._run_bound_probe, " ".join(shown))

    def _run_as_root(self, argv: Sequence[str], stdin: bytes | None) -> CommandResult:
        return self.run(argv, stdin=stdin, timeout=60.0, check=False)

    def __enter__(self) -> SshTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> paramiko.Transport:
        """The single paramiko connection every command, file and Docker call uses.

        Raises:
            HostUnreachable: the connection has been closed.
        """
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise HostUnreachable(f"{self._where}: the SSH connection is closed")
        return transport

    def alive(self) -> bool:
        """Whether the connection is still open (a kept connection is reused only if so)."""
        transport = self._client.get_transport()
        return transport is not None and transport.is_active()

    def open_stream(self, timeout: float) -> ByteStream:
        """A new TCP connection to the host's SSH port along this connection's route (see
        :class:`~checkpointctl.transport.base.NewConnections`).

        Raises:
            OSError: it could not be made.
        """
        if self._open_stream is None:
            return socket.create_connection((self.host.address, self.host.port), timeout=timeout)
        return self._open_stream(timeout)

    # -- commands ---------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        """Run argv on the host in a new channel of the shared connection, bounded on the host
        to ``timeout`` seconds (see :func:`~checkpointctl.transport.ssh.exec.run_command`).

        Raises:
            CommandFailed: ``check`` and a non-zero exit.
            CommandTimedOut: the command did not finish within ``timeout`` seconds (it no
                longer runs on the host).
            HostBoundMissing: the host cannot bound commands (no coreutils ``timeout``).
            TransportError: the host refused another channel.
            HostUnreachable: the connection broke.
        """
        self._bound.require()
        try:
            result = ssh_exec.run_command(
                self.connection,
                self.host.name,
                self._where,
                argv,
                stdin=stdin,
                timeout=timeout,
                check=check,
                channel_timeout=self.host.connect_timeout,
                sudo=self._sudo,
            )
        except CommandFailed:
            self._prove_sudo()
            self._prove_bound()
            raise
        except TransportError:
            self._prove_sudo()
            raise
        if result.ok:
            self._become = None
            self._bound.succeeded()
        else:
            self._prove_sudo()
            self._prove_bound()
        return result

    def run_many(self, commands: Sequence[Command]) -> list[CommandResult]:
        """Run ``commands`` in one channel: one session on the host instead of one each, or
        none at all in a kept or adopted shell.

        Results are unchecked, as ``run(check=False)`` returns them. A command with a large
        stdin runs on its own channel. When the batch, or the kept shell's request, outlives
        the sum of the commands' timeouts, its process group is killed on the host (the held
        shell bounds its requests itself); neither needs the host's ``timeout``.

        Raises:
            CommandTimedOut: the batch did not finish within the sum of the commands' timeouts
                (nothing of it runs on the host any more, unless the connection died).
            HostBoundMissing: a command run on its own, and the host cannot bound commands.
            TransportError: the batch's output was cut short.
            HostUnreachable: the connection broke.
        """
        results: dict[int, CommandResult] = {}
        batch = [i for i, c in enumerate(commands) if batchable(c)]
        chosen = [commands[i] for i in batch]
        shell = self._usable_shell(chosen) if chosen else None
        if shell is not None:
            timeout = sum(c.timeout for c in chosen)
            results.update(zip(batch, shell.call(chosen, timeout), strict=True))
        elif len(chosen) > 1:
            try:
                parsed = ssh_exec.run_batch(
                    self.connection,
                    self.host.name,
                    self._where,
                    chosen,
                    channel_timeout=self.host.connect_timeout,
                    kill_group=self._kill_group,
                    sudo=self._sudo,
                )
            except TransportError:
                self._prove_sudo()
                raise
            self._become = None  # the batch's frames came back: sudo ran it
            results.update(zip(batch, parsed, strict=True))
        for i, c in enumerate(commands):
            if i not in results:
                results[i] = self.run(c.argv, stdin=c.stdin, timeout=c.timeout, check=False)
        return [results[i] for i in range(len(commands))]

    def spawn(self, argv: Sequence[str]) -> SshProcess:
        """Start argv in a new channel and return at once (see
        :func:`~checkpointctl.transport.ssh.exec.spawn`).

        Raises:
            TransportError: the host refused another channel.
            HostUnreachable: the connection broke.
        """
        self._prove_sudo()
        return ssh_exec.spawn(
            self.connection,
            self._where,
            argv,
            channel_timeout=self.host.connect_timeout,
            sudo=self._sudo,
        )

    # -- shells -----------------------------------------------------------------------------

    def _kill_group(self, group: int) -> None:
        """Kill process group ``group`` on the host (the kept shell's, when a request outlived
        its timeout), as the shell's user, in a channel of its own.

        Raises:
            TransportError: the channel could not run it.
        """
        ssh_exec.run_command(
            self.connection,
            self.host.name,
            self._where,
            ("kill", "-s", "KILL", "--", f"-{group}"),
            stdin=None,
            timeout=self.host.connect_timeout + 10.0,
            check=False,
            channel_timeout=self.host.connect_timeout,
            sudo=self._sudo,
            bound=False,
        )

    def keep_shell(self) -> bool:
        """Run command batches through one long-lived shell on the host from now on (see
        :mod:`checkpointctl.transport.shellserver`): for connections kept across runs, whose
        every batch would otherwise start a new session.

        A kept connection is idle most of its life: its reader thread (paramiko's) then wakes
        every :data:`KEPT_WAKE` seconds instead of every 0.1 s to look for its own closing, and
        sends a keepalive as often."""
        self._keep_shell = True
        with contextlib.suppress(OSError, AttributeError):
            self.connection.sock.settimeout(KEPT_WAKE)
            self.connection.set_keepalive(int(KEPT_WAKE))
        return True

    def adopt_shell(self, shell: HeldShell) -> bool:
        """Run command batches in ``shell`` (the host lock's held shell) until
        :meth:`drop_shell`. Taken only when it is a process of an SSH transport and no shell is
        in use already."""
        if not isinstance(shell.process, SshProcess) or self._shell is not None:
            return False
        self._shell = ShellSession.borrow(self._where, shell.process, shell.token)
        self._held = shell
        return True

    def drop_shell(self, shell: HeldShell) -> None:
        """Stop using the adopted ``shell``; what it had read and not used goes back to its
        process (whose owner talks to it again)."""
        if self._held is not shell or not isinstance(shell.process, SshProcess):
            return
        session, self._shell, self._held = self._shell, None, None
        if session is not None:
            session.give_back(shell.process)

    def _usable_shell(self, commands: Sequence[Command]) -> ShellSession | None:
        """The kept (or adopted) shell for ``commands`` (a kept one started on first use), or
        None: no shell, an argument it cannot carry, or a kept shell that cannot start (given up
        for this batch only)."""
        if not all(encodable(c.argv) for c in commands):
            return None
        if self._held is not None:
            return self._shell if self._shell is not None and self._shell.usable else None
        if not self._keep_shell:
            return None
        if self._shell is None or not self._shell.usable:
            self._prove_sudo()
            try:
                self._shell = ShellSession.start(
                    self.connection,
                    self._where,
                    timeout=self.host.connect_timeout,
                    kill_group=self._kill_group,
                    sudo=self._sudo,
                )
            except TransportError:
                return None
        return self._shell

    # -- files ------------------------------------------------------------------------------

    # With become, files go through :class:`RootFiles` (SFTP runs as the login user).

    def read_file(self, path: str) -> bytes | None:
        if self._root_files is not None:
            return self._root_files.read_file(path)
        return self._files.read_file(path)

    def stat(self, path: str) -> FileStat | None:
        if self._root_files is not None:
            return self._root_files.stat(path)
        return self._files.stat(path)

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int = 0, gid: int = 0) -> None:
        if self._root_files is not None:
            self._root_files.write_file(path, data, mode=mode, uid=uid, gid=gid)
            return
        self._files.write_file(path, data, mode=mode, uid=uid, gid=gid)

    def remove_file(self, path: str) -> None:
        if self._root_files is not None:
            self._root_files.remove_file(path)
            return
        self._files.remove_file(path)

    # -- docker -----------------------------------------------------------------------------

    def docker(self) -> DockerClient:
        """A Docker client whose HTTP requests travel over this host's SSH connection.

        Created on first use and reused; see :mod:`checkpointctl.transport.dockerssh`. The
        ``docker`` package is imported only here, so runs that never use Docker do not load it.

        Raises:
            CommandFailed: ``docker system dial-stdio`` failed on the host.
            TransportError: the host's engine cannot be reached otherwise.
        """
        with self._lock:
            if self._docker is None:
                self._prove_sudo()
                from checkpointctl.transport.dockerssh import (
                    DIAL_STDIO_ARGV,
                    Dial,
                    open_docker_client,
                )

                dial = None
                if self._sudo is not None:
                    argv = self._sudo.argv(DIAL_STDIO_ARGV)
                    dial = Dial(ssh_exec.command_line(argv), self._sudo.preamble)
                self._docker = open_docker_client(
                    self.connection, host=self.host.name, where=self._where, dial=dial
                )
            return self._docker

    def close(self) -> None:
        """Close the Docker client, the SFTP session, a kept shell and the connection. Safe to
        call twice. An adopted shell is not closed: it belongs to its process."""
        with self._lock:
            client, self._docker = self._docker, None
            shell, self._shell = self._shell, None
            held, self._held = self._held, None
        try:
            if shell is not None and held is None:
                shell.close()
            if client is not None:
                client.close()
            self._files.close()
        finally:
            self._shut_socket()
            self._client.close()
            if self._on_close is not None:
                self._on_close()

    def _shut_socket(self) -> None:
        """Shut the TCP connection down both ways before paramiko closes it: its reader thread,
        blocked in ``recv`` (up to :data:`KEPT_WAKE` on a kept connection), returns at once and
        the host sees the connection end now. On Linux ``close`` alone wakes no blocked
        ``recv``, and the connection stays open until that ``recv`` returns. A jump channel or
        a ProxyCommand is no socket: closing them ends their reads."""
        transport = self._client.get_transport()
        sock = transport.sock if transport is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
