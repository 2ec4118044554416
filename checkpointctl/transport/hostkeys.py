"""Host key checking for the SSH transport: what is trusted, and what to tell the user.

Strict by default, like ``ssh -o StrictHostKeyChecking=yes``: a host whose key is not in
known_hosts is refused, and a host whose key *changed* is always refused. The refusal says which
key the host offered (type and SHA256 fingerprint, as ``ssh-keygen -lf`` prints it) and the exact
command that fixes it, because "host key verification failed" alone sends people to disable the
check. Trust on first use is an explicit per-host opt-in that records the key it accepted.

A host may have several known_hosts files (``UserKnownHostsFile a b``): as with OpenSSH, a key
found in any of them is accepted, a key of a type one of them lists with another key is a
changed key, and trust on first use records into the first.

The message builders are pure functions so their wording is tested without any host.
"""

from __future__ import annotations

import base64
import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from checkpointctl.errors import HostKeyError
from checkpointctl.transport.sshfiles import KnownKey, known_keys
from checkpointctl.transport.sshlib import paramiko

#: The file read when a host sets no ``known_hosts``; it is only ever read, never written.
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


@dataclass(frozen=True, slots=True)
class OfferedKey:
    """A host key as seen on the wire: its SSH type name and public blob."""

    key_type: str
    blob: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)

    @classmethod
    def of(cls, key: paramiko.PKey) -> OfferedKey:
        return cls(key.get_name(), key.asbytes())


def fingerprint(blob: bytes) -> str:
    """The OpenSSH SHA256 fingerprint of a public key blob: ``SHA256:`` + unpadded base64."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(address: str, port: int) -> str:
    """How known_hosts names a host: the bare address on port 22, else ``[address]:port``."""
    return address if port == 22 else f"[{address}]:{port}"


def keyscan_type(key_type: str) -> str:
    """The ``ssh-keyscan -t`` name for an SSH key type (``ssh-ed25519`` -> ``ed25519``)."""
    if key_type == "ssh-ed25519":
        return "ed25519"
    if key_type.startswith("ecdsa-sha2-"):
        return "ecdsa"
    if key_type in ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"):
        return "rsa"
    if key_type == "ssh-dss":
        return "dsa"
    return key_type


def keyscan_command(address: str, port: int, key_type: str, known_hosts: str) -> str:
    """The command a person runs to record a host's key (display text, never executed)."""
    port_opt = f"-p {port} " if port != 22 else ""
    return f"ssh-keyscan {port_opt}-t {keyscan_type(key_type)} {address} >> {known_hosts}"


def known_hosts_line(address: str, port: int, key_type: str, blob: bytes) -> str:
    """One known_hosts line (with its newline) trusting ``blob`` for the host."""
    b64 = base64.b64encode(blob).decode("ascii")
    return f"{known_hosts_name(address, port)} {key_type} {b64}\n"


def unknown_key_message(
    host: str, address: str, port: int, offered: OfferedKey, known_hosts: Sequence[str]
) -> str:
    """Why an unknown host key was refused, and the two ways forward (the key is to be
    recorded in the first of the host's known_hosts files, where OpenSSH records it)."""
    return (
        f"{host} ({address}:{port}): host key not trusted: the host offered "
        f"{offered.key_type} {offered.fingerprint}, which is not in {' nor '.join(known_hosts)}\n"
        "  hint: check that fingerprint out of band (on the host: "
        f"`ssh-keygen -lf /etc/ssh/ssh_host_{keyscan_type(offered.key_type)}_key.pub`), "
        "then record it with\n"
        f"    {keyscan_command(address, port, offered.key_type, known_hosts[0])}\n"
        "  or accept and record the first key seen (trust on first use) with the inventory var "
        "`trust_on_first_use: true` for this host, or the CLI flag --trust-on-first-use"
    )


def changed_key_message(
    host: str, address: str, port: int, offered: OfferedKey, expected: OfferedKey, known_hosts: str
) -> str:
    """Why a changed host key was refused: old and new fingerprints, and what to do."""
    name = known_hosts_name(address, port)
    return (
        f"{host} ({address}:{port}): host key changed, possible man-in-the-middle attack: "
        f"{known_hosts} has {expected.key_type} {expected.fingerprint}, the host offered "
        f"{offered.key_type} {offered.fingerprint}; refusing to connect "
        "(known_hosts was not modified)\n"
        "  hint: if the host was reinstalled and you verified the new fingerprint out of band, "
        f"remove the old entry with `ssh-keygen -R {name} -f {known_hosts}` and record the new "
        f"one with `{keyscan_command(address, port, offered.key_type, known_hosts)}`; "
        "trust on first use never accepts a changed key"
    )


