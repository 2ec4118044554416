"""The transport contract every resource talks to.

A transport is one connection to one host, reused for every command, file and Docker call of a
run. Commands are argv lists, never shell text: only the SSH transport turns argv into a string,
with :func:`shlex.join`, because the SSH protocol carries a string.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from checkpointctl.model import Host


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


@dataclass(frozen=True, slots=True)
class FileStat:
    """The parts of ``stat`` that desired state cares about."""

    mode: int
    uid: int
    gid: int
    size: int
    is_dir: bool = False


class Transport(Protocol):
    """One open connection to one host."""

    host: Host

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        """Run argv on the host; with ``check`` a non-zero exit raises ``CommandFailed``."""
        ...

    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        ...

    def stat(self, path: str) -> FileStat | None:
        """The file's mode/owner/size, or None when it does not exist."""
        ...

    def write_file(
        self, path: str, data: bytes, *, mode: int, uid: int = 0, gid: int = 0
    ) -> None:
        """Write atomically: temp file in the same directory, fsync, chmod/chown, rename.

        Parent directories are created (mode 0755, root-owned) when missing.
        """
        ...

    def remove_file(self, path: str) -> None:
        """Remove a file if it exists (no error when it is already gone)."""
        ...

    def docker(self) -> Any:
        """A ``docker.DockerClient`` for this host's engine, created once and reused."""
        ...

    def close(self) -> None:
        """Release the connection and the Docker client."""
        ...
