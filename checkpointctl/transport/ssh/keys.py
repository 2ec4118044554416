"""Identity keys for a connection, passphrase-protected ones included.

An encrypted key is opened with, in order: the passphrase file the host names
(``ssh_key_passphrase_file``), or a prompt when checkpointctl runs on a terminal (asked once per
key file per run, however many hosts use it), or not at all when the host uses the SSH agent
(``ssh_use_agent: true``), which then holds the key. Otherwise the refusal says those three ways.
"""

from __future__ import annotations

import getpass
import os
import sys
import threading
from dataclasses import dataclass

from checkpointctl.errors import TransportError
from checkpointctl.transport.sshfiles import identity_key
from checkpointctl.transport.sshlib import UnknownKeyType, paramiko

_PROMPT_LOCK = threading.Lock()
_OPENED: dict[str, paramiko.PKey] = {}
"""Encrypted keys opened this run, by path (a prompt answered once serves every host)."""


@dataclass(frozen=True, slots=True)
class Identities:
    """What to offer the server: loaded keys, and files paramiko should load itself."""

    keys: tuple[paramiko.PKey, ...]
    files: tuple[str, ...]


def read_passphrase_file(path: str, owner: str) -> str:
    """The first line of ``path`` (without its line break).

    Raises:
        TransportError: the file cannot be read.
    """
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except OSError as e:
        raise TransportError(f"{owner}: cannot read passphrase file {path}: {e.strerror}") from e


def open_encrypted(path: str, passphrase_file: str | None, owner: str) -> paramiko.PKey:
    """The decrypted key at ``path``.

    Raises:
        paramiko.PasswordRequiredException: no passphrase file and no terminal to ask on.
        TransportError: the passphrase is wrong or its file unreadable.
    """
    with _PROMPT_LOCK:
        if path in _OPENED:
            return _OPENED[path]
        if passphrase_file is not None:
            secret = read_passphrase_file(passphrase_file, owner)
        elif sys.stdin.isatty() and sys.stderr.isatty():
            secret = getpass.getpass(f"Passphrase for {path}: ", stream=sys.stderr)
        else:
            raise paramiko.PasswordRequiredException(f"{path} is encrypted")
        try:
            # paramiko hands the passphrase to cryptography, which takes bytes only (a str
            # raises TypeError there: every passphrase looked wrong); its annotation says str
            key = paramiko.PKey.from_path(path, secret.encode())  # type: ignore[arg-type]
        except (paramiko.SSHException, ValueError, TypeError) as e:
            raise TransportError(
                f"{owner}: cannot open identity file {path}: wrong passphrase?"
            ) from e
        _OPENED[path] = key
        return key


def load_identities(
    paths: tuple[str, ...], passphrase_file: str | None, agent: bool, owner: str
) -> Identities:
    """Keys for ``paths`` (missing files skipped); an encrypted one opened as the module says.

    Raises:
        paramiko.PasswordRequiredException: an encrypted key with no way to open it and no agent.
        TransportError: a wrong passphrase or an unreadable passphrase file.
    """
    keys: list[paramiko.PKey] = []
    files: list[str] = []
    for path in paths:
        if not os.path.isfile(path):
            continue
        try:
            key = identity_key(path)
        except paramiko.PasswordRequiredException:
            key = None
            if passphrase_file is None and agent and not sys.stdin.isatty():
                continue  # the agent holds it
            key = open_encrypted(path, passphrase_file, owner)
        except UnknownKeyType:
            key = None
        if key is not None:
            keys.append(key)
        else:
            files.append(path)
    return Identities(tuple(keys), tuple(files))