def tofu_without_file_message(host: str, address: str, port: int) -> str:
    """Trust on first use needs a file of our own to record into; ~/.ssh is never written."""
    return (
        f"{host} ({address}:{port}): trust_on_first_use is set but the host has no "
        f"known_hosts file to record the key in ({DEFAULT_KNOWN_HOSTS} is only read)\n"
        "  hint: set the inventory var `known_hosts: PATH` for this host"
    )


def append_known_host(path: str, line: str) -> None:
    """Append one line to a known_hosts file, creating it (0600) when missing.

    One ``write`` on an ``O_APPEND`` descriptor, so parallel connections recording different
    hosts into the same file do not interleave.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("ascii"))
    finally:
        os.close(fd)


class KeyStatus(Enum):
    """What the known_hosts files say of a key a host offered."""

    KNOWN = "known"
    """A file lists this very key for the host."""
    CHANGED = "changed"
    """None lists it, and a file lists another key of the same type for the host."""
    UNKNOWN = "unknown"
    """No file lists a key of its type for the host."""


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict on an offered key, with what a changed-key message needs."""

    status: KeyStatus
    expected: KnownKey | None = None
    """For a changed key, the key a file lists instead (and which file)."""


def judge_key(known_hosts: Sequence[str], name: str, key: paramiko.PKey) -> Judgement:
    """OpenSSH's verdict on ``key`` offered by the host known as ``name``: known when any of
    the files lists it, changed when one lists another key of its type, else unknown.

    Raises:
        UnreadableKnownHosts: a file exists but cannot be read or parsed.
    """
    blob = key.asbytes()
    same_type: KnownKey | None = None
    for known in known_keys(known_hosts, name):
        if known.key_type != key.get_name():
            continue
        if known.key.asbytes() == blob:
            return Judgement(KeyStatus.KNOWN)
        same_type = same_type or known
    if same_type is not None:
        return Judgement(KeyStatus.CHANGED, same_type)
    return Judgement(KeyStatus.UNKNOWN)


class _CheckKnownHosts(paramiko.MissingHostKeyPolicy, ABC):
    """What paramiko calls for a key type the client was not given (see
    :func:`~checkpointctl.transport.sshfiles.add_known_keys`): accept a key any file lists,
    refuse a changed one, and leave an unknown one to :meth:`unknown`."""

    def __init__(self, host: str, address: str, port: int, known_hosts: Sequence[str]) -> None:
        self._host = host
        self._address = address
        self._port = port
        self._known_hosts = tuple(known_hosts)

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        judged = judge_key(self._known_hosts, hostname, key)
        if judged.status is KeyStatus.CHANGED and judged.expected is not None:
            raise HostKeyError(
                changed_key_message(
                    self._host,
                    self._address,
                    self._port,
                    OfferedKey.of(key),
                    OfferedKey(judged.expected.key_type, judged.expected.key.asbytes()),
                    judged.expected.file,
                )
            )
        if judged.status is KeyStatus.UNKNOWN:
            self.unknown(key)
        client.get_host_keys().add(hostname, key.get_name(), key)

    @abstractmethod
    def unknown(self, key: paramiko.PKey) -> None:
        """An unknown key: raise to refuse it, return to accept it."""


class RefuseUnknownKey(_CheckKnownHosts):
    """Strict checking: an unknown key is a ``HostKeyError`` that explains itself."""

    def unknown(self, key: paramiko.PKey) -> None:
        raise HostKeyError(
            unknown_key_message(
                self._host, self._address, self._port, OfferedKey.of(key), self._known_hosts
            )
        )


class RecordUnknownKey(_CheckKnownHosts):
    """Trust on first use: accept an unknown key and append it to the host's first known_hosts
    file (``StrictHostKeyChecking accept-new``). A changed key is refused, never recorded."""

    def unknown(self, key: paramiko.PKey) -> None:
        offered = OfferedKey.of(key)
        append_known_host(
            self._known_hosts[0],
            known_hosts_line(self._address, self._port, offered.key_type, offered.blob),
        )
