"""The files every SSH connection of a run reads (known_hosts, the identity key), parsed once.

Why: paramiko's known_hosts parser builds a key object per line and asks
``logging.getLogger`` for each, whose global lock serialises the workers; parsing the file (and
the identity key) per connection would make it most of a fleet's connect time. Both are parsed
once and reused while the file stays the same: the cache key is the file's (device, inode, size,
mtime), so a trust-on-first-use write, a rotated key or an edited known_hosts is seen by the
very next connection. A host may name several known_hosts files (``UserKnownHostsFile a b``);
each is one cache entry, parsed once for every host that names it. Host key checking is
paramiko's: each connection gets exactly the keys known_hosts lists for its host name, looked
up the way paramiko does (hashed names included), and a missing or changed key is refused.
"""

from __future__ import annotations

import base64
import hmac
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from checkpointctl.errors import TransportError
from checkpointctl.transport.sshlib import UnknownKeyType, paramiko

if TYPE_CHECKING:
    from paramiko.hostkeys import HostKeyEntry

T = TypeVar("T")
_Stamp = tuple[int, int, int, int]


class FileCache(Generic[T]):
    """``load(path)``'s result per path, reloaded when the file's stamp changes (thread-safe)."""

    def __init__(self, load: Callable[[str], T]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[_Stamp, T]] = {}

    def get(self, path: str) -> T:
        """The parsed file. Raises whatever ``load`` or ``os.stat`` raise (nothing is cached
        then, so the next call tries again)."""
        st = os.stat(path)
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None and entry[0] == stamp:
                return entry[1]
            value = self._load(path)
            self._entries[path] = (stamp, value)
            return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_HASHED = "|1|"
"""How a hashed host name starts (``HashKnownHosts``): ``|1|salt|hash``, both base64."""


class KnownHosts:
    """A known_hosts file parsed by paramiko, with its entries indexed by plain host name.

    paramiko's ``HostKeys.lookup`` compares the name with every entry of the file, in Python,
    for every connection: with the lab's hundred-odd lines a tenth of a millisecond per host,
    more with a fleet's. Here a name is found in a dictionary; entries with a hashed name are
    still hashed with the name and compared one by one, as paramiko does. :meth:`keys_for` answers
    what ``lookup`` answers.
    """

    def __init__(self, entries: Sequence[HostKeyEntry]) -> None:
        """``entries``: the file's parsed lines, in file order."""
        self._entries = list(entries)
        self._by_name: dict[str, list[int]] = {}
        self._hashed: list[int] = []
        for index, entry in enumerate(entries):
            for name in entry.hostnames:
                self._by_name.setdefault(name, []).append(index)  # paramiko: equal names match
                if name.startswith(_HASHED):
                    self._hashed.append(index)

    def keys_for(self, name: str) -> dict[str, paramiko.PKey]:
        """The keys listed for ``name``, one per key type: the first line's, as paramiko's
        ``lookup`` gives them."""
        found = set(self._by_name.get(name, ()))
        if not name.startswith(_HASHED):
            found.update(i for i in self._hashed if self._hashed_match(name, i))
        keys: dict[str, paramiko.PKey] = {}
        for index in sorted(found):
            key = self._entries[index].key
            if key is not None:
                keys.setdefault(key.get_name(), key)
        return keys

    def _hashed_match(self, name: str, index: int) -> bool:
        return any(
            hashed.startswith(_HASHED)
            and hmac.compare_digest(
                paramiko.HostKeys.hash_host(name, hashed).encode(), hashed.encode()
            )
            for hashed in self._entries[index].hostnames
        )


def load_known_hosts(path: str) -> KnownHosts:
    """The file at ``path``, each line parsed as paramiko's ``HostKeys.load`` parses it (blank
    lines, comments, lines of an unknown key type and unparsable lines skipped; a key that is
    not base64 too, as ``ssh`` skips it, where paramiko's load gives up on the whole file).

    ``HostKeys.load`` also looks every line's names up among all the lines before it, to drop a
    name listed again with the same key: quadratic, ~50 million name comparisons in Python for
    a fleet's 10,000-line file. A name listed again changes nothing :meth:`KnownHosts.keys_for`
    answers (the first line of each key type counts), so no such look-up is made here.

    Raises:
        OSError: the file cannot be read.
        UnicodeDecodeError: it is not UTF-8 text.
    """
    entries: list[HostKeyEntry] = []
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
            except (paramiko.SSHException, paramiko.hostkeys.InvalidHostKey):
                continue  # as ssh does; paramiko's load raises InvalidHostKey (bad base64)
            if entry is not None:
                entries.append(entry)
    return KnownHosts(entries)


