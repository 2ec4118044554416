"""The one way to touch a host's files: never through a link, only below checked directories.

Why: a directory checkpointctl writes into (``/etc/checkpoint/credentials``, a container's
directory, ``/var/lib/checkpointctl``) that someone else can replace by a symlink turns every
write into a write *somewhere else*: the secret lands in the attacker's directory, a "stale file"
removal deletes another directory's files, a ``chmod`` widens or narrows the link's target. So
before anything is read, written or deleted below a directory, every directory on its path, from
``/`` down, is checked: it exists as a directory (not a link, FIFO, device or file), it is owned
by root, and neither group nor others may write to it (a root-owned directory with the sticky bit,
such as ``/tmp``, is accepted: others may add entries there but never rename or remove ours). With
that invariant only root can swap a component between the check and the use, so the check holds.

Files are written under a fresh name (``mktemp``, created ``O_EXCL`` and 0600) in the checked
directory, get their owner and mode while still empty, then the data, then are renamed over the
target: a rename replaces a link (or a FIFO, or a device) and never follows it. A directory where
a file should be is refused. Removal unlinks the entry itself (a link, never its target), and only
in a checked directory.

The checks run *inside* the commands that already touch the files (one fixed POSIX ``sh``
function, :data:`CHECK_FUNCTION`, prepended to their scripts, one ``stat`` for every directory
of a call, or one ``stat`` the reads of a batch share, see
:mod:`~checkpointctl.transport.statshare`), so they cost no round trip: a read is wrapped by
:func:`guarded` and still travels in the host's one batch. A violation is never gone through:
the command stops with :data:`UNSAFE_EXIT` and prints ``unsafe <problem> <value> <path>``
lines, which :func:`refusal` turns into typed :class:`Violation` values. Every value reaches the
scripts as a positional parameter; the script text is fixed.

Pull mode uses the same scripts through the local transport. Code that touches the machine it runs
on without a transport (the agent's own records, the trust store) checks with
:func:`check_local`, the same rule on ``os.lstat``.
"""

from __future__ import annotations

import os
import posixpath
import stat as stat_mod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from checkpointctl.errors import ResourceError
from checkpointctl.transport.base import CommandResult, Transport, Watch
from checkpointctl.transport.batch import Command
from checkpointctl.transport.checkfunction import CHECK_FUNCTION
from checkpointctl.transport.command import finish

UNSAFE_EXIT = 86
"""Exit status of a script that refused a path (printed its violations, touched nothing)."""
ROOT_UID = 0
DIR_MODE = 0o755
TEMP_PREFIX = ".checkpointctl-"
"""Names of the temporary files a write makes beside its target (dot files: never listed)."""

_GUARD = (
    CHECK_FUNCTION
    + r"""n=$1; shift
cp_chk "$n" "$@" || exit 86
shift "$n"
exec "$@"
"""
)
"""Fixed text: ``$1`` is how many directories follow; they are checked, then the rest of the
arguments is executed as it is (no shell parses it)."""

_WRITE = (
    CHECK_FUNCTION
    + r"""t=$1; d=${t%/*}; [ -n "$d" ] || d=/
cp_mk "$d"; s=$?
[ "$s" = 1 ] && exit 86
[ "$s" = 0 ] || exit 1
if [ -d "$t" ] && [ ! -L "$t" ]; then echo "unsafe type 4000 $t"; exit 86; fi
tmp=$(umask 077 && mktemp -- "$d/.checkpointctl-XXXXXXXX") || exit 1
if chown -- "$3:$4" "$tmp" && chmod -- "$2" "$tmp" && cat >"$tmp" && mv -f -T -- "$tmp" "$t"
then exit 0; fi
rm -f -- "$tmp"; exit 1
"""
)
"""Fixed text: ``$1`` the target, ``$2`` its mode (octal), ``$3:$4`` its owner; stdin the data.
Owner and mode are set while the fresh file is still empty (before ``cat``), so the data never
sits in a file with a wider mode; ``mv -T`` is one ``rename``."""

_REMOVE = (
    CHECK_FUNCTION
    + r"""t=$1; d=${t%/*}; [ -n "$d" ] || d=/
cp_chk 1 "$d" || exit 86
if [ -d "$t" ] && [ ! -L "$t" ]; then echo "unsafe type 4000 $t"; exit 86; fi
rm -f -- "$t"
"""
)
"""Fixed text: ``$1`` the entry to unlink (a file or a link, never a directory)."""

