"""The host's trust store: which signing keys it believes and the key its secrets are sealed to.

Layout of the trust directory (``/etc/checkpoint/trust`` by default)::

    host.key            X25519 private key (PKCS#8 PEM, mode 0600): opens sealed secrets
    host.pub            x25519:<base64>: the inventory's agent_public_key for this host
    keys/<key id>.pub   trusted Ed25519 signing keys (several during a rotation)
    revocations.json    the newest signed revocation list the host has adopted (optional)
    config.json         {"threshold": K}: how many distinct trusted keys must sign

Whoever can write here decides what the host believes, so :func:`load_trust_store` refuses a
store that group or others may write, and a key file whose name is not its key ID.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from checkpointctl.errors import TrustError
from checkpointctl.localfile import write_atomic
from checkpointctl.transport import safepath
from checkpointctl.trust import DEFAULT_TRUST_DIR
from checkpointctl.trust.keys import (
    HostKey,
    PublicKey,
    generate_host_key,
    load_host_key,
    load_public_key,
    write_host_key,
)
from checkpointctl.trust.revocation import RevocationList, parse_revocations, verify_revocations

__all__ = [
    "DEFAULT_TRUST_DIR",
    "TrustStore",
    "add_trusted_key",
    "adopt_revocations",
    "init_trust_dir",
    "load_trust_store",
]

HOST_KEY = "host.key"
KEYS_DIR = "keys"
REVOCATIONS = "revocations.json"
CONFIG = "config.json"


@dataclass(frozen=True, slots=True)
class TrustStore:
    """What a host believes, loaded and checked."""

    path: str
    keys: Mapping[str, PublicKey]
    threshold: int = 1
    revocations: RevocationList | None = None
    host_key: HostKey | None = field(default=None, repr=False)

    @property
    def revoked(self) -> frozenset[str]:
        return self.revocations.revoked if self.revocations else frozenset()


def _join(directory: str, *parts: str) -> str:
    return os.path.join(directory, *parts)


def _require_safe(directory: str) -> None:
    """Refuse a trust directory that is (or lies below) a link, a directory of another user's,
    or one others may write: whoever controls it decides what this host believes.

    Raises:
        TrustError: naming the path and what is wrong.
    """
    found = safepath.check_local([os.path.abspath(directory)], own=True)
    if found:
        raise TrustError("; ".join(v.message for v in found) + ": the trust store is refused")


def _write_file(path: str, data: bytes, mode: int) -> None:
    _require_safe(os.path.dirname(os.path.abspath(path)))
    try:
        write_atomic(path, data, mode=mode)
    except OSError as e:
        raise TrustError(f"cannot write {path}: {e.strerror}") from None


def _mkdir(path: str) -> None:
    _require_safe(path)
    try:
        os.makedirs(path, mode=0o755, exist_ok=True)
        # Readable by all (public keys), writable by root only: what the loader insists on.
        os.chmod(path, 0o755)  # noqa: S103
    except OSError as e:
        raise TrustError(f"cannot create {path}: {e.strerror}") from None


def add_trusted_key(trust_dir: str, key_file: str) -> PublicKey:
    """Copy a public key file into ``keys/`` under its key ID (a rotation's first step).

    Raises:
        TrustError: the file is not a valid public key or cannot be written.
    """
    key = load_public_key(key_file)
    _mkdir(_join(trust_dir, KEYS_DIR))
    _write_file(_join(trust_dir, KEYS_DIR, f"{key.key_id}.pub"), key.to_text().encode(), 0o644)
    return key


def init_trust_dir(
    trust_dir: str,
    *,
    trust_keys: Sequence[str] = (),
    threshold: int | None = None,
    force: bool = False,
) -> HostKey:
    """Create the trust directory and the host key pair (``agent init``); returns the key.

    An existing host key is kept (and returned) unless ``force``: regenerating it would make
    every bundle sealed to the old key unreadable until the inventory is updated.

    Raises:
        TrustError: a threshold below 1, a key file that is not valid, a write failure.
    """
    if threshold is not None and threshold < 1:
        raise TrustError(f"--threshold must be at least 1 (got {threshold})")
    _mkdir(trust_dir)
    _mkdir(_join(trust_dir, KEYS_DIR))
    key_path = _join(trust_dir, HOST_KEY)
    if os.path.exists(key_path) and not force:
        host_key = load_host_key(key_path)
    else:
        host_key = generate_host_key()
        write_host_key(key_path, host_key, force=True)
    for key_file in trust_keys:
        add_trusted_key(trust_dir, key_file)
    config_path = _join(trust_dir, CONFIG)
    if threshold is not None or not os.path.exists(config_path):
        doc = {"threshold": threshold or 1}
        _write_file(config_path, (json.dumps(doc, indent=2) + "\n").encode(), 0o644)
    return host_key


def _check_not_writable_by_others(path: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise TrustError(f"cannot inspect {path}: {e.strerror}") from None
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise TrustError(
            f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}): "
            "anyone who can write the trust store decides what this host believes; "
            f"chmod go-w {path}"
        )


def _read_config(trust_dir: str) -> int:
    path = _join(trust_dir, CONFIG)
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read(64 * 1024))
    except FileNotFoundError:
        return 1
    except (OSError, ValueError) as e:
        raise TrustError(f"cannot read {path}: {e}") from None
    threshold = doc.get("threshold", 1) if isinstance(doc, dict) else None
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise TrustError(f"{path}: threshold must be an integer of at least 1")
    return threshold


def load_trust_store(
    trust_dir: str,
    *,
    extra_keys: Sequence[str] = (),
    need_host_key: bool = True,
) -> TrustStore:
    """Load and check the trust directory (plus ``extra_keys``, public key files).

    Raises:
        TrustError: the directory is missing or writable by others; a key file is invalid or
            not named by its key ID; no trusted key at all; the host key is missing (when
            needed); the stored revocation list is not validly signed (the store is then
            refused as a whole: fail closed).
    """
    if not os.path.isdir(trust_dir):
        raise TrustError(
            f"no trust store at {trust_dir}: run `checkpointctl agent init --trust KEY.pub`"
        )
    keys_dir = _join(trust_dir, KEYS_DIR)
    _require_safe(keys_dir)
    for path in (trust_dir, keys_dir, _join(trust_dir, CONFIG), _join(trust_dir, REVOCATIONS)):
        _check_not_writable_by_others(path)
    keys: dict[str, PublicKey] = {}
    names = sorted(os.listdir(keys_dir)) if os.path.isdir(keys_dir) else []
    for name in names:
        if not name.endswith(".pub"):
            continue
        path = _join(keys_dir, name)
        _check_not_writable_by_others(path)
        key = load_public_key(path)
        if name != f"{key.key_id}.pub":
            raise TrustError(f"{path} holds key {key.key_id}: name it {key.key_id}.pub")
        keys[key.key_id] = key
    for path in extra_keys:
        key = load_public_key(path)
        keys[key.key_id] = key
    if not keys:
        raise TrustError(
            f"the trust store {trust_dir} holds no signing keys: add one with "
            "`checkpointctl agent init --trust KEY.pub`"
        )
    threshold = _read_config(trust_dir)
    revocations = None
    rpath = _join(trust_dir, REVOCATIONS)
    if os.path.exists(rpath):
        try:
            with open(rpath, "rb") as f:
                data = f.read(1024 * 1024)
        except OSError as e:
            raise TrustError(f"cannot read {rpath}: {e.strerror}") from None
        revocations = parse_revocations(data, rpath)
        verify_revocations(revocations, keys, threshold=threshold, where=rpath)
    host_key = None
    if need_host_key:
        host_key = load_host_key(_join(trust_dir, HOST_KEY))
    return TrustStore(trust_dir, keys, threshold, revocations, host_key)


def adopt_revocations(store: TrustStore, revocations: RevocationList) -> bool:
    """Keep ``revocations`` (already verified) if it is newer than the stored list.

    Returns whether it was written.

    Raises:
        TrustError: it cannot be written.
    """
    current = store.revocations
    if current is not None and revocations.serial <= current.serial:
        return False
    _write_file(_join(store.path, REVOCATIONS), revocations.to_bytes(), 0o644)
    return True
