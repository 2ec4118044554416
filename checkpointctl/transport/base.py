"""The transport contract every resource and the engine talk to.

A transport is one connection to one host, reused for every command, file and Docker call of a
run. Commands are argv lists, never shell text: only the SSH transport turns argv into a string,
with :func:`shlex.join`, because the SSH protocol carries a string.

What a transport can do is declared here, as one sub-protocol per capability, and
:class:`Transport` is all of them: every transport implements every method, and one that has no
use for a capability says so through the method's typed answer (the local transport keeps no
shell: :meth:`KeptShell.keep_shell` answers False). Callers never probe an object for methods.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from checkpointctl.model import Host, JSONValue


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command did: its argv, exit status and raw output."""

    argv: tuple[str, ...]
    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def text(self) -> str:
        """stdout decoded as UTF-8 (invalid bytes replaced: output is data, not code)."""
        return self.stdout.decode("utf-8", "replace")


def check_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """Validate a command's argv and freeze it.

    A command is a non-empty sequence of strings (never one shell string: a ``str`` would be
    iterated character by character, so it is refused). NUL cannot travel in an argument on any
    transport, so it is refused here rather than silently truncated on the SSH side.

    Raises:
        TypeError: argv is a string or holds a non-string.
        ValueError: argv is empty or an argument contains NUL.
    """
    if isinstance(argv, str | bytes):
        raise TypeError("argv must be a sequence of arguments, not a single string")
    frozen = tuple(argv)
    if not frozen:
        raise ValueError("argv must not be empty")
    for arg in frozen:
        if not isinstance(arg, str):
            raise TypeError(f"argv items must be str, got {type(arg).__name__}")
        if "\0" in arg:
            raise ValueError("argv items must not contain NUL")
    return frozen


@dataclass(frozen=True, slots=True)
class Watch:
    """The files whose metadata covers a read command's answer: while none of them changed
    (same inode, size, type, mode, owner, modification and change times) and none of
    ``absent`` exists, the command would answer what it answered before
    (:mod:`~checkpointctl.transport.readmemo`). ``Watch()`` covers an answer that depends on
    no file at all, only on the connection (its ``SSH_CONNECTION``)."""

    paths: tuple[str, ...] = ()
    """Paths as they are (never expanded): each, and every directory on its way."""
    globs: tuple[str, ...] = ()
    """Patterns expanded on the host: every match, and every directory on its way."""
    absent: tuple[str, ...] = ()
    """Paths whose presence means the answer depends on more than files (a process that may
    be alive or not): while one exists, the command is run every time."""


def _with_directories(paths: Iterable[str]) -> list[str]:
    out: list[str] = []
    for path in paths:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        prefix = "" if path.startswith("/") else "."
        for part in parts:
            prefix = f"{prefix}/{part}"
            out.append(prefix)
    return list(dict.fromkeys(out))


def _literal_prefix(pattern: str) -> str:
    """The directories of ``pattern`` before its first wildcard (pure)."""
    head = pattern
    for i, ch in enumerate(pattern):
        if ch in "*?[":
            head = pattern[:i]
            break
    return posixpath.dirname(head) if head != pattern else pattern


def watched(watches: Iterable[Watch]) -> tuple[list[str], list[str]]:
    """Everything ``watches`` cover, for one ``stat`` on the host (pure; the same watches give
    the same answer, whatever their order): the plain paths (every path, absent one and
    pattern's directory, each with every directory on its way), then the patterns."""
    paths: list[str] = []
    globs: list[str] = []
    for watch in watches:
        paths.extend(watch.paths)
        paths.extend(watch.absent)
        paths.extend(_literal_prefix(g) for g in watch.globs)
        globs.extend(watch.globs)
    return _with_directories(sorted(set(paths))), sorted(set(globs))


