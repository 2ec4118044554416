"""Files as root when the login user is not root: through sudo'd commands, not SFTP.

SFTP runs as the login user, so with ``become`` the files checkpointctl owns (under
/etc/checkpoint and /var/lib/checkpointctl, root's, some 0600) are read, inspected, written and
removed by small fixed scripts run through the host's sudo, each path and value a positional
parameter, never shell text. A read that the login user may do anyway goes through SFTP first
(it needs no root); only a refused one is repeated as root.

:func:`write_file_as_root` is the one place a file is written as root this way: it keeps the
SFTP writer's guarantees (the data is never in a file with a wider mode; the rename replaces
the target, it never follows a link at the target).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from checkpointctl.errors import TransportError
from checkpointctl.transport.base import CommandResult, FileStat
from checkpointctl.transport.command import stderr_tail
from checkpointctl.transport.ssh.sftp import DIR_MODE, SftpFiles

#: Runs an argv with stdin on the host as root (through sudo), unchecked.
RootRunner = Callable[[Sequence[str], bytes | None], CommandResult]
#: The exit status the scripts use for "no such file".
ABSENT = 3

_READ = 'if [ ! -e "$1" ]; then exit 3; fi; exec cat -- "$1"'
_STAT = 'if [ ! -e "$1" ]; then exit 3; fi; exec stat -L -c \'%a %u %g %s %F\' -- "$1"'
_REMOVE = 'if [ -d "$1" ] && [ ! -L "$1" ]; then exit 4; fi; exec rm -f -- "$1"'
# $1 path, $2 octal mode, $3 uid, $4 gid, $5 mode of created parents; data on stdin.
_WRITE = """set -eu
parent=$(dirname -- "$1")
if [ ! -d "$parent" ]; then mkdir -p -- "$parent"; chmod "$5" -- "$parent"; fi
scratch=$(mktemp -d "$parent/.checkpointctl-XXXXXXXX")
trap 'rm -rf -- "$scratch"' EXIT
tmp="$scratch/$(basename -- "$1")"
(umask 077; : >"$tmp")
chown "$3:$4" -- "$tmp"
chmod "$2" -- "$tmp"
cat >"$tmp"
sync -- "$tmp" 2>/dev/null || :
mv -f -T -- "$tmp" "$1"
"""


def write_file_as_root(
    run: RootRunner, host: str, path: str, data: bytes, *, mode: int, uid: int, gid: int
) -> None:
    """Replace ``path`` atomically as root, owned ``uid:gid`` with ``mode``.

    The temp file is created empty with mode 0600 in a private 0700 directory beside the target,
    gets its owner and mode before the data arrives, is synced and renamed over ``path``
    (``mv -T``: a link at ``path`` is replaced, never followed; a directory there is an error).

    Raises:
        TransportError: the file could not be written (with the host's reason).
    """
    argv = ("sh", "-c", _WRITE, "sh", path, f"{mode:o}", str(uid), str(gid), f"{DIR_MODE:o}")
    result = run(argv, data)
    if not result.ok:
        raise TransportError(f"{host}: cannot write {path} as root: {_why(result)}")


class RootFiles:
    """The host's files with root's rights: SFTP for what the login user may read, sudo for
    the rest and for every change."""

    def __init__(self, host: str, sftp: SftpFiles, run: RootRunner) -> None:
        self._host = host
        self._sftp = sftp
        self._run = run

    def read_file(self, path: str) -> bytes | None:
        try:
            return self._sftp.read_file(path)
        except TransportError as e:
            if not isinstance(e.__cause__, PermissionError):
                raise
        result = self._run(("sh", "-c", _READ, "sh", path), None)
        if result.rc == ABSENT:
            return None
        if not result.ok:
            raise TransportError(f"{self._host}: cannot read {path} as root: {_why(result)}")
        return result.stdout

    def stat(self, path: str) -> FileStat | None:
        try:
            return self._sftp.stat(path)
        except TransportError as e:
            if not isinstance(e.__cause__, PermissionError):
                raise
        result = self._run(("sh", "-c", _STAT, "sh", path), None)
        if result.rc == ABSENT:
            return None
        fields = result.text().split(" ", 4)
        if not result.ok or len(fields) != 5:
            raise TransportError(f"{self._host}: cannot stat {path} as root: {_why(result)}")
        try:
            return FileStat(
                mode=int(fields[0], 8),
                uid=int(fields[1]),
                gid=int(fields[2]),
                size=int(fields[3]),
                is_dir=fields[4].strip() == "directory",
            )
        except ValueError as e:
            raise TransportError(f"{self._host}: cannot stat {path}: {result.text()!r}") from e

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int = 0, gid: int = 0) -> None:
        write_file_as_root(self._run, self._host, path, data, mode=mode, uid=uid, gid=gid)

    def remove_file(self, path: str) -> None:
        result = self._run(("sh", "-c", _REMOVE, "sh", path), None)
        if not result.ok:
            raise TransportError(f"{self._host}: cannot remove {path} as root: {_why(result)}")


def _why(result: CommandResult) -> str:
    return stderr_tail(result.stderr) or f"exit {result.rc}"