_READ = (
    CHECK_FUNCTION
    + r"""t=$1; d=${t%/*}; [ -n "$d" ] || d=/
cp_chk 1 "$d" || exit 86
if [ -L "$t" ]; then echo "unsafe link - $t"; exit 86; fi
[ -e "$t" ] || exit 3
if [ ! -f "$t" ]; then echo "unsafe type $(stat -c %f -- "$t") $t"; exit 86; fi
exec cat -- "$t"
"""
)
"""Fixed text: ``$1`` a regular file to print; exit 3 when absent. A link or anything but a
regular file is refused rather than opened (a FIFO would block, a device would be read)."""

ABSENT_EXIT = 3


class Problem(StrEnum):
    """What is wrong with a path: what a finding and a repair decide on."""

    LINK = "link"
    TYPE = "type"
    OWNER = "owner"
    MODE = "mode"


_TYPES = {
    0o040000: "directory",
    0o100000: "regular file",
    0o120000: "symbolic link",
    0o010000: "FIFO",
    0o020000: "character device",
    0o060000: "block device",
    0o140000: "socket",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One path that must not be gone through, and why."""

    path: str
    problem: Problem
    value: str = "-"
    """What was found: the owner's uid, the mode (octal) or the file type (hex, as ``stat``'s
    ``%f``); ``-`` for a link."""

    @property
    def found(self) -> str:
        """The offending state in words ("symbolic link", "uid 1000", "0777", "FIFO")."""
        if self.problem is Problem.LINK:
            return "symbolic link"
        if self.problem is Problem.OWNER:
            return f"uid {self.value}"
        if self.problem is Problem.MODE:
            return f"{int(self.value, 8):04o}" if self.value.isdigit() else self.value
        try:
            return _TYPES.get(int(self.value, 16) & 0o170000, "special file")
        except ValueError:
            return "special file"

    @property
    def message(self) -> str:
        what = {
            Problem.LINK: "is a symbolic link",
            Problem.TYPE: f"is a {self.found} where a directory or file of ours should be",
            Problem.OWNER: f"is owned by {self.found}, not root",
            Problem.MODE: f"is writable by group or others (mode {self.found})",
        }[self.problem]
        return f"{self.path} {what}"


class UnsafePathError(ResourceError):
    """A file operation refused: a directory on the path (or the entry) is not safe to use."""

    def __init__(self, host: str, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        text = "; ".join(v.message for v in self.violations) or "an unsafe path"
        super().__init__(f"{host}: refused, not gone through: {text}")


def parse_violations(text: str) -> list[Violation]:
    """The ``unsafe …`` lines of a script's output, deduplicated, in order (pure). A path below
    another violation is dropped: it was only reached through it."""
    out: list[Violation] = []
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) != 4 or parts[0] != "unsafe":
            continue
        try:
            problem = Problem(parts[1])
        except ValueError:
            continue
        v = Violation(parts[3], problem, parts[2])
        if v not in out:
            out.append(v)
    return [v for v in out if not any(below(v.path, o.path) for o in out if o is not v)]


def below(path: str, directory: str) -> bool:
    """Whether ``path`` is strictly below ``directory`` (pure, lexical)."""
    return path != directory and path.startswith(directory.rstrip("/") + "/")


def refusal(result: CommandResult) -> list[Violation] | None:
    """The violations a guarded command refused with, or None when it was not refused."""
    if result.rc != UNSAFE_EXIT:
        return None
    found = parse_violations(result.text())
    return found or None


def _parents(paths: Iterable[str]) -> list[str]:
    return sorted({posixpath.dirname(p) or "/" for p in paths})


_INLINE_GUARD = (
    CHECK_FUNCTION
    + """cp_n=$1; shift
cp_chk "$cp_n" "$@" || exit 86
shift "$cp_n"
"""
)
"""Fixed text put before a ``sh -c`` script of ours: the check in the same shell (no second
shell, no ``exec``), then the script with its own positional parameters."""


def guarded(command: Command, directories: Sequence[str]) -> Command:
    """``command`` run only once every directory on the path of each of ``directories`` passed
    the check (same stdin, timeout and watch: a watch covers every directory on the way of its
    paths, which is what the check reads); refused with :data:`UNSAFE_EXIT` otherwise. A
    ``sh -c`` script gets the check at its start (one shell, as before); any other argv is run
    by the check's shell with ``exec``."""
    argv = command.argv
    dirs = (str(len(directories)), *directories)
    if len(argv) >= 4 and argv[0] == "sh" and argv[1] == "-c":
        inline = ("sh", "-c", _INLINE_GUARD + argv[2], argv[3], *dirs, *argv[4:])
        return Command(inline, command.stdin, command.timeout, command.watch)
    argv = ("sh", "-c", _GUARD, "sh", *dirs, *argv)
    return Command(argv, command.stdin, command.timeout, command.watch)


def guard_files(command: Command, files: Sequence[str]) -> Command:
    """:func:`guarded` for the directories the ``files`` are in."""
    return guarded(command, _parents(files))