@dataclass(frozen=True, slots=True)
class Command:
    """One command of a batch: its argv, its stdin (None: empty), its timeout and, for a read
    whose answer depends only on files, the files that cover it (None: it may change with
    nothing on disk changing, such as ``nft list ruleset``; it is run every time)."""

    argv: tuple[str, ...]
    stdin: bytes | None = None
    timeout: float = 60.0
    watch: Watch | None = None
    shares_stat: bool = False
    """Its script asks ``stat`` only about paths its watch covers, through the safe-path
    check's lookup (``cp_st``): a batch may answer them from the one ``stat`` it runs for all
    such commands (:mod:`~checkpointctl.transport.statshare`)."""
    read_only: bool = False
    """It changes nothing on the host, though no watch covers its answer (``nft list``). Every
    command with a watch changes nothing either; any other command ends what a batch's shared
    ``stat`` may answer."""

    @property
    def changes_nothing(self) -> bool:
        """Whether the host's files are as they were after this command (by its contract)."""
        return self.read_only or self.watch is not None

    @classmethod
    def of(
        cls, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 60.0
    ) -> Command:
        """A command with a checked argv (see :func:`check_argv`)."""
        return cls(check_argv(argv), stdin, timeout)


@dataclass(frozen=True, slots=True)
class FileStat:
    """The parts of ``stat`` that desired state cares about."""

    mode: int
    uid: int
    gid: int
    size: int
    is_dir: bool = False


class HostProcess(Protocol):
    """A command started by :meth:`ProcessRunner.spawn`, talking over its stdin and stdout."""

    def send(self, data: bytes) -> None:
        """Write ``data`` to the command's stdin.

        Raises:
            TransportError: the command or the connection is gone.
        """
        ...

    def read_line(self, timeout: float) -> bytes | None:
        """The next line of stdout (with its newline), ``b""`` at end of output, or None when
        nothing complete arrived within ``timeout`` seconds."""
        ...

    def close_stdin(self) -> None:
        """Signal end of input (the command sees EOF)."""
        ...

    def wait(self, timeout: float) -> int | None:
        """The exit status once the command ended, or None if it still runs after ``timeout``."""
        ...

    def stderr_tail(self) -> str:
        """The last bytes the command wrote to stderr, decoded (see ``process.STDERR_KEEP``)."""
        ...

    def close(self) -> None:
        """Stop the command if it still runs and release its channel or pipes. Idempotent."""
        ...


@dataclass(frozen=True, slots=True)
class HeldShell:
    """A shell of ours already running on the host that answers the kept shell's requests
    (:mod:`~checkpointctl.transport.shellserver`) with frames made with ``token``: the host
    lock's held shell. Its owner lends it with :meth:`KeptShell.adopt_shell` and takes it back
    with :meth:`KeptShell.drop_shell`; while lent, only the transport talks to it."""

    process: HostProcess
    token: str


class CommandRunner(Protocol):
    """Runs one command to completion."""

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        """Run argv on the host; with ``check`` a non-zero exit raises ``CommandFailed``.

        ``timeout`` bounds the command on the host itself, not only the wait for it: once
        ``CommandTimedOut`` is raised, nothing of the command runs there any more (see
        :mod:`~checkpointctl.transport.hostbound`; a kept shell's request on a connection that
        died meanwhile ends with its commands).

        Raises:
            CommandFailed: ``check`` and a non-zero exit (the host was reached).
            CommandTimedOut: the command did not finish within ``timeout`` seconds.
            TransportError: the host cannot be reached, or cannot bound commands.
        """
        ...


class BatchRunner(Protocol):
    """Runs several commands as one unit, in as few round trips as the transport can."""

    def run_many(self, commands: Sequence[Command]) -> list[CommandResult]:
        """One result per command, in order, as ``run(check=False)`` would return it. The batch
        is bounded on the host to the sum of its commands' timeouts (a kept shell's request: its
        process group is killed when that sum has passed).

        Raises:
            CommandTimedOut: the batch did not finish within that sum.
            TransportError: the host could not be reached.
        """
        ...


