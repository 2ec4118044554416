"""The transport for the machine checkpointctl runs on (``connection: local``).

Used by pull mode (``agent``) and by inventories that manage the controller itself. It keeps the
same contract as the SSH transport: argv lists only (never a shell), a timeout on every command,
atomic file writes, and one Docker client reused for the whole run.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import stat as stat_mod
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence

from checkpointctl.errors import CommandTimedOut, TransportError
from checkpointctl.model import Host
from checkpointctl.transport.base import Command, CommandResult, DockerClient, FileStat, HeldShell
from checkpointctl.transport.batch import run_each
from checkpointctl.transport.command import check_argv, describe, finish
from checkpointctl.transport.hostbound import did_not_finish
from checkpointctl.transport.process import keep_tail, split_line

#: The local Docker engine. Fixed on purpose: the lab's hosts have their own at this path too.
DOCKER_SOCKET_URL = "unix:///var/run/docker.sock"
#: Mode of parent directories ``write_file`` creates.
DIR_MODE = 0o755


class LocalTransport:
    """Commands, files and Docker on this machine.

    Every method raises :class:`~checkpointctl.errors.TransportError` (or, for a command that
    ran and failed, ``CommandFailed``) for failures a user can meet, never a bare ``OSError``.
    A local command costs no session, so batches run one command after the other and no shell
    is kept or adopted.
    """

    host: Host

    def __init__(self, host: Host) -> None:
        self.host = host
        self._docker: DockerClient | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> LocalTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ---------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        """Run argv (no shell) and collect its output.

        The command gets ``stdin`` (or an empty stdin) and runs in its own process group, so a
        timeout kills everything it started, not only the first process: here the controller
        is on the host, so its own wait is the host's bound (the SSH transport needs
        :mod:`~checkpointctl.transport.hostbound` for that). A missing or
        non-executable program is reported like a shell would (exit 127 / 126), so callers see
        the same result as over SSH.

        Raises:
            CommandFailed: ``check`` and a non-zero exit.
            CommandTimedOut: the command did not finish within ``timeout`` seconds (its process
                group has been killed).
        """
        args = check_argv(argv)
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError:
            missing = CommandResult(args, 127, b"", f"{args[0]}: command not found\n".encode())
            return finish(self.host.name, missing, check=check)
        except PermissionError:
            denied = CommandResult(args, 126, b"", f"{args[0]}: permission denied\n".encode())
            return finish(self.host.name, denied, check=check)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise CommandTimedOut(did_not_finish(self.host.name, describe(args), timeout)) from None
        except BaseException:  # Ctrl-C or anything else: leave no orphaned command behind
            _kill_group(proc)
            raise
        result = CommandResult(args, proc.returncode, out, err)
        return finish(self.host.name, result, check=check)

    def run_many(self, commands: Sequence[Command]) -> list[CommandResult]:
        """Each command in turn (a local command has no round trip to save)."""
        return run_each(self, commands)

    def keep_shell(self) -> bool:
        """Nothing to keep: a local command starts no session."""
        return False

    def adopt_shell(self, shell: HeldShell) -> bool:
        """Never taken: batches run as their own processes, as they cost nothing more."""
        return False

    def drop_shell(self, shell: HeldShell) -> None:
        """Nothing was adopted."""
        return None

    def alive(self) -> bool:
        """This machine is always there."""
        return True

    def spawn(self, argv: Sequence[str]) -> LocalProcess:
        """Start argv (no shell) with pipes for stdin and stdout, and return at once.

        The command's stdin is a pipe only this process writes to: if checkpointctl dies
        (``kill -9`` included), the command sees EOF, which is what the host lock relies on.

        Raises:
            TransportError: the program does not exist or cannot be executed.
        """
        args = check_argv(argv)
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            raise TransportError(
                f"{self.host.name}: cannot start `{describe(args)}`: {e.strerror}"
            ) from e
        return LocalProcess(self.host.name, args, proc)

    # -- files ------------------------------------------------------------------------------

    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None when it (or a parent directory) does not exist.

        Raises:
            TransportError: the path exists but cannot be read (a directory, no permission).
        """
        try:
            with open(path, "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise TransportError(f"{self.host.name}: cannot read {path}: {e.strerror}") from e

    def stat(self, path: str) -> FileStat | None:
        """Permission bits, owner and size of ``path`` (symlinks followed), or None if absent.

        Raises:
            TransportError: the path cannot be inspected (no permission).
        """
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise TransportError(f"{self.host.name}: cannot stat {path}: {e.strerror}") from e
        return FileStat(
            mode=stat_mod.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            size=st.st_size,
            is_dir=stat_mod.S_ISDIR(st.st_mode),
        )

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int = 0, gid: int = 0) -> None:
        """Replace ``path`` atomically with ``data``, owned ``uid:gid`` with ``mode``.

        A reader sees the old file or the new one, never a mix: the data goes to a temp file in
        the same directory (created 0600, so a secret is never readable by others, even
        briefly), is fsynced, gets its owner and mode, and is renamed over ``path``; then the
        directory is fsynced so the rename survives a crash. Missing parents are created 0755.

        Raises:
            TransportError: the file could not be written (permissions, disk full, ...).
        """
        parent = os.path.dirname(os.path.abspath(path))
        try:
            _makedirs(parent)
            fd, tmp = tempfile.mkstemp(
                dir=parent, prefix=f".{os.path.basename(path)}.", suffix=".checkpointctl"
            )
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    st = os.fstat(fd)
                    if (st.st_uid, st.st_gid) != (uid, gid):
                        os.fchown(fd, uid, gid)  # before chmod: chown clears setuid bits
                    os.fchmod(fd, mode)
                    os.fsync(fd)
                os.replace(tmp, path)
            except BaseException:
                _unlink_quietly(tmp)
                raise
            _fsync_dir(parent)
        except OSError as e:
            raise TransportError(f"{self.host.name}: cannot write {path}: {e.strerror}") from e

    def remove_file(self, path: str) -> None:
        """Remove ``path`` if it exists.

        Raises:
            TransportError: it exists but cannot be removed.
        """
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as e:
            raise TransportError(f"{self.host.name}: cannot remove {path}: {e.strerror}") from e

    # -- docker -----------------------------------------------------------------------------

    def docker(self) -> DockerClient:
        """The Docker client for ``/var/run/docker.sock``, created on first use and reused.

        The ``docker`` package is imported here, not at module import, so commands that never
        talk to Docker (``checkpointctl --version``, ``validate``) do not pay for it.

        Raises:
            TransportError: the engine cannot be reached.
        """
        with self._lock:
            if self._docker is None:
                import docker  # lazy on purpose: see the docstring

                try:
                    client: DockerClient = docker.DockerClient(base_url=DOCKER_SOCKET_URL)
                except docker.errors.DockerException as e:
                    raise TransportError(
                        f"{self.host.name}: cannot reach the Docker engine at "
                        f"{DOCKER_SOCKET_URL}: {e}"
                    ) from e
                self._docker = client
            return self._docker

    def close(self) -> None:
        """Close the Docker client, if one was created. Safe to call twice."""
        with self._lock:
            client, self._docker = self._docker, None
        if client is not None:
            client.close()