def _raise_refused(host: str, result: CommandResult) -> None:
    violations = refusal(result)
    if violations is not None:
        raise UnsafePathError(host, violations)


def write_argv(path: str, mode: int, uid: int, gid: int) -> list[str]:
    """The command :func:`write` runs (its stdin is the data); pure."""
    return ["sh", "-c", _WRITE, "sh", path, f"{mode:o}", str(uid), str(gid)]


def remove_argv(path: str) -> list[str]:
    """The command :func:`remove` runs; pure."""
    return ["sh", "-c", _REMOVE, "sh", path]


def write(
    transport: Transport, path: str, data: bytes, *, mode: int, uid: int = 0, gid: int = 0
) -> None:
    """Write ``path`` atomically below checked directories (see the module docstring); missing
    directories are created 0755. The data travels on stdin, never in argv.

    Raises:
        UnsafePathError: a directory on the path, or the target itself, is not safe.
        CommandFailed: the write failed (disk full, read-only file system).
    """
    result = transport.run(write_argv(path, mode, uid, gid), stdin=data, check=False)
    _raise_refused(transport.host.name, result)
    finish(transport.host.name, result, check=True)


def remove(transport: Transport, path: str) -> None:
    """Unlink ``path`` (a file or a link itself) in a checked directory; nothing when absent.

    Raises:
        UnsafePathError: a directory on the path is not safe, or ``path`` is a directory.
        CommandFailed: the removal failed.
    """
    result = transport.run(remove_argv(path), check=False)
    _raise_refused(transport.host.name, result)
    finish(transport.host.name, result, check=True)


def read_command(path: str) -> Command:
    """The command :func:`read` runs (for a batch)."""
    return Command(("sh", "-c", _READ, "sh", path))


def read_result(host: str, result: CommandResult) -> bytes | None:
    """The file's bytes from :func:`read_command`'s result, None when absent.

    Raises:
        UnsafePathError: the file or a directory on its path is not safe.
        CommandFailed: it could not be read.
    """
    _raise_refused(host, result)
    if result.rc == ABSENT_EXIT:
        return None
    return finish(host, result, check=True).stdout


def read(transport: Transport, path: str) -> bytes | None:
    """A regular file's bytes, read below checked directories; None when it does not exist.

    Raises:
        UnsafePathError: the file is a link or not a regular file, or a directory on its path
            is not safe.
        CommandFailed: it could not be read.
    """
    result = transport.run(read_command(path).argv, check=False)
    return read_result(transport.host.name, result)


# -- the same rule on this machine, without a transport ----------------------------------------


def _local_problem(path: str, st: os.stat_result, owners: frozenset[int]) -> Violation | None:
    kind = stat_mod.S_IFMT(st.st_mode)
    if stat_mod.S_ISLNK(st.st_mode):
        return Violation(path, Problem.LINK)
    if not stat_mod.S_ISDIR(st.st_mode):
        return Violation(path, Problem.TYPE, f"{kind:x}")
    if st.st_uid not in owners:
        return Violation(path, Problem.OWNER, str(st.st_uid))
    mode = stat_mod.S_IMODE(st.st_mode)
    sticky_world = mode & stat_mod.S_ISVTX and mode & 0o002
    if mode & 0o022 and not sticky_world:
        return Violation(path, Problem.MODE, f"{mode:o}")
    return None


def check_local(directories: Iterable[str], *, own: bool = False) -> list[Violation]:
    """:data:`CHECK_FUNCTION`'s rule applied on this machine with ``os.lstat``: the violations
    on the paths of ``directories`` (absolute), first one per path (pure but for the stats).
    ``own``: directories owned by this process's user are accepted too (a store of one's own,
    such as a trust directory used without root)."""
    owners = frozenset({ROOT_UID, os.geteuid()} if own else {ROOT_UID})
    out: list[Violation] = []
    for directory in directories:
        current = ""
        for part in directory.split("/"):
            if part in ("", "."):
                continue
            current = f"{current}/{part}"
            try:
                st = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                break
            problem = _local_problem(current, st, owners)
            if problem is not None:
                if problem not in out:
                    out.append(problem)
                break
    return out


def require_local(
    directories: Iterable[str], where: str = "this host", *, own: bool = False
) -> None:
    """Refuse unless every directory on the paths of ``directories`` passes the check.

    Raises:
        UnsafePathError: naming each violation.
    """
    found = check_local(directories, own=own)
    if found:
        raise UnsafePathError(where, found)


# -- repairing a directory ------------------------------------------------------------------------

