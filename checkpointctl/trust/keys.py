"""Keys: the Ed25519 keys that sign instructions and the X25519 keys hosts receive secrets with.

Two kinds of key, two jobs:

- **Signing keys** (Ed25519) belong to whoever may instruct the fleet (CI). The private key is a
  PKCS#8 PEM file, encrypted with a passphrase (the ``cryptography`` library's best available
  scheme) unless the user explicitly asks for an unencrypted one, created with mode 0600 and
  never overwritten silently. The public key is a small JSON file with the key's **key ID**:
  the first 16 hex digits of the SHA-256 of the raw 32-byte public key. Hosts trust a set of
  public keys; signatures name the key ID they were made with.
- **Host keys** (X25519) are made on each host by ``agent init``. Their public half goes into
  the inventory (``agent_public_key: x25519:<base64>``) so that a bundle can seal a host's
  secrets to that host alone; the private half never leaves ``/etc/checkpoint/trust``.

Passphrases never come from a command-line value (it would show in ``ps`` and shell history):
see :func:`load_passphrase`. Objects holding private keys print without key material and refuse
to be pickled.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from checkpointctl.errors import TrustError
from checkpointctl.localfile import write_atomic

__all__ = [
    "ENV_PASSPHRASE",
    "ENV_PASSPHRASE_FILE",
    "HOST_KEY_PREFIX",
    "HostKey",
    "PublicKey",
    "SigningKey",
    "format_host_public_key",
    "generate_host_key",
    "generate_signing_key",
    "key_id",
    "load_host_key",
    "load_passphrase",
    "load_public_key",
    "load_signing_key",
    "parse_host_public_key",
    "parse_public_key",
    "write_host_key",
    "write_signing_key",
]

KEY_ID_HEX = 16
PUBLIC_FORMAT = "checkpointctl-public-key"
HOST_KEY_PREFIX = "x25519:"
# S105: environment variable names, not passwords.
ENV_PASSPHRASE = "CHECKPOINTCTL_KEY_PASSPHRASE"  # noqa: S105
ENV_PASSPHRASE_FILE = "CHECKPOINTCTL_KEY_PASSPHRASE_FILE"  # noqa: S105
_READ_MAX = 64 * 1024


def key_id(raw_public: bytes) -> str:
    """The key ID of a raw public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(raw_public).hexdigest()[:KEY_ID_HEX]


def _raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --------------------------------------------------------------------------- signing keys


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A trusted Ed25519 public key and its key ID."""

    key: Ed25519PublicKey
    key_id: str

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        """Raises ValueError when ``raw`` is not a 32-byte Ed25519 public key."""
        return cls(Ed25519PublicKey.from_public_bytes(raw), key_id(raw))

    @property
    def raw(self) -> bytes:
        return _raw_public(self.key)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's signature over ``message``."""
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def to_text(self, comment: str = "") -> str:
        """The public key file: one JSON object (key ID, base64 raw key, optional comment)."""
        doc: dict[str, str | int] = {
            "format": PUBLIC_FORMAT,
            "version": 1,
            "algorithm": "ed25519",
            "key_id": self.key_id,
            "public_key": base64.b64encode(self.raw).decode("ascii"),
        }
        if comment:
            doc["comment"] = comment
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"


class SigningKey:
    """An Ed25519 private key that signs manifests and revocation lists.

    Holds key material: ``repr`` shows only the key ID and pickling is refused.
    """

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey.from_raw(_raw_public(key.public_key()))

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature over ``message``."""
        return self._key.sign(message)

    def derivation_secret(self, label: bytes) -> bytes:
        """A 32-byte secret derived from the private key for one purpose named by ``label``.

        Used to make sealing deterministic (see :mod:`checkpointctl.trust.seal`). The value is
        HMAC-SHA256 keyed by the private seed: without the private key it cannot be computed,
        and no two labels give related values, so it reveals nothing about signatures.
        """
        seed = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return hmac.new(seed, b"checkpointctl derivation\0" + label, hashlib.sha256).digest()

    def pem(self, passphrase: bytes | None) -> bytes:
        """The PKCS#8 PEM form, encrypted with ``passphrase`` unless it is None."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase is not None
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"

    def __reduce__(self) -> NoReturn:  # pickling would copy key material somewhere unplanned
        raise TypeError("SigningKey objects cannot be pickled")


def generate_signing_key() -> SigningKey:
    """A fresh Ed25519 signing key."""
    return SigningKey(Ed25519PrivateKey.generate())