KNOWN_HOSTS: FileCache[KnownHosts] = FileCache(load_known_hosts)
IDENTITIES: FileCache[paramiko.PKey] = FileCache(paramiko.PKey.from_path)


@dataclass(frozen=True, slots=True)
class KnownKey:
    """One host key a known_hosts file lists for a host, and the file that lists it."""

    file: str
    key_type: str
    key: paramiko.PKey


class UnreadableKnownHosts(TransportError):
    """A known_hosts file exists but cannot be read or parsed (the message names it)."""


def known_keys(files: Sequence[str], name: str) -> tuple[KnownKey, ...]:
    """Every key the ``files`` list for ``name`` (``[address]:port`` form), file by file in
    order; a file that does not exist lists none, as with ``ssh``. Within one file the first
    line of a key type counts, as paramiko reads a file.

    Raises:
        UnreadableKnownHosts: a file exists but cannot be read or parsed.
    """
    found: list[KnownKey] = []
    for path in files:
        if not os.path.exists(path):
            continue
        try:
            entries = KNOWN_HOSTS.get(path).keys_for(name)
        except (OSError, ValueError, paramiko.SSHException) as e:  # ValueError: not UTF-8
            raise UnreadableKnownHosts(f"cannot read known_hosts {path}: {e}") from e
        found.extend(KnownKey(path, key_type, key) for key_type, key in entries.items())
    return tuple(found)


def add_known_keys(client: paramiko.SSHClient, files: Sequence[str], name: str) -> None:
    """Give ``client`` the keys the ``files`` hold for ``name`` (``[address]:port`` form), so
    paramiko checks them (and asks the server for a key type it knows).

    OpenSSH accepts a host key found in any of its known_hosts files, while paramiko holds one
    key per type: a type for which the files disagree is left out, so that an offered key of
    that type reaches the missing-key policy, which accepts it when any file lists it (see
    :func:`checkpointctl.transport.hostkeys.judge_key`).

    Raises:
        UnreadableKnownHosts: a file exists but cannot be read or parsed.
    """
    by_type: dict[str, list[paramiko.PKey]] = {}
    for known in known_keys(files, name):
        by_type.setdefault(known.key_type, []).append(known.key)
    if not by_type:
        return
    keys = client.get_host_keys()
    for key_type, found in by_type.items():
        if all(k.asbytes() == found[0].asbytes() for k in found[1:]):
            keys.add(name, key_type, found[0])


def identity_key(path: str) -> paramiko.PKey | None:
    """The identity file's private key, parsed once; None when this parser cannot read it (the
    caller then lets paramiko load the file itself, which gives the errors it always gave,
    "encrypted" included).

    Raises:
        paramiko.PasswordRequiredException: an OpenSSH-format key is encrypted.
    """
    try:
        return IDENTITIES.get(path)
    except paramiko.PasswordRequiredException:
        raise
    except TypeError:
        # cryptography's word for an encrypted key (OpenSSH or PEM format) given no password
        if encrypted_key_file(path):
            raise paramiko.PasswordRequiredException(f"{path} is encrypted") from None
        return None
    except (OSError, ValueError, paramiko.SSHException, UnknownKeyType):
        return None


_OPENSSH_BEGIN = b"-----BEGIN OPENSSH PRIVATE KEY-----"
_OPENSSH_MAGIC = b"openssh-key-v1\0"


def encrypted_key_file(path: str) -> bool:
    """Whether the private key file at ``path`` is passphrase-protected: an OpenSSH-format key
    whose cipher (the first field after the magic, see OpenSSH's PROTOCOL.key) is not
    ``none``, or a PEM key with a ``Proc-Type: 4,ENCRYPTED`` header or PKCS#8 encryption."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 16)
    except OSError:
        return False
    text = data.strip()
    if text.startswith(_OPENSSH_BEGIN):
        body = b"".join(text.splitlines()[1:-1])
        try:
            blob = base64.b64decode(body)
        except ValueError:
            return False
        if not blob.startswith(_OPENSSH_MAGIC):
            return False
        rest = blob[len(_OPENSSH_MAGIC) :]
        if len(rest) < 4:
            return False
        size = int.from_bytes(rest[:4], "big")
        return rest[4 : 4 + size] not in (b"none", b"")
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in text or b"4,ENCRYPTED" in text