_REPAIR = (
    CHECK_FUNCTION
    + r"""p=$2; d=${p%/*}; [ -n "$d" ] || d=/
cp_chk 1 "$d" || exit 86
case $1 in
link)
  if [ -L "$p" ]; then rm -f -- "$p" || exit 1; fi
  [ -d "$p" ] || (umask 022 && mkdir -- "$p") || exit 1;;
owner|mode)
  if [ -L "$p" ]; then echo "unsafe link - $p"; exit 86; fi
  if [ -d "$p" ]; then chown -h 0:0 -- "$p" && chmod go-w -- "$p" || exit 1; fi;;
*) exit 2;;
esac
cp_chk 1 "$p" || exit 86
"""
)
"""Fixed text: ``$1`` the problem (``link``, ``owner``, ``mode``), ``$2`` the directory. Its
parent is checked first; a link is unlinked (its target untouched) and an empty root-owned
0755 directory made in its place; a foreign owner or a writable mode is set back to root and no
group/other write. The result is checked again in the same command."""


def repair_directory(transport: Transport, violation: Violation) -> None:
    """Replace or reset the offending directory entry itself, never what a link points to.

    Raises:
        UnsafePathError: the problem cannot be repaired (a file or FIFO where a directory should
            be), or the parent directory, or the result, is still not safe.
        CommandFailed: the repair failed.
    """
    host = transport.host.name
    if violation.problem is Problem.TYPE:
        raise UnsafePathError(host, [violation])
    argv = ["sh", "-c", _REPAIR, "sh", violation.problem.value, violation.path]
    result = transport.run(argv, check=False)
    _raise_refused(host, result)
    finish(host, result, check=True)


_SURVEY = (
    CHECK_FUNCTION
    + r"""cp_shared=1
root=$1 rb=$2 pf=$3 tn=$4; shift 4
for e in "$root"/*; do
  if [ -d "$e" ] || [ -L "$e" ]; then set -- "$@" "$e"; fi
done
cp_chk $# "$@" || exit 0
live=0
if [ -e "$pf" ] || [ -L "$pf" ] || [ -e "$rb" ] || [ -L "$rb" ]; then
  p=$(cat -- "$pf" 2>/dev/null)
  case $p in
  ''|*[!0-9]*) ;;
  *) if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$tn"; then live=1; fi;;
  esac
  if [ "$live" = 0 ]; then
    for f in "$rb" "$pf"; do
      if [ -e "$f" ] || [ -L "$f" ]; then printf 'leftover %s\n' "$f"; fi
    done
  fi
fi
exit 0
"""
)
"""Fixed text: ``$1`` the managed root whose every subdirectory is checked too, ``$2``/``$3``
the rollback timer's saved table and pidfile, ``$4`` the timer's process name; the rest are
directories to check. Prints the violations; only when there is none, the timer's files that
are left without a live timer (``leftover <path>``)."""


@dataclass(frozen=True, slots=True)
class Survey:
    """What :func:`survey_command` found: the unsafe directories, and leftover files."""

    violations: tuple[Violation, ...]
    leftovers: tuple[str, ...]


def survey_command(
    root: str, directories: Sequence[str], timer_files: tuple[str, str], timer_name: str
) -> Command:
    """One command that checks ``root``, its subdirectories and ``directories``, and looks for
    a rollback timer's files left without their timer (for a batch of reads)."""
    argv = ("sh", "-c", _SURVEY, "sh", root, *timer_files, timer_name, *directories)
    # the timer's liveness is a process, not a file: with its files there, read every time
    watch = Watch(paths=(root, *directories), globs=(f"{root}/*",), absent=timer_files)
    return Command(argv, watch=watch, shares_stat=True)


def parse_survey(host: str, result: CommandResult) -> Survey:
    """Pure parse of :func:`survey_command`'s output.

    Raises:
        CommandFailed: the command failed.
    """
    text = finish(host, result, check=True).text()
    leftovers = tuple(
        line.removeprefix("leftover ") for line in text.splitlines() if line.startswith("leftover ")
    )
    return Survey(tuple(parse_violations(text)), leftovers)


_ENSURE_THEN_EXEC = (
    CHECK_FUNCTION
    + r"""cp_mk "$1"; s=$?
[ "$s" = 1 ] && exit 86
[ "$s" = 0 ] || exit 126
shift
exec "$@"
"""
)
"""Fixed text: ``$1`` a directory to check (and create, 0755, when missing); the rest of the
arguments is executed as it is once it passed."""


def ensure_then_exec(directory: str, argv: Sequence[str]) -> list[str]:
    """The argv that makes sure ``directory`` is safe (created when missing), then runs
    ``argv``; refused with :data:`UNSAFE_EXIT` and ``unsafe …`` lines otherwise (pure)."""
    return ["sh", "-c", _ENSURE_THEN_EXEC, "sh", directory, *argv]
