"""Revocation lists: signed statements that some signing keys must no longer be believed.

Key rotation needs a way to stop trusting an old (perhaps stolen) key on hosts nobody can log
into. A revocation list is a small JSON document::

    {"format": "checkpointctl-revocations", "format_version": 1, "serial": 2,
     "created": "2025-01-31T12:00:00Z", "revoked": ["<key id>", ...],
     "signatures": {"<key id>": "<base64 Ed25519 signature>"}}

The signatures cover the canonical bytes of the document without ``signatures``, prefixed by a
domain label (so a manifest signature can never pass for a revocation signature or back).
A list counts only if at least ``threshold`` *still-trusted* keys signed it: trusted, and not
revoked by the list itself or by what the verifier already knows, so a revoked key cannot
un-revoke itself or revoke its successors. Lists are cumulative: a new list repeats every key
revoked before, and a host keeps the one with the highest serial.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from checkpointctl.errors import TrustError
from checkpointctl.trust.canonical import canonical_bytes, strict_loads
from checkpointctl.trust.keys import PublicKey, SigningKey
from checkpointctl.trust.timeutil import format_time, parse_document_time

__all__ = ["RevocationList", "make_revocations", "parse_revocations", "verify_revocations"]

FORMAT = "checkpointctl-revocations"
FORMAT_VERSION = 1
SIGNATURE_CONTEXT = b"checkpointctl-revocations-v1\0"
KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_FIELDS = frozenset({"format", "format_version", "serial", "created", "revoked", "signatures"})


@dataclass(frozen=True, slots=True)
class RevocationList:
    """A parsed (not yet verified) revocation list."""

    serial: int
    created: datetime
    revoked: frozenset[str]
    signatures: Mapping[str, bytes] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "serial": self.serial,
            "created": format_time(self.created),
            "revoked": sorted(self.revoked),
        }

    def signed_bytes(self) -> bytes:
        """What each signature covers."""
        return SIGNATURE_CONTEXT + canonical_bytes(self.body())

    def to_bytes(self) -> bytes:
        doc = self.body()
        doc["signatures"] = {
            k: base64.b64encode(v).decode("ascii") for k, v in sorted(self.signatures.items())
        }
        return canonical_bytes(doc) + b"\n"


def make_revocations(
    revoked: Iterable[str], keys: Sequence[SigningKey], *, serial: int, created: datetime
) -> bytes:
    """A revocation list of ``revoked`` key IDs signed by every key in ``keys``.

    Raises:
        TrustError: a key ID is malformed, no signing key was given, or a signing key revokes
            itself (its signature would not count).
    """
    ids = frozenset(revoked)
    bad = sorted(i for i in ids if not KEY_ID.match(i))
    if bad:
        raise TrustError(f"not key IDs (16 lower-case hex digits): {', '.join(bad)}")
    if not keys:
        raise TrustError("a revocation list must be signed: give --key")
    own = sorted(k.key_id for k in keys if k.key_id in ids)
    if own:
        raise TrustError(
            f"key {', '.join(own)} cannot sign a list that revokes it: sign with a key that "
            "stays trusted"
        )
    unsigned = RevocationList(serial, created.replace(microsecond=0), ids)
    message = unsigned.signed_bytes()
    signed = RevocationList(
        serial, unsigned.created, ids, {k.key_id: k.sign(message) for k in keys}
    )
    return signed.to_bytes()


def parse_revocations(data: bytes, where: str) -> RevocationList:
    """Parse a revocation list (signatures are not checked here).

    Raises:
        TrustError: not a revocation list of a supported version, or malformed.
    """
    try:
        doc = strict_loads(data)
    except ValueError as exc:
        raise TrustError(f"{where}: not a revocation list (invalid JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TrustError(f"{where}: not a checkpointctl revocation list")
    if doc.get("format_version") != FORMAT_VERSION:
        raise TrustError(
            f"{where}: unsupported revocation list version {doc.get('format_version')!r}"
        )
    extra = sorted(set(doc) - _FIELDS)
    if extra:
        raise TrustError(f"{where}: unknown field(s) {', '.join(extra)}")
    serial = doc.get("serial")
    revoked = doc.get("revoked")
    sigs = doc.get("signatures")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise TrustError(f"{where}: serial must be a non-negative integer")
    if not isinstance(revoked, list) or not all(
        isinstance(i, str) and KEY_ID.match(i) for i in revoked
    ):
        raise TrustError(f"{where}: revoked must be a list of key IDs")
    if not isinstance(sigs, dict):
        raise TrustError(f"{where}: signatures must be an object")
    try:
        created = parse_document_time(doc.get("created"), what="created")
        signatures = {str(k): base64.b64decode(str(v), validate=True) for k, v in sigs.items()}
    except (ValueError, binascii.Error) as exc:
        raise TrustError(f"{where}: {exc}") from None
    return RevocationList(serial, created, frozenset(revoked), signatures)


def verify_revocations(
    rl: RevocationList,
    trusted: Mapping[str, PublicKey],
    *,
    threshold: int = 1,
    known_revoked: Iterable[str] = (),
    where: str = "revocation list",
) -> frozenset[str]:
    """The key IDs ``rl`` revokes, once at least ``threshold`` still-trusted keys signed it.

    Raises:
        TrustError: too few valid signatures from still-trusted keys; the message says, for
            each signature, why it did or did not count.
    """
    excluded = rl.revoked | frozenset(known_revoked)
    message = rl.signed_bytes()
    valid: list[str] = []
    notes: list[str] = []
    for kid, sig in sorted(rl.signatures.items()):
        key = trusted.get(kid)
        if key is None:
            notes.append(f"{kid} not trusted")
        elif kid in excluded:
            notes.append(f"{kid} revoked")
        elif not key.verify(sig, message):
            notes.append(f"{kid} invalid signature")
        else:
            valid.append(kid)
            notes.append(f"{kid} valid")
    if len(valid) < threshold:
        detail = "; ".join(notes) or "no signatures"
        raise TrustError(
            f"{where} (serial {rl.serial}) is not signed by {threshold} still-trusted "
            f"key(s), so it is not believed ({detail})"
        )
    return rl.revoked