class LocalProcess:
    """A command started by :meth:`LocalTransport.spawn`."""

    def __init__(self, host: str, argv: tuple[str, ...], proc: subprocess.Popen[bytes]) -> None:
        self._host = host
        self._argv = argv
        self._proc = proc
        self._out = bytearray()
        self._err = bytearray()
        self._eof = False

    def send(self, data: bytes) -> None:
        stdin = self._proc.stdin
        try:
            if stdin is None:
                raise BrokenPipeError
            stdin.write(data)
            stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            raise TransportError(
                f"{self._host}: cannot write to `{describe(self._argv)}`: it has ended"
            ) from e

    def _read_ready(self, timeout: float) -> None:
        """Read whatever stdout/stderr have within ``timeout`` (never blocks longer)."""
        out, err = self._proc.stdout, self._proc.stderr
        fds = [f for f in (out, err) if f is not None and not f.closed]
        if self._eof:
            fds = [f for f in fds if f is not out]
        if not fds:
            return
        ready, _, _ = select.select(fds, [], [], max(0.0, timeout))
        for f in ready:
            chunk = os.read(f.fileno(), 65536)
            if f is out:
                if chunk:
                    self._out.extend(chunk)
                else:
                    self._eof = True
            elif chunk:
                keep_tail(self._err, chunk)
            else:
                f.close()

    def read_line(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            line = split_line(self._out)
            if line is not None:
                return line
            if self._eof:
                rest, self._out = bytes(self._out), bytearray()
                return rest
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._read_ready(remaining)

    def close_stdin(self) -> None:
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()

    def wait(self, timeout: float) -> int | None:
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr_tail(self) -> str:
        self._read_ready(0)
        return self._err.decode("utf-8", "replace")

    def close(self) -> None:
        self.close_stdin()
        if self._proc.poll() is None:
            # its whole group, as run() does on timeout (not _kill_group: stdin is closed)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        for f in (self._proc.stdout, self._proc.stderr):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()  # in case it left its group; harmless if already dead
    proc.communicate()


def _makedirs(path: str) -> None:
    """``mkdir -p`` where each directory created gets exactly :data:`DIR_MODE`.

    Explicit chmod because ``mkdir``'s mode is filtered by the umask.
    """
    if os.path.isdir(path):
        return
    _makedirs(os.path.dirname(path))
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return  # created concurrently by someone else: theirs to mode
    os.chmod(path, DIR_MODE)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