class ProcessRunner(Protocol):
    """Starts a command that keeps running while the controller works, and dies with it."""

    def spawn(self, argv: Sequence[str]) -> HostProcess:
        """Start argv on the host without waiting for it. The command's stdin ends when this
        connection (or this process) does, whatever the reason: the host lock relies on it.

        Raises:
            TransportError: the command could not be started.
        """
        ...


class KeptShell(Protocol):
    """Runs command batches in one long-lived shell on the host instead of a session each."""

    def keep_shell(self) -> bool:
        """From now on run batches in a kept shell, started on first use; whether this
        transport does (a transport whose commands cost no session has nothing to keep)."""
        ...

    def adopt_shell(self, shell: HeldShell) -> bool:
        """Run batches in ``shell`` until :meth:`drop_shell`; whether it was taken (only a
        shell started by this transport can be)."""
        ...

    def drop_shell(self, shell: HeldShell) -> None:
        """Stop using ``shell``; what the transport read from it and did not use goes back to
        its process, whose owner talks to it again. Nothing happens if it was not adopted."""
        ...


class FileAccess(Protocol):
    """Reads and atomically writes files on the host."""

    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        ...

    def stat(self, path: str) -> FileStat | None:
        """The file's mode/owner/size, or None when it does not exist."""
        ...

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int = 0, gid: int = 0) -> None:
        """Write atomically: temp file in the same directory, fsync, chmod/chown, rename.

        Parent directories are created (mode 0755, root-owned) when missing.
        """
        ...

    def remove_file(self, path: str) -> None:
        """Remove a file if it exists (no error when it is already gone)."""
        ...