def write_signing_key(
    prefix: str, key: SigningKey, passphrase: bytes | None, *, force: bool = False
) -> tuple[str, str]:
    """Write ``PREFIX.key`` (mode 0600, encrypted unless ``passphrase`` is None) and
    ``PREFIX.pub``; returns both paths.

    Raises:
        TrustError: a file exists (and not ``force``), or cannot be written; an empty
            passphrase.
    """
    if passphrase is not None and not passphrase:
        raise TrustError("the key passphrase is empty (use --unencrypted for no passphrase)")
    key_path, pub_path = f"{prefix}.key", f"{prefix}.pub"
    _write_private(key_path, key.pem(passphrase), force=force)
    _write_public(pub_path, key.public.to_text().encode(), force=force)
    return key_path, pub_path


def load_signing_key(
    path: str, passphrase: bytes | Callable[[], bytes | None] | None
) -> SigningKey:
    """Read a signing key; ``passphrase`` (or a function giving it, called only when the file
    is encrypted, so an unencrypted key never prompts) is needed only for an encrypted file.

    Raises:
        TrustError: unreadable, not an Ed25519 private key, encrypted without a passphrase
            given, or the passphrase is wrong.
    """
    data = _read(path, "signing key")
    encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0]
    secret: bytes | None = None
    if encrypted:
        secret = passphrase() if callable(passphrase) else passphrase
    if encrypted and secret is None:
        raise TrustError(
            f"signing key {path} is encrypted: give its passphrase with --passphrase-file FILE "
            f"or ${ENV_PASSPHRASE}(_FILE)"
        )
    try:
        key = serialization.load_pem_private_key(data, secret)
    except ValueError:
        if encrypted:
            raise TrustError(f"signing key {path}: wrong passphrase (or a damaged file)") from None
        raise TrustError(f"{path} is not a PEM private key") from None
    except TypeError:
        raise TrustError(f"signing key {path} cannot be read with a passphrase") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise TrustError(f"{path} is not an Ed25519 private key ({type(key).__name__})")
    return SigningKey(key)


def parse_public_key(text: str, where: str) -> PublicKey:
    """A trusted public key from its file text: our JSON format, or a PEM public key.

    Raises:
        TrustError: neither, not Ed25519, or the file's key ID does not match its key.
    """
    stripped = text.strip()
    if stripped.startswith("-----BEGIN PUBLIC KEY-----"):
        try:
            pem = serialization.load_pem_public_key(stripped.encode())
        except ValueError:
            raise TrustError(f"{where}: not a valid PEM public key") from None
        if not isinstance(pem, Ed25519PublicKey):
            raise TrustError(f"{where}: not an Ed25519 public key")
        return PublicKey(pem, key_id(_raw_public(pem)))
    try:
        doc = json.loads(stripped)
    except json.JSONDecodeError:
        raise TrustError(f"{where}: not a checkpointctl public key (JSON) or PEM file") from None
    if not isinstance(doc, dict) or doc.get("format") != PUBLIC_FORMAT:
        raise TrustError(f"{where}: not a checkpointctl public key (format is not {PUBLIC_FORMAT})")
    if doc.get("algorithm") != "ed25519":
        raise TrustError(f"{where}: unsupported key algorithm {doc.get('algorithm')!r}")
    try:
        raw = base64.b64decode(str(doc.get("public_key", "")), validate=True)
        key = PublicKey.from_raw(raw)
    except (binascii.Error, ValueError):
        raise TrustError(f"{where}: public_key is not a base64 32-byte Ed25519 key") from None
    stated = doc.get("key_id")
    if stated is not None and stated != key.key_id:
        raise TrustError(
            f"{where}: the file says key ID {stated} but its key has ID {key.key_id} "
            "(the file was edited)"
        )
    return key


def load_public_key(path: str) -> PublicKey:
    """Read a public key file (see :func:`parse_public_key`).

    Raises:
        TrustError: unreadable or invalid.
    """
    data = _read(path, "public key")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TrustError(f"{path}: not a text file") from None
    return parse_public_key(text, path)


# --------------------------------------------------------------------------- passphrases


def load_passphrase(
    passphrase_file: str | None,
    *,
    env: Mapping[str, str] = os.environ,
    interactive: bool = False,
    confirm: bool = False,
) -> bytes | None:
    """The signing key's passphrase, first match wins.

    1. ``--passphrase-file FILE`` (its first line);
    2. ``$CHECKPOINTCTL_KEY_PASSPHRASE_FILE``, then ``$CHECKPOINTCTL_KEY_PASSPHRASE``;
    3. a prompt if ``interactive`` and stdin is a TTY (asked twice with ``confirm``);
    4. otherwise None.

    Raises:
        TrustError: the file cannot be read or is empty; the confirmation does not match.
    """
    if passphrase_file:
        return _passphrase_from_file(passphrase_file)
    if env.get(ENV_PASSPHRASE_FILE):
        return _passphrase_from_file(env[ENV_PASSPHRASE_FILE])
    if env.get(ENV_PASSPHRASE):
        return env[ENV_PASSPHRASE].encode("utf-8", "surrogateescape")
    if interactive and sys.stdin is not None and sys.stdin.isatty():
        try:
            first = getpass.getpass("Signing key passphrase: ")
            if confirm and getpass.getpass("Confirm signing key passphrase: ") != first:
                raise TrustError("the passphrases entered do not match")
        except EOFError:
            raise TrustError("no passphrase entered") from None
        if not first:
            raise TrustError("the passphrase is empty (use --unencrypted for no passphrase)")
        return first.encode("utf-8", "surrogateescape")
    return None


