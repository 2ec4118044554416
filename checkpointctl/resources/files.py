"""Managed files: read many in one round trip, diff mode/owner/content, write atomically.

Reading is the hot path of every ``drift``: one fixed shell script, with the paths passed as
positional arguments (never interpolated), reports mode, owner and content hash of every file at
once, so checking a host's files costs one command however many files it has. Only files whose
hash differs are read in full, and only when their content may be shown (never secrets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from checkpointctl.model import FieldChange
from checkpointctl.transport import safepath
from checkpointctl.transport.base import Transport, Watch
from checkpointctl.transport.batch import Command
from checkpointctl.transport.command import finish

# Fixed text: the paths arrive as "$@", so no value is ever parsed by the shell. A link is
# reported absent and never read through: the write's rename then replaces it.
_STAT_SCRIPT = (
    'for f do if [ -f "$f" ] && [ ! -L "$f" ]; then '
    "printf '%s %s\\n' \"$(stat -c '%a %u %g' -- \"$f\")\" "
    '"$(sha256sum < "$f" | cut -d" " -f1)"; '
    "else echo -; fi; done"
)
_GLOB_SCRIPT = (
    'for f in $1; do [ -L "${f%/*}" ] || [ -L "$f" ] || { [ -f "$f" ] && printf "%s\\n" "$f"; }; '
    "done; true"
)
"""Skips a match reached through a linked directory (the paths resource reports the link) or
that is a link itself."""


@dataclass(frozen=True, slots=True)
class FileState:
    """What a file is on the host (``exists`` False means absent)."""

    path: str
    exists: bool
    mode: int = 0
    uid: int = 0
    gid: int = 0
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class StaleFile:
    """A managed file no policy wants any more: apply removes it."""

    path: str


@dataclass(frozen=True, slots=True)
class FileWant:
    """What a file must be. ``content`` is the exact bytes to write."""

    path: str
    content: bytes
    mode: int
    uid: int = 0
    gid: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def parse_stat_output(paths: Sequence[str], text: str) -> dict[str, FileState]:
    """Pure parse of the stat script's output: one line per path, in order."""
    lines = text.splitlines()
    if len(lines) != len(paths):
        raise ValueError(f"expected {len(paths)} lines from the file check, got {len(lines)}")
    out: dict[str, FileState] = {}
    for path, line in zip(paths, lines, strict=True):
        if line.strip() == "-":
            out[path] = FileState(path, False)
            continue
        mode, uid, gid, digest = line.split()
        out[path] = FileState(path, True, int(mode, 8), int(uid), int(gid), digest)
    return out


def stat_command(paths: Sequence[str]) -> Command:
    """The one command :func:`stat_files` runs (for a batch of reads), once the directories of
    ``paths`` passed the safe-path check (refused with :data:`~safepath.UNSAFE_EXIT` if not)."""
    command = Command(("sh", "-c", _STAT_SCRIPT, "sh", *paths), watch=Watch(paths=tuple(paths)))
    return safepath.guard_files(command, paths)


def glob_command(pattern: str) -> Command:
    """The command listing the existing files matching a glob on the host (for finding
    orphans, in a batch of reads); the pattern is ours."""
    return Command(("sh", "-c", _GLOB_SCRIPT, "sh", pattern), watch=Watch(globs=(pattern,)))


def parse_glob_output(text: str) -> list[str]:
    """Pure parse of the glob script's output: the matching files, sorted."""
    return sorted(line for line in text.splitlines() if line)


def stat_files(transport: Transport, paths: Sequence[str]) -> dict[str, FileState]:
    """Mode, owner and hash of every path, in one command."""
    if not paths:
        return {}
    result = transport.run(stat_command(paths).argv, check=False)
    refused = safepath.refusal(result)
    if refused is not None:
        raise safepath.UnsafePathError(transport.host.name, refused)
    return parse_stat_output(paths, finish(transport.host.name, result, check=True).text())


def metadata_changes(want: FileWant, have: FileState) -> list[FieldChange]:
    """Mode and owner differences, as field changes."""
    out: list[FieldChange] = []
    if have.mode != want.mode:
        out.append(FieldChange("mode", f"{have.mode:04o}", f"{want.mode:04o}"))
    if (have.uid, have.gid) != (want.uid, want.gid):
        out.append(FieldChange("owner", f"{have.uid}:{have.gid}", f"{want.uid}:{want.gid}"))
    return out


def write(transport: Transport, want: FileWant) -> None:
    """Atomic write with mode and owner below checked directories (:func:`safepath.write`)."""
    safepath.write(transport, want.path, want.content, mode=want.mode, uid=want.uid, gid=want.gid)
