"""Files over one SFTP session on the host's SSH connection, written atomically."""

from __future__ import annotations

import contextlib
import posixpath
import secrets
import stat as stat_mod
import threading
from collections.abc import Callable

from checkpointctl.errors import HostUnreachable, TransportError
from checkpointctl.transport.base import FileStat
from checkpointctl.transport.ssh.exec import CHUNK
from checkpointctl.transport.sshlib import paramiko

#: Timeout for one SFTP request; files are small, so this only fires on a dead connection.
SFTP_TIMEOUT = 60.0
#: Mode of parent directories ``write_file`` creates.
DIR_MODE = 0o755


class SftpFiles:
    """The host's files through one SFTP session, opened on first use and reused."""

    def __init__(self, host: str, where: str, connection: Callable[[], paramiko.Transport]) -> None:
        self._host = host
        self._where = where
        self._connection = connection
        self._lock = threading.Lock()
        self._client: paramiko.SFTPClient | None = None

    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist.

        Raises:
            TransportError: it exists but cannot be read.
        """
        sftp = self._sftp()
        try:
            with sftp.open(path, "rb") as f:
                size = f.stat().st_size or 0
                if size > CHUNK:
                    f.prefetch(size)  # pipelined reads instead of one round trip per 32 KiB
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise TransportError(f"{self._host}: cannot read {path}: {_why(e)}") from e

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
            raise TransportError(f"{self._host}: cannot stat {path}: {_why(e)}") from e
        mode = st.st_mode or 0
        return FileStat(
            mode=stat_mod.S_IMODE(mode),
            uid=st.st_uid or 0,
            gid=st.st_gid or 0,
            size=st.st_size or 0,
            is_dir=stat_mod.S_ISDIR(mode),
        )

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int = 0, gid: int = 0) -> None:
        """Replace ``path`` atomically, owned ``uid:gid`` with ``mode``.

        SFTP cannot create a file with a chosen mode, so the temp file is made, empty, inside a
        private 0700 directory next to the target and gets its owner and final mode before the
        first byte is written: the data is never in a file with a wider mode. It is fsynced
        (OpenSSH's ``fsync@openssh.com``) and moved over ``path`` with ``posix-rename``, which
        is atomic. Missing parents are created 0755.

        Raises:
            TransportError: the file could not be written.
        """
        sftp = self._sftp()
        parent = posixpath.dirname(path) or "."
        scratch = posixpath.join(parent, f".checkpointctl-{secrets.token_hex(8)}")
        tmp = posixpath.join(scratch, posixpath.basename(path))
        try:
            _makedirs(sftp, parent)
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
            raise TransportError(f"{self._host}: cannot write {path}: {_why(e)}") from e

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
            raise TransportError(f"{self._host}: cannot remove {path}: {_why(e)}") from e

    def close(self) -> None:
        """Close the session, if one was opened. Safe to call twice."""
        with self._lock:
            sftp, self._client = self._client, None
        if sftp is not None:
            sftp.close()

    def _sftp(self) -> paramiko.SFTPClient:
        """The one SFTP session, opened on first use.

        Raises:
            HostUnreachable: the connection is gone or refused the SFTP subsystem.
        """
        with self._lock:
            if self._client is None:
                try:
                    sftp = paramiko.SFTPClient.from_transport(self._connection())
                except (paramiko.SSHException, EOFError, OSError) as e:
                    raise HostUnreachable(f"{self._where}: cannot start SFTP: {e}") from e
                if sftp is None:
                    raise HostUnreachable(f"{self._where}: the host refused the SFTP subsystem")
                channel = sftp.get_channel()
                if channel is not None:
                    channel.settimeout(SFTP_TIMEOUT)
                self._client = sftp
            return self._client


def _makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
    """``mkdir -p`` over SFTP; each directory created gets exactly :data:`DIR_MODE`."""
    try:
        if stat_mod.S_ISDIR(sftp.stat(path).st_mode or 0):
            return
    except FileNotFoundError:
        pass
    parent = posixpath.dirname(path)
    if parent and parent != path:
        _makedirs(sftp, parent)
    try:
        sftp.mkdir(path, DIR_MODE)
    except OSError:
        # SFTP reports "exists" as a generic failure: fine if it is a directory now.
        if not stat_mod.S_ISDIR(sftp.stat(path).st_mode or 0):
            raise
        return
    sftp.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the server's umask


def _fsync(sftp: paramiko.SFTPClient, f: paramiko.SFTPFile) -> None:
    """Flush an open remote file to disk with OpenSSH's ``fsync@openssh.com`` extension.

    paramiko has no public call for it, so this sends the extended request the way paramiko's
    own ``posix_rename`` does (its type stubs do not declare ``_request``). A server without the
    extension leaves the write un-synced, which keeps it atomic (rename) if not durable across a
    power cut; that is not worth failing for.
    """
    with contextlib.suppress(OSError):
        sftp._request(paramiko.sftp.CMD_EXTENDED, "fsync@openssh.com", f.handle)  # type: ignore[attr-defined]


def _why(e: OSError) -> str:
    """The reason in an SFTP ``OSError`` (paramiko puts the server's text in ``strerror``)."""
    return e.strerror or str(e)


def _remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    with contextlib.suppress(OSError):
        sftp.remove(path)


def _rmdir_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    with contextlib.suppress(OSError):
        sftp.rmdir(path)