def _passphrase_from_file(path: str) -> bytes:
    data = _read(path, "passphrase file")
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not line:
        raise TrustError(f"passphrase file {path} is empty")
    return line


# --------------------------------------------------------------------------- host keys


class HostKey:
    """A host's X25519 key pair (``agent init``): secrets in bundles are sealed to it.

    Holds key material: ``repr`` shows only the key ID and pickling is refused.
    """

    __slots__ = ("_key", "public_raw")

    def __init__(self, key: X25519PrivateKey) -> None:
        self._key = key
        self.public_raw = _raw_public(key.public_key())

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    @property
    def private(self) -> X25519PrivateKey:
        """The private key, for :func:`checkpointctl.trust.seal.unseal` only."""
        return self._key

    def public_text(self) -> str:
        """``x25519:<base64>``: the value of the inventory variable ``agent_public_key``."""
        return format_host_public_key(self.public_raw)

    def pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted: the agent must start unattended."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:
        return f"HostKey(key_id={self.key_id!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("HostKey objects cannot be pickled")


def generate_host_key() -> HostKey:
    """A fresh X25519 host key pair."""
    return HostKey(X25519PrivateKey.generate())


def format_host_public_key(raw: bytes) -> str:
    """The text form of a host public key: ``x25519:<base64 of the 32 raw bytes>``."""
    return HOST_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_host_public_key(value: object, where: str) -> bytes:
    """The raw 32 bytes of a host public key written ``x25519:<base64>``.

    Raises:
        TrustError: anything else (the message names ``where``, e.g. the inventory host).
    """
    if not isinstance(value, str) or not value.strip().startswith(HOST_KEY_PREFIX):
        raise TrustError(
            f"{where}: agent_public_key must be 'x25519:<base64>' as `checkpointctl agent init` "
            "prints it"
        )
    body = value.strip()[len(HOST_KEY_PREFIX) :]
    try:
        raw = base64.b64decode(body, validate=True)
        X25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise TrustError(f"{where}: agent_public_key is not a base64 32-byte X25519 key") from None
    return raw


def write_host_key(path: str, key: HostKey, *, force: bool = False) -> None:
    """Write the host's private key (mode 0600) to ``path`` and its public text to
    ``path`` with ``.pub`` in place of ``.key``.

    Raises:
        TrustError: a file exists (and not ``force``) or cannot be written.
    """
    _write_private(path, key.pem(), force=force)
    pub = path[: -len(".key")] + ".pub" if path.endswith(".key") else path + ".pub"
    _write_public(pub, (key.public_text() + "\n").encode(), force=force)


def load_host_key(path: str) -> HostKey:
    """Read the host's private key.

    Raises:
        TrustError: missing (run ``agent init``), unreadable, or not an X25519 key.
    """
    if not os.path.exists(path):
        raise TrustError(f"no host key at {path}: run `checkpointctl agent init` on this host")
    data = _read(path, "host key")
    try:
        key = serialization.load_pem_private_key(data, None)
    except (ValueError, TypeError):
        raise TrustError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, X25519PrivateKey):
        raise TrustError(f"{path} is not an X25519 private key ({type(key).__name__})")
    return HostKey(key)


# --------------------------------------------------------------------------- files


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(_READ_MAX)
    except OSError as e:
        raise TrustError(f"cannot read {what} {path}: {e.strerror}") from None


def _write_private(path: str, data: bytes, *, force: bool) -> None:
    """Create ``path`` with mode 0600 from the first byte on (O_EXCL unless ``force``)."""
    _write(path, data, 0o600, force=force)


def _write_public(path: str, data: bytes, *, force: bool) -> None:
    _write(path, data, 0o644, force=force)


def _write(path: str, data: bytes, mode: int, *, force: bool) -> None:
    if os.path.lexists(path) and not force:
        raise TrustError(f"{path} already exists (use --force to replace it)")
    try:
        # the mode is exact from the first byte on: the umask must not widen or narrow it
        write_atomic(path, data, mode=mode)
    except OSError as e:
        raise TrustError(f"cannot write {path}: {e.strerror}") from None
