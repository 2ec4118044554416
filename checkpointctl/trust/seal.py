"""Sealing secrets to one host: ephemeral X25519, HKDF-SHA256, AES-256-GCM, bound to host+field.

A sealed value in a bundle is a small JSON object::

    {"$sealed": "x25519-hkdf-sha256-aes256gcm-v1", "to": "<host key ID>",
     "epk": "<base64 ephemeral public key>", "ct": "<base64 ciphertext || tag>"}

Construction (ECIES-style):

1. an ephemeral X25519 key pair ``(esk, epk)``; ``shared = X25519(esk, host_public)``;
2. ``key = HKDF-SHA256(shared, salt = epk || host_public, info = "...aes-256-gcm")``;
3. ``ct = AES-256-GCM(key, nonce = 0^96, plaintext, aad = label || host || field path)``.

The associated data binds the value to its host and field: a blob copied into another host's
state or another field does not open. Only the holder of the host's private key can compute
``shared``, so host A cannot read host B's secrets from a bundle both receive.

**Determinism.** Bundles must be byte-identical when built twice from the same inputs, and a
random ``esk`` would break that. :func:`deterministic_ephemerals` therefore derives ``esk`` with
HKDF from a secret derived from the *signing key* (never published) over the bundle context
(its serial), the recipient key, the host, the field path and SHA-256 of the plaintext.
The security argument:

- ``esk`` is a PRF output under a key only the bundle builder has, so to anyone else it is
  indistinguishable from random: the scheme is then exactly the randomised one above.
- Each (serial, host key, host, path, plaintext) gets its own ``esk``, hence its own AES key; a
  key only ever encrypts one plaintext, so the fixed nonce is never reused with different data.
- What determinism reveals is equality: the same secret for the same field of the same host in
  the same serial gives the same blob. That is the same bundle; across serials, hosts or fields
  the blobs are unrelated, so a secret change (or its absence) is not visible between bundles.
- Guessing a low-entropy password does not help an outsider: checking a guess needs ``esk``,
  which needs the signing key, not just the plaintext (unlike convergent encryption).
- Whoever holds the signing key can recompute ``esk`` and open every sealed value. That key can
  already order any host to send its secrets anywhere, and the build that signs holds the
  plaintexts (and the vault key) anyway, so this adds no capability to anyone.

:func:`random_ephemerals` gives fresh randomness for callers who do not need determinism.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from checkpointctl.errors import TrustError
from checkpointctl.trust.keys import HostKey, key_id

__all__ = [
    "ALGORITHM",
    "EphemeralSource",
    "deterministic_ephemerals",
    "is_sealed",
    "random_ephemerals",
    "seal",
    "unseal",
]

ALGORITHM = "x25519-hkdf-sha256-aes256gcm-v1"
MARKER = "$sealed"
_LABEL = b"checkpointctl-seal-v1"
_NONCE = bytes(12)

EphemeralSource = Callable[[bytes, str, str, bytes], X25519PrivateKey]
"""(recipient public raw, host, field path, plaintext) → the ephemeral private key to use."""


def _lp(*parts: bytes) -> bytes:
    """Length-prefixed concatenation: no two different tuples give the same bytes."""
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def deterministic_ephemerals(secret: bytes, context: bytes) -> EphemeralSource:
    """Ephemeral keys derived from ``secret`` (from the signing key) and ``context`` (the
    bundle's serial); see the module docstring for why this is sound."""
    if len(secret) < 32:
        raise ValueError("the derivation secret must be at least 32 bytes")

    def derive(recipient: bytes, host: str, path: str, plaintext: bytes) -> X25519PrivateKey:
        info = _lp(
            context, recipient, host.encode(), path.encode(), hashlib.sha256(plaintext).digest()
        )
        raw = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=_LABEL + b" ephemeral", info=info
        ).derive(secret)
        return X25519PrivateKey.from_private_bytes(raw)

    return derive


def random_ephemerals() -> EphemeralSource:
    """Fresh random ephemeral keys (sealing is then not reproducible)."""

    def fresh(recipient: bytes, host: str, path: str, plaintext: bytes) -> X25519PrivateKey:
        return X25519PrivateKey.generate()

    return fresh


def _aead_key(shared: bytes, epk: bytes, recipient: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=epk + recipient, info=_LABEL + b" aes-256-gcm"
    ).derive(shared)


def _aad(host: str, path: str) -> bytes:
    return _LABEL + b"\0" + _lp(host.encode(), path.encode())


def seal(
    plaintext: bytes, recipient: bytes, host: str, path: str, ephemeral: EphemeralSource
) -> dict[str, str]:
    """Seal ``plaintext`` to the host public key ``recipient`` (32 raw bytes) for ``path``.

    Raises:
        TrustError: ``recipient`` is not a usable X25519 public key.
    """
    try:
        peer = X25519PublicKey.from_public_bytes(recipient)
        esk = ephemeral(recipient, host, path, plaintext)
        shared = esk.exchange(peer)
    except ValueError:
        raise TrustError(f"{host}: agent_public_key is not a usable X25519 public key") from None
    epk = _raw(esk.public_key())
    ct = AESGCM(_aead_key(shared, epk, recipient)).encrypt(_NONCE, plaintext, _aad(host, path))
    return {
        MARKER: ALGORITHM,
        "to": key_id(recipient),
        "epk": base64.b64encode(epk).decode("ascii"),
        "ct": base64.b64encode(ct).decode("ascii"),
    }


def is_sealed(value: object) -> bool:
    """Whether ``value`` is a sealed blob (a mapping carrying the ``$sealed`` marker)."""
    return isinstance(value, Mapping) and MARKER in value


def unseal(blob: object, key: HostKey, host: str, path: str) -> bytes:
    """Open a sealed value with this host's key; ``host`` and ``path`` must be where it was
    sealed for.

    Raises:
        TrustError: not a sealed blob, sealed to another host key, or authentication fails
            (another host's value, moved from another field, or modified). The message never
            contains plaintext.
    """
    where = f"{host}: {path}"
    if not isinstance(blob, Mapping) or blob.get(MARKER) != ALGORITHM:
        raise TrustError(f"{where}: not a sealed value of a supported kind ({ALGORITHM})")
    to = blob.get("to")
    if to != key.key_id:
        raise TrustError(
            f"{where}: the value is sealed to host key {to}, but this host's key is "
            f"{key.key_id} (the inventory's agent_public_key for {host} is not this host's key)"
        )
    try:
        epk = base64.b64decode(str(blob.get("epk", "")), validate=True)
        ct = base64.b64decode(str(blob.get("ct", "")), validate=True)
        shared = key.private.exchange(X25519PublicKey.from_public_bytes(epk))
        return AESGCM(_aead_key(shared, epk, key.public_raw)).decrypt(_NONCE, ct, _aad(host, path))
    except (binascii.Error, ValueError):
        raise TrustError(f"{where}: the sealed value is malformed") from None
    except InvalidTag:
        raise TrustError(
            f"{where}: the sealed value does not open with this host's key (it was sealed for "
            "another host or field, or modified)"
        ) from None