class DockerApi(Protocol):
    """The low-level Docker API client (``docker.APIClient``) calls checkpointctl makes.

    docker-py ships no type information, so this protocol states it: each method as docker-py
    names its parameters, limited to those checkpointctl passes. An answer is the engine's JSON
    as ``json.loads`` made it (:data:`~checkpointctl.model.JSONValue`); the resources narrow it
    with :mod:`checkpointctl.model.jsondoc` into their own types.
    """

    api_version: str

    def version(self, api_version: bool = True) -> dict[str, JSONValue]:
        """``GET /version``: the engine's version document."""
        ...

    def containers(self, all: bool = False) -> list[dict[str, JSONValue]]:
        """``GET /containers/json``: one summary per container (``all``: stopped ones too)."""
        ...

    def images(self, all: bool = False) -> list[dict[str, JSONValue]]:
        """``GET /images/json``: one summary per image (``all``: intermediate layers too)."""
        ...

    def inspect_container(self, container: str) -> dict[str, JSONValue]:
        """``GET /containers/{id}/json``.

        Raises:
            docker.errors.NotFound: no such container.
        """
        ...

    def inspect_image(self, image: str) -> dict[str, JSONValue]:
        """``GET /images/{name}/json``.

        Raises:
            docker.errors.NotFound: no such image.
        """
        ...

    def networks(
        self,
        names: Sequence[str] | None = None,
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> list[dict[str, JSONValue]]:
        """``GET /networks``: the networks whose name matches one of ``names`` (a substring
        match on the engine's side: callers compare names themselves) and ``filters``."""
        ...

    def remove_network(self, net_id: str) -> None:
        """``DELETE /networks/{id}`` (refused by the engine while a container uses it)."""
        ...

    def volumes(self, filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, JSONValue]:
        """``GET /volumes``: ``{"Volumes": [...], "Warnings": ...}`` matching ``filters``."""
        ...

    def create_volume(
        self,
        name: str | None = None,
        driver: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, JSONValue]:
        """``POST /volumes/create``: the new volume's document."""
        ...

    def remove_volume(self, name: str, force: bool = False) -> None:
        """``DELETE /volumes/{name}`` (refused by the engine while a container uses it)."""
        ...

    def create_network(
        self,
        name: str,
        driver: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, JSONValue]:
        """``POST /networks/create``: the new network's ``Id`` (and a ``Warning``)."""
        ...

    def create_container_from_config(
        self, config: Mapping[str, JSONValue], name: str | None = None
    ) -> dict[str, JSONValue]:
        """``POST /containers/create`` with ``config`` as the body: the new ``Id``."""
        ...

    def start(self, container: str) -> None: ...

    def stop(self, container: str, timeout: int | None = None) -> None: ...

    def restart(self, container: str, timeout: int = 10) -> None: ...

    def unpause(self, container: str) -> None: ...

    def rename(self, container: str, name: str) -> None: ...

    def remove_container(self, container: str, v: bool = False, force: bool = False) -> None: ...

    def update_container(
        self,
        container: str,
        mem_limit: int | None = None,
        memswap_limit: int | None = None,
        restart_policy: Mapping[str, JSONValue] | None = None,
    ) -> dict[str, JSONValue]:
        """``POST /containers/{id}/update``: the engine's ``Warnings``."""
        ...

    def logs(
        self, container: str, stdout: bool = True, stderr: bool = True, tail: int | str = "all"
    ) -> bytes:
        """The container's log, both streams interleaved (not streamed: one ``bytes``)."""
        ...

    def exec_create(
        self, container: str, cmd: Sequence[str], stdout: bool = True, stderr: bool = True
    ) -> dict[str, JSONValue]:
        """``POST /containers/{id}/exec``: an exec instance (its ``Id``), not started yet."""
        ...

    def exec_start(self, exec_id: str, detach: bool = False) -> bytes:
        """``POST /exec/{id}/start``; with ``detach`` it returns at once, over plain HTTP."""
        ...

    def exec_inspect(self, exec_id: str) -> dict[str, JSONValue]:
        """``GET /exec/{id}/json``: ``Running`` and, once it ended, ``ExitCode``."""
        ...

    def pull(
        self,
        repository: str,
        tag: str | None = None,
        *,
        stream: Literal[True],
        decode: Literal[True],
    ) -> Iterator[JSONValue]:
        """``POST /images/create``, streamed and decoded: the engine's progress events, one JSON
        object each (an ``error`` key when the pull failed)."""
        ...


class DockerClient(Protocol):
    """A ``docker.DockerClient`` as checkpointctl uses it: its low-level API, and close."""

    @property
    def api(self) -> DockerApi: ...

    def close(self) -> None: ...


class DockerAccess(Protocol):
    """Reaches the host's Docker engine."""

    def docker(self) -> DockerClient:
        """A Docker client for this host's engine, created once and reused.

        Raises:
            CommandFailed: the command that reaches the engine failed on the host.
            TransportError: the engine cannot be reached otherwise.
        """
        ...


class ByteStream(Protocol):
    """The part of a socket a banner check needs (a socket, an SSH channel, a ProxyCommand)."""

    def recv(self, n: int) -> bytes: ...

    def settimeout(self, timeout: float | None) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class NewConnections(Protocol):
    """Opens *new* TCP connections to the host's SSH port along the transport's own route:
    directly, through its jump hosts, or through its ProxyCommand. The firewall's commit-confirm
    step needs one to prove the new rules still let management in, from where management comes
    (behind a bastion, that is the bastion, not the controller)."""

    def open_stream(self, timeout: float) -> ByteStream:
        """A new connection to the host's SSH port.

        Raises:
            OSError: it could not be made (refused, timed out, the jump host could not connect).
        """
        ...


class Transport(
    CommandRunner, BatchRunner, ProcessRunner, KeptShell, FileAccess, DockerAccess, Protocol
):
    """One open connection to one host, with every capability above."""

    host: Host

    def alive(self) -> bool:
        """Whether the connection is still open (a kept connection is reused only if so)."""
        ...

    def close(self) -> None:
        """Release the connection, its shells and the Docker client."""
        ...
