"""Replacing a file on the controller's (or the agent's) own disk: atomically, durably, and
never through a link.

Every file the package writes locally (reports, bundles, keys, the trust store, the agent's
state, vaulted files, pinned policies) goes through :func:`write_atomic`, so a reader sees the
old file or the new one, never half of either, and a crash leaves the old one in place.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable

DEFAULT_MODE = -1
"""Sentinel for :func:`write_atomic`'s ``mode``: the mode an ordinary ``open()`` would give a
new file (0666 less the umask)."""


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int | None = DEFAULT_MODE,
    owner: tuple[int, int] | None = None,
) -> None:
    """Replace ``path`` by ``data`` (:func:`write_atomic_chunks` with one chunk)."""
    write_atomic_chunks(path, (data,), mode=mode, owner=owner)


def write_atomic_chunks(
    path: str | os.PathLike[str],
    chunks: Iterable[bytes],
    *,
    mode: int | None = DEFAULT_MODE,
    owner: tuple[int, int] | None = None,
) -> None:
    """Replace ``path`` by the concatenation of ``chunks``, written as they come (a report
    streamed from a spool never has to be whole in memory).

    The data goes to a temporary file in the same directory (so the rename cannot cross file
    systems), is fsynced, given its mode, renamed over ``path`` and the directory is fsynced.
    The rename replaces whatever ``path`` is, a symbolic link included, so a link planted at the
    destination is never followed (a caller that means to write through a link resolves it
    first, on purpose).

    Args:
        mode: the new file's permission bits, exactly (the umask does not apply); None keeps the
            current file's bits (or :data:`DEFAULT_MODE`'s when there is no regular file);
            :data:`DEFAULT_MODE` gives those of a file made by ``open()``.
        owner: (uid, gid) to give the file when allowed (only root may give a file away; the
            mode is kept either way).

    Raises:
        OSError: the file could not be written; the destination is unchanged and no temporary
            file is left behind.
    """
    target = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(target))
    bits = _bits(target, mode)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
            st = os.fstat(f.fileno())
            if owner is not None and owner != (st.st_uid, st.st_gid):
                with contextlib.suppress(PermissionError):
                    os.fchown(f.fileno(), *owner)  # before chmod: chown clears setuid bits
            os.fchmod(f.fileno(), bits)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _bits(target: str, mode: int | None) -> int:
    if mode is not None and mode != DEFAULT_MODE:
        return mode
    if mode is None:
        with contextlib.suppress(OSError):
            st = os.lstat(target)
            if stat.S_ISREG(st.st_mode):
                return stat.S_IMODE(st.st_mode)
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` sets it to read it, which
    would briefly widen the files other threads create)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable; best effort (some file systems refuse it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
