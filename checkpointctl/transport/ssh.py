"""The SSH transport: one authenticated paramiko connection per host, reused for everything.

Every command is a channel on that connection, files go through one SFTP session on it, and the
Docker client speaks HTTP over more channels on it (``docker system dial-stdio``), so a run logs
in to each host exactly once. Host keys are checked strictly (see :mod:`hostkeys`), keys are
never looked up in ``~/.ssh`` behind the user's back, and the agent is used only on request and
never forwarded.

This module holds the one place in checkpointctl where an argv becomes a string
(:func:`command_line`), because the SSH protocol carries a command as one string that the
remote shell splits again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import random
import secrets
import select
import shlex
import stat as stat_mod
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from checkpointctl.errors import HostKeyError, HostUnreachable, TransportError
from checkpointctl.model import Host
from checkpointctl.transport.base import CommandResult, FileStat
from checkpointctl.transport.batch import (
    Command,
    batch_argv,
    batchable,
    parse_batch_output,
)
from checkpointctl.transport.command import check_argv, describe, finish
from checkpointctl.transport.framing import new_token
from checkpointctl.transport.hostkeys import (
    DEFAULT_KNOWN_HOSTS,
    OfferedKey,
    RecordUnknownKey,
    RefuseUnknownKey,
    changed_key_message,
    known_hosts_name,
    tofu_without_file_message,
)
from checkpointctl.transport.process import keep_tail, split_line
from checkpointctl.transport.shellserver import (
    READY,
    SERVER_SCRIPT,
    decode_response,
    encodable,
    encode_request,
)
from checkpointctl.transport.sshfiles import add_known_keys, identity_key
from checkpointctl.transport.sshlib import paramiko

# paramiko logs a failed handshake at ERROR level with a traceback; with no logging configured
# Python's last-resort handler prints that on stderr, before (and besides) our one-line error.
# The failure reaches the user as our error; paramiko's records still propagate to whatever
# handlers an application configures.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

#: Seconds of silence after which a keepalive is sent, so a dead peer is noticed mid-run.
KEEPALIVE_SECONDS = 30
#: Timeout for one SFTP request; files are small, so this only fires on a dead connection.
SFTP_TIMEOUT = 60.0
#: Mode of parent directories ``write_file`` creates.
DIR_MODE = 0o755
#: How many times a connect is tried when it fails the way a busy sshd fails (see
#: :func:`transient_connect_error`); authentication, host key and timeout failures get one try.
CONNECT_ATTEMPTS = 6
#: Full-jitter backoff between those tries: uniform in [0, min(cap, base * 2**retry)] seconds,
#: so hundreds of controllers' workers refused at once do not come back in lockstep.
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 4.0
_CHUNK = 32768
_TRANSIENT_TEXT = (
    "error reading ssh protocol banner",
    "connection reset",
    "connection aborted",
    # the host closed the connection after the banner, before any answer to our key: paramiko
    # then finds no session to authenticate on (seen on sshds past MaxStartups under load)
    "no existing session",
)


def command_line(argv: Sequence[str]) -> str:
    """The remote command string for argv: :func:`shlex.join`, which the remote shell splits back.

    The only place in checkpointctl where argv becomes a string. ``shlex.join`` single-quotes
    every argument that needs it, so spaces, quotes, ``$(...)``, ``;`` and newlines reach the
    program exactly as given and are never interpreted by the remote shell.

    Raises:
        TypeError, ValueError: argv is not a non-empty sequence of NUL-free strings.
    """
    return shlex.join(check_argv(argv))


def use_agent(host_vars: Mapping[str, object]) -> bool:
    """Whether the host opted in to the SSH agent (``ssh_use_agent: true``); off by default."""
    value = host_vars.get("ssh_use_agent", False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value is True


def transient_connect_error(e: BaseException) -> bool:
    """Whether a connect failure is one a busy but healthy host causes, worth another try.

    An sshd past its ``MaxStartups`` accepts the TCP connection and closes it before sending
    its banner: paramiko reports "Error reading SSH protocol banner" (often with "Connection
    reset by peer"), or the socket layer a reset. Those are retried. Never retried: a refused
    key (retrying an authentication failure only feeds fail2ban and lockouts), an unknown or
    changed host key, settings of ours, a refused port (no sshd there), and timeouts (a host
    that drops packets would cost the whole timeout again per try; it is reported at once).
    """
    refused = (
        HostKeyError,
        TransportError,
        paramiko.AuthenticationException,
        paramiko.BadHostKeyException,
        paramiko.PasswordRequiredException,
        TimeoutError,
    )
    if isinstance(e, refused):
        return False
    if isinstance(e, ConnectionResetError | ConnectionAbortedError | BrokenPipeError | EOFError):
        return True
    if isinstance(e, paramiko.SSHException):
        text = str(e).lower()
        return "timed out" not in text and any(t in text for t in _TRANSIENT_TEXT)
    return False


def retry_delay(retry: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (0-based): full jitter, capped."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**retry)
    return (rng or random).uniform(0.0, ceiling)


def known_hosts_path(host: Host) -> str:
    """The known_hosts file for ``host``: its own, or the user's (read-only) when unset."""
    return os.path.expanduser(host.known_hosts or DEFAULT_KNOWN_HOSTS)


class SshTransport:
    """Commands, files and Docker on one host over one SSH connection.

    Create it with :meth:`open`. Methods may be called from one thread at a time per host (the
    engine's model); the connection itself multiplexes channels safely.
    """

    host: Host
    connect_attempts: int
    """How many connects :meth:`open` needed (1 unless a busy sshd dropped the first)."""

    def __init__(self, host: Host, client: paramiko.SSHClient) -> None:
        """Wrap an already connected and authenticated client (use :meth:`open`)."""
        self.host = host
        self.connect_attempts = 1
        self._client = client
        self._where = f"{host.name} ({host.address}:{host.port})"
        self._lock = threading.Lock()
        self._sftp_client: paramiko.SFTPClient | None = None
        self._docker: Any = None
        self._keep_shell = False
        self._shell: _ShellSession | None = None
        self._adopted = False

    @classmethod
    def open(cls, host: Host, *, timeout: float | None = None) -> SshTransport:
        """Connect, check the host key and authenticate, all within ``timeout`` per step.

        ``timeout`` (default ``host.connect_timeout``) bounds the TCP connect, the banner, the
        key exchange and the authentication each. A connect the host drops before its banner
        (a busy sshd past ``MaxStartups``) is tried up to :data:`CONNECT_ATTEMPTS` times with
        jittered backoff; nothing else is retried (see :func:`transient_connect_error`).

        Raises:
            HostKeyError: the host key is unknown (without trust on first use) or changed.
            HostUnreachable: the host cannot be reached, does not speak SSH in time, or refused
                our key.
            TransportError: the host's SSH settings are unusable (no key configured, missing
                identity file, unreadable known_hosts).
        """
        limit = host.connect_timeout if timeout is None else timeout
        where = f"{host.name} ({host.address}:{host.port})"
        known_hosts = known_hosts_path(host)
        identity = os.path.expanduser(host.identity_file) if host.identity_file else None
        agent = identity is None and use_agent(host.vars)
        if identity is None and not agent:
            raise TransportError(
                f"{where}: no SSH key configured\n"
                "  hint: set `identity_file` (or `ansible_ssh_private_key_file`) for the host, "
                "or `ssh_use_agent: true` to use the SSH agent"
            )
        if identity is not None and not os.path.isfile(identity):
            raise TransportError(f"{where}: identity file {identity} does not exist")

        attempts = 0
        while True:
            attempts += 1
            try:
                client = _connect_once(host, where, known_hosts, identity, agent, limit)
                break
            except Exception as e:
                if not transient_connect_error(e.__cause__ or e):
                    raise
                if attempts >= CONNECT_ATTEMPTS:
                    raise HostUnreachable(f"{e} (tried {attempts} times)") from e
                time.sleep(retry_delay(attempts - 1))
        transport = client.get_transport()
        if transport is None:  # connect() returned, so this is a paramiko bug
            raise HostUnreachable(f"{where}: connection closed right after login")
        transport.set_keepalive(KEEPALIVE_SECONDS)
        opened = cls(host, client)
        opened.connect_attempts = attempts
        return opened

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

    # -- commands ---------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        """Run argv on the host in a new channel of the shared connection.

        stdout and stderr are read while ``stdin`` is being sent, so neither side can stall the
        other however much they write. ``timeout`` bounds the whole command; on expiry the
        channel is closed. A command killed by a signal reports exit status -1.

        Raises:
            CommandFailed: ``check`` and a non-zero exit.
            TransportError: the command did not finish within ``timeout`` seconds, or the host
                refused another channel.
            HostUnreachable: the connection broke.
        """
        args = check_argv(argv)
        line = command_line(args)
        deadline = time.monotonic() + timeout
        try:
            chan = self.connection.open_session(timeout=min(timeout, self.host.connect_timeout))
        except paramiko.ChannelException as e:
            raise TransportError(
                f"{self._where}: the host refused a new channel ({e.text}); too many at once "
                "for its sshd MaxSessions?"
            ) from e
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise HostUnreachable(f"{self._where}: cannot open a channel: {e}") from e
        try:
            chan.exec_command(line)
            out, err = _exchange(chan, stdin or b"", deadline)
            if out is None or err is None:
                raise TransportError(
                    f"{self.host.name}: `{describe(args)}` did not finish within {timeout:g}s"
                )
            rc = chan.recv_exit_status()
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise HostUnreachable(
                f"{self._where}: connection lost running `{describe(args)}`: {e}"
            ) from e
        finally:
            chan.close()
        return finish(self.host.name, CommandResult(args, rc, out, err), check=check)

    def run_many(self, commands: Sequence[Command]) -> list[CommandResult]:
        """Run ``commands`` in one channel: one session on the host instead of one each, or
        none at all in the kept shell (:meth:`keep_shell`).

        See :mod:`checkpointctl.transport.batch` for the script; results are unchecked, as
        ``run(check=False)`` returns them. A command with a large stdin runs on its own channel.

        Raises:
            TransportError: the batch did not finish within the sum of the commands' timeouts,
                or its output was cut short.
            HostUnreachable: the connection broke.
        """
        results: dict[int, CommandResult] = {}
        batch = [i for i, c in enumerate(commands) if batchable(c)]
        chosen = [commands[i] for i in batch]
        timeout = sum(c.timeout for c in chosen)
        shell = self._usable_shell(chosen) if chosen else None
        if shell is not None:
            results.update(zip(batch, shell.call(chosen, timeout), strict=True))
        elif len(chosen) > 1:
            token = new_token()
            argv, stdin = batch_argv(chosen, token)
            raw = self.run(argv, stdin=stdin, timeout=timeout, check=False)
            parsed = parse_batch_output(self.host.name, chosen, raw, token)
            results.update(zip(batch, parsed, strict=True))
        for i, c in enumerate(commands):
            if i not in results:
                results[i] = self.run(c.argv, stdin=c.stdin, timeout=c.timeout, check=False)
        return [results[i] for i in range(len(commands))]

    def keep_shell(self) -> None:
        """Run command batches through one long-lived shell on the host from now on (see
        :mod:`checkpointctl.transport.shellserver`): for connections kept across runs, whose
        every batch would otherwise start a new session."""
        self._keep_shell = True

    def adopt_shell(self, process: object, token: str) -> bool:
        """Run command batches in ``process`` from now on: a shell of ours already answering
        the kept shell's requests with frames made with ``token`` (the host lock's held shell,
        :meth:`~checkpointctl.engine.lock.HostLock.lend_shell`). Whether it was taken (only a
        process of this transport can be)."""
        if not isinstance(process, SshProcess) or self._shell is not None:
            return False
        self._shell = _ShellSession(self._where, process._chan, token)
        self._shell._buf.extend(process._out)
        process._out.clear()
        self._adopted = True
        return True

    def drop_shell(self, process: object) -> None:
        """Stop using the adopted shell; what it had read and not used goes back to
        ``process`` (whose owner talks to it again)."""
        shell, self._shell = self._shell, None
        self._adopted = False
        if shell is not None and isinstance(process, SshProcess):
            process._out[:0] = shell._buf

    def _usable_shell(self, commands: Sequence[Command]) -> _ShellSession | None:
        """The kept (or adopted) shell for ``commands`` (a kept one started on first use), or
        None: no shell, an argument it cannot carry, or a kept shell that cannot start (given up
        for this batch only)."""
        if not all(encodable(c.argv) for c in commands):
            return None
        if self._adopted:
            return self._shell if self._shell is not None and self._shell.usable else None
        if not self._keep_shell:
            return None
        if self._shell is None or not self._shell.usable:
            try:
                self._shell = _ShellSession.start(self, timeout=self.host.connect_timeout)
            except TransportError:
                return None
        return self._shell

    def spawn(self, argv: Sequence[str]) -> SshProcess:
        """Start argv in a new channel of the shared connection and return at once.

        The command lives as long as its channel: when this connection ends for any reason
        (``close()``, a crash, ``kill -9`` of the controller), sshd closes the command's stdin,
        which is what the host lock relies on (see :mod:`checkpointctl.transport.process`).

        Raises:
            TransportError: the host refused another channel.
            HostUnreachable: the connection broke.
        """
        args = check_argv(argv)
        try:
            chan = self.connection.open_session(timeout=self.host.connect_timeout)
        except paramiko.ChannelException as e:
            raise TransportError(
                f"{self._where}: the host refused a new channel ({e.text}); too many at once "
                "for its sshd MaxSessions?"
            ) from e
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise HostUnreachable(f"{self._where}: cannot open a channel: {e}") from e
        try:
            chan.exec_command(command_line(args))
        except (paramiko.SSHException, EOFError, OSError) as e:
            chan.close()
            raise HostUnreachable(
                f"{self._where}: connection lost starting `{describe(args)}`: {e}"
            ) from e
        return SshProcess(self._where, args, chan)

    # -- files ------------------------------------------------------------------------------

    def read_file(self, path: str) -> bytes | None:
        """The file's bytes over SFTP, or None when it does not exist.

        Raises:
            TransportError: it exists but cannot be read.
        """
        sftp = self._sftp()
        try:
            with sftp.open(path, "rb") as f:
                size = f.stat().st_size or 0
                if size > _CHUNK:
                    f.prefetch(size)  # pipelined reads instead of one round trip per 32 KiB
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise TransportError(f"{self.host.name}: cannot read {path}: {_why(e)}") from e

    def stat(self, path: str) -> FileStat | None:
        """Permission bits, owner and size (symlinks followed), or None when absent.

        Raises:
            TransportError: the path cannot be inspected.
        """
        try:
            st = self._sftp().stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise TransportError(f"{self.host.name}: cannot stat {path}: {_why(e)}") from e
        mode = st.st_mode or 0
        return FileStat(
            mode=stat_mod.S_IMODE(mode),
            uid=st.st_uid or 0,
            gid=st.st_gid or 0,
            size=st.st_size or 0,
            is_dir=stat_mod.S_ISDIR(mode),
        )

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int = 0, gid: int = 0) -> None:
        """Replace ``path`` atomically over SFTP, owned ``uid:gid`` with ``mode``.

        SFTP cannot create a file with a chosen mode, so the temp file is made, empty, inside a
        private 0700 directory next to the target and gets its owner and final mode before the
        first byte is written: the data is never in a file with a wider mode. It is fsynced
        (OpenSSH's ``fsync@openssh.com``) and moved over ``path`` with ``posix-rename``, which
        is atomic.
        Missing parents are created 0755.

        Raises:
            TransportError: the file could not be written.
        """
        sftp = self._sftp()
        parent = posixpath.dirname(path) or "."
        scratch = posixpath.join(parent, f".checkpointctl-{secrets.token_hex(8)}")
        tmp = posixpath.join(scratch, posixpath.basename(path))
        try:
            self._makedirs(sftp, parent)
            sftp.mkdir(scratch, 0o700)
            try:
                with sftp.open(tmp, "wb") as f:
                    # Owner and final mode while the file is still empty: the data never sits
                    # in a file with a wider mode, even inside the private directory.
                    sftp.chown(tmp, uid, gid)  # before chmod: chown clears setuid bits
                    sftp.chmod(tmp, mode)
                    f.set_pipelined(True)
                    f.write(data)
                    f.flush()
                    _fsync(sftp, f)
                sftp.posix_rename(tmp, path)
            finally:
                _remove_quietly(sftp, tmp)
                _rmdir_quietly(sftp, scratch)
        except OSError as e:
            raise TransportError(f"{self.host.name}: cannot write {path}: {_why(e)}") from e

    def remove_file(self, path: str) -> None:
        """Remove ``path`` if it exists.

        Raises:
            TransportError: it exists but cannot be removed.
        """
        try:
            self._sftp().remove(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as e:
            raise TransportError(f"{self.host.name}: cannot remove {path}: {_why(e)}") from e

    def _sftp(self) -> paramiko.SFTPClient:
        """The one SFTP session, opened on first use."""
        with self._lock:
            if self._sftp_client is None:
                try:
                    sftp = paramiko.SFTPClient.from_transport(self.connection)
                except (paramiko.SSHException, EOFError, OSError) as e:
                    raise HostUnreachable(f"{self._where}: cannot start SFTP: {e}") from e
                if sftp is None:
                    raise HostUnreachable(f"{self._where}: the host refused the SFTP subsystem")
                channel = sftp.get_channel()
                if channel is not None:
                    channel.settimeout(SFTP_TIMEOUT)
                self._sftp_client = sftp
            return self._sftp_client

    def _makedirs(self, sftp: paramiko.SFTPClient, path: str) -> None:
        """``mkdir -p`` over SFTP; each directory created gets exactly :data:`DIR_MODE`."""
        try:
            if stat_mod.S_ISDIR(sftp.stat(path).st_mode or 0):
                return
        except FileNotFoundError:
            pass
        parent = posixpath.dirname(path)
        if parent and parent != path:
            self._makedirs(sftp, parent)
        try:
            sftp.mkdir(path, DIR_MODE)
        except OSError:
            # SFTP reports "exists" as a generic failure: fine if it is a directory now.
            if not stat_mod.S_ISDIR(sftp.stat(path).st_mode or 0):
                raise
            return
        sftp.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the server's umask

    # -- docker -----------------------------------------------------------------------------

    def docker(self) -> Any:
        """A Docker client whose HTTP requests travel over this host's SSH connection.

        Created on first use and reused; see :mod:`checkpointctl.transport.dockerssh`. The
        ``docker`` package is imported only here, so runs that never use Docker do not load it.

        Raises:
            TransportError: the host's engine cannot be reached through ``dial-stdio``.
        """
        with self._lock:
            if self._docker is None:
                from checkpointctl.transport.dockerssh import open_docker_client

                self._docker = open_docker_client(self.connection, where=self._where)
            return self._docker

    def close(self) -> None:
        """Close the Docker client, the SFTP session and the connection. Safe to call twice."""
        with self._lock:
            client, self._docker = self._docker, None
            sftp, self._sftp_client = self._sftp_client, None
            shell, self._shell = self._shell, None
        try:
            if shell is not None:
                shell.close()
            if client is not None:
                client.close()
            if sftp is not None:
                sftp.close()
        finally:
            self._client.close()


class _ShellSession:
    """The client side of a shell server: one channel, one request at a time."""

    def __init__(self, where: str, chan: paramiko.Channel, token: str) -> None:
        self._where = where
        self._chan = chan
        self._token = token
        self._buf = bytearray()
        self.usable = True

    @classmethod
    def start(cls, transport: SshTransport, *, timeout: float) -> _ShellSession:
        """Start the server and wait for its ``ready``.

        Raises:
            TransportError: it did not start (no channel, no answer).
        """
        token = new_token()
        try:
            chan = transport.connection.open_session(timeout=timeout)
            chan.exec_command(command_line(["sh", "-c", SERVER_SCRIPT]))
            chan.sendall(token.encode() + b"\n")
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise TransportError(f"{transport._where}: cannot start a shell: {e}") from e
        session = cls(transport._where, chan, token)
        try:
            session._fill_line(time.monotonic() + timeout)
        except TransportError:
            session.close()
            raise
        if bytes(session._buf) != READY:
            session.close()
            raise TransportError(f"{transport._where}: the shell did not start")
        session._buf.clear()
        return session

    def _recv(self, deadline: float) -> None:
        """Wait for more output (or raise when the channel ended or the deadline passed)."""
        while self._chan.recv_stderr_ready():  # nothing of ours goes there; keep it flowing
            self._chan.recv_stderr(_CHUNK)
        if self._chan.recv_ready():
            self._buf.extend(self._chan.recv(_CHUNK))
            return
        if self._chan.eof_received or self._chan.closed:
            self.usable = False
            raise HostUnreachable(f"{self._where}: the kept shell ended")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.usable = False
            raise TransportError(f"{self._where}: the kept shell did not answer in time")
        select.select([self._chan], [], [], min(remaining, 1.0))

    def _fill_line(self, deadline: float) -> None:
        while b"\n" not in self._buf:
            self._recv(deadline)

    def call(self, commands: Sequence[Command], timeout: float) -> list[CommandResult]:
        """Run ``commands`` in the server; their results (unchecked).

        Raises:
            HostUnreachable: the channel or the connection ended (nothing is retried: the
                commands may have run).
            TransportError: no answer within ``timeout`` (the session is then given up).
        """
        deadline = time.monotonic() + timeout
        argvs = [c.argv for c in commands]
        try:
            self._chan.sendall(encode_request([(c.argv, c.stdin) for c in commands]))
            while True:
                try:
                    decoded = decode_response(argvs, bytes(self._buf), self._token)
                except ValueError as e:
                    self.usable = False
                    raise TransportError(f"{self._where}: the kept shell answered garbage") from e
                if decoded is not None:
                    results, used = decoded
                    del self._buf[:used]
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


class SshProcess:
    """A command running in its own channel (see :meth:`SshTransport.spawn`)."""

    def __init__(self, where: str, argv: tuple[str, ...], chan: paramiko.Channel) -> None:
        self._where = where
        self._argv = argv
        self._chan = chan
        self._out = bytearray()
        self._err = bytearray()

    def send(self, data: bytes) -> None:
        try:
            self._chan.sendall(data)
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise HostUnreachable(
                f"{self._where}: cannot write to `{describe(self._argv)}`: {e}"
            ) from e

    def _drain(self) -> None:
        while self._chan.recv_ready():
            self._out.extend(self._chan.recv(_CHUNK))
        while self._chan.recv_stderr_ready():
            keep_tail(self._err, self._chan.recv_stderr(_CHUNK))

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


def _connect_once(
    host: Host,
    where: str,
    known_hosts: str,
    identity: str | None,
    agent: bool,
    limit: float,
) -> paramiko.SSHClient:
    """One connect, key check and login; failures translated (the cause kept for retries)."""
    client = paramiko.SSHClient()
    if os.path.exists(known_hosts):
        try:
            add_known_keys(client, known_hosts, known_hosts_name(host.address, host.port))
        except (OSError, paramiko.SSHException) as e:
            raise TransportError(f"{where}: cannot read known_hosts {known_hosts}: {e}") from e
    if host.trust_on_first_use:
        if host.known_hosts is None:
            raise HostKeyError(tofu_without_file_message(host.name, host.address, host.port))
        client.set_missing_host_key_policy(RecordUnknownKey(host.address, host.port, known_hosts))
    else:
        client.set_missing_host_key_policy(
            RefuseUnknownKey(host.name, host.address, host.port, known_hosts)
        )

    try:
        pkey = identity_key(identity) if identity else None
        client.connect(
            hostname=host.address,
            port=host.port,
            username=host.user,
            pkey=pkey,
            key_filename=identity if pkey is None else None,
            allow_agent=agent,
            look_for_keys=False,
            timeout=limit,
            banner_timeout=limit,
            auth_timeout=limit,
            channel_timeout=limit,
        )
    except Exception as e:
        client.close()
        mapped = _connect_error(e, host, where, known_hosts, limit, identity)
        if mapped is e:
            raise
        raise mapped from e
    except BaseException:
        client.close()
        raise
    return client


def _exchange(
    chan: paramiko.Channel, stdin: bytes, deadline: float
) -> tuple[bytes, bytes] | tuple[None, None]:
    """Send stdin, collect stdout/stderr until output ends and the exit status is in.

    Returns (None, None) when ``deadline`` passes first.

    Waits with ``select`` on the channel (paramiko signals its buffers through a pipe), sending
    stdin in chunks only as the window allows so a command that writes before it reads cannot
    deadlock against us.
    """
    out: list[bytes] = []
    err: list[bytes] = []
    pending = memoryview(stdin)
    if not pending:
        chan.shutdown_write()
    while True:
        while chan.recv_ready():
            out.append(chan.recv(_CHUNK))
        while chan.recv_stderr_ready():
            err.append(chan.recv_stderr(_CHUNK))
        if pending and chan.send_ready():
            sent = chan.send(bytes(pending[:_CHUNK]))
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
                out.append(chan.recv(_CHUNK))
            while chan.recv_stderr_ready():
                err.append(chan.recv_stderr(_CHUNK))
            return b"".join(out), b"".join(err)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, None
        # While stdin waits for window space nothing may become readable: poll briefly.
        select.select([chan], [], [], min(remaining, 0.05) if pending else remaining)


def _connect_error(
    e: Exception,
    host: Host,
    where: str,
    known_hosts: str,
    limit: float,
    identity: str | None,
) -> Exception:
    """Translate what paramiko and the socket layer raise on connect into our errors."""
    if isinstance(e, HostKeyError | TransportError):
        return e
    if isinstance(e, paramiko.BadHostKeyException):
        return HostKeyError(
            changed_key_message(
                host.name,
                host.address,
                host.port,
                OfferedKey.of(e.key),
                OfferedKey.of(e.expected_key),
                known_hosts,
            )
        )
    if isinstance(e, paramiko.PasswordRequiredException):
        return TransportError(
            f"{where}: identity file {identity} is encrypted\n"
            "  hint: load it into an agent and set `ssh_use_agent: true`, or use a key "
            "without passphrase kept in your secret store"
        )
    if isinstance(e, paramiko.AuthenticationException):
        used = f"key {identity}" if identity else "the SSH agent's keys"
        return HostUnreachable(f"{where}: authentication as {host.user} with {used} failed: {e}")
    if isinstance(e, TimeoutError):
        return HostUnreachable(f"{where}: timed out after {limit:g}s")
    if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
        reasons = sorted(
            {_lower(getattr(err, "strerror", None) or str(err)) for err in e.errors.values()}
        )
        return HostUnreachable(f"{where}: {'; '.join(reasons)}")
    if isinstance(e, OSError):
        return HostUnreachable(f"{where}: {_lower(e.strerror or str(e))}")
    if isinstance(e, paramiko.SSHException | EOFError):
        return HostUnreachable(f"{where}: SSH handshake failed: {e or type(e).__name__}")
    return e


def _lower(reason: str) -> str:
    """OS reasons start with a capital ("Connection refused"); our messages are lower-case."""
    return reason[:1].lower() + reason[1:]


def _fsync(sftp: paramiko.SFTPClient, f: paramiko.SFTPFile) -> None:
    """Flush an open remote file to disk with OpenSSH's ``fsync@openssh.com`` extension.

    paramiko has no public call for it, so this sends the extended request the way paramiko's
    own ``posix_rename`` does. A server without the extension leaves the write un-synced, which
    keeps it atomic (rename) if not durable across a power cut; that is not worth failing for.
    """
    request = getattr(sftp, "_request", None)
    if request is None:
        return
    with contextlib.suppress(OSError):
        request(paramiko.sftp.CMD_EXTENDED, "fsync@openssh.com", f.handle)


def _why(e: OSError) -> str:
    """The reason in an SFTP ``OSError`` (paramiko puts the server's text in ``strerror``)."""
    return e.strerror or str(e)


def _remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    with contextlib.suppress(OSError):
        sftp.remove(path)


def _rmdir_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    with contextlib.suppress(OSError):
        sftp.rmdir(path)
