"""Deciding whether to believe a bundle: signatures, threshold, revocation, hashes, expiry.

:func:`verify_bundle` is the single gate between bytes from the network and anything applied.
It checks, in this order, and stops at the first failure with a message of its own:

1. the archive is a well-formed bundle (``bundle.read_bundle``);
2. an embedded revocation list, if any, is signed by enough still-trusted keys; its revoked
   keys join the ones the caller already knows;
3. at least ``threshold`` *distinct* trusted, unrevoked keys made valid signatures over the
   exact manifest bytes (only then is the manifest even parsed);
4. every member's SHA-256 matches the manifest, with no member missing or extra;
5. the bundle has not expired.

Anti-rollback (serials already applied) needs state and lives in the agent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from checkpointctl.errors import TrustError
from checkpointctl.model import JSONValue, Secret
from checkpointctl.spec import DesiredState
from checkpointctl.trust.bundle import (
    HOST_FORMAT_VERSION,
    REVOCATIONS,
    Manifest,
    digest,
    host_member,
    manifest_signed_bytes,
    read_bundle,
)
from checkpointctl.trust.canonical import strict_loads
from checkpointctl.trust.keys import HostKey, PublicKey
from checkpointctl.trust.revocation import RevocationList, parse_revocations, verify_revocations
from checkpointctl.trust.seal import unseal
from checkpointctl.trust.statecodec import state_from_data
from checkpointctl.trust.timeutil import format_time

__all__ = ["VerifiedBundle", "host_state", "verify_bundle"]


@dataclass(frozen=True, slots=True)
class VerifiedBundle:
    """A bundle that passed every check, and what the checks learned."""

    manifest: Manifest
    manifest_sha256: str
    """``sha256:<hex>`` of the manifest member: the bundle's identity for anti-rollback."""
    signers: tuple[str, ...]
    """Key IDs whose signatures counted."""
    members: Mapping[str, bytes]
    revocations: RevocationList | None
    """The embedded revocation list (already verified), if the bundle carries one."""

    def summary(self) -> dict[str, JSONValue]:
        """Which bundle this is, as ``verify --format json`` and the agent's status show it."""
        m = self.manifest
        return {
            "serial": m.serial,
            "created": format_time(m.created),
            "expires": format_time(m.expires),
            "manifest_sha256": self.manifest_sha256,
            "signed_by": list(self.signers),
        }


def _check_signatures(
    manifest: bytes,
    signatures: Mapping[str, bytes],
    trusted: Mapping[str, PublicKey],
    revoked: frozenset[str],
    threshold: int,
) -> tuple[str, ...]:
    message = manifest_signed_bytes(manifest)
    valid: list[str] = []
    invalid: list[str] = []
    was_revoked: list[str] = []
    untrusted: list[str] = []
    for kid, sig in sorted(signatures.items()):
        key = trusted.get(kid)
        if key is None:
            untrusted.append(kid)
        elif not key.verify(sig, message):
            invalid.append(kid)
        elif kid in revoked:
            was_revoked.append(kid)
        else:
            valid.append(kid)
    if len(valid) >= threshold:
        return tuple(valid)
    notes = (
        [f"{k} valid" for k in valid]
        + [f"{k} invalid signature" for k in invalid]
        + [f"{k} revoked" for k in was_revoked]
        + [f"{k} not trusted" for k in untrusted]
    )
    detail = f"\n  signatures: {'; '.join(notes)}" if notes else ""
    if invalid:
        head = (
            f"the manifest signature by trusted key {', '.join(invalid)} is invalid: the "
            "manifest was modified after it was signed (or the signature is damaged)"
        )
    elif was_revoked and not valid:
        head = (
            f"the bundle is signed by revoked key {', '.join(was_revoked)}: a revocation list "
            "signed by a still-trusted key says it must no longer be accepted"
        )
    elif not signatures:
        head = "the bundle is not signed"
    elif not valid:
        trusted_ids = ", ".join(sorted(trusted)) or "none"
        head = (
            f"the bundle is not signed by any trusted key: it is signed by "
            f"{', '.join(untrusted)}, which is not among the trusted keys ({trusted_ids})"
        )
    else:
        head = (
            f"the bundle has {len(valid)} valid signature(s) from distinct trusted keys "
            f"({', '.join(valid)}) but {threshold} are required (threshold {threshold})"
        )
        if was_revoked:
            head += f"; revoked key {', '.join(was_revoked)} does not count"
    raise TrustError(head + detail)


def verify_bundle(
    data: bytes,
    trusted: Mapping[str, PublicKey],
    *,
    now: datetime,
    threshold: int = 1,
    revoked: Iterable[str] = (),
) -> VerifiedBundle:
    """Verify a bundle against trusted keys (key ID → key) at time ``now``.

    Raises:
        TrustError: the first check that fails (see the module docstring), with a message of
            its own for each kind of failure.
    """
    if threshold < 1:
        raise TrustError(f"the signature threshold must be at least 1 (got {threshold})")
    if not trusted:
        raise TrustError("no trusted keys: give --trust KEY.pub (or a trust dir with keys)")
    contents = read_bundle(data)
    known_revoked = frozenset(revoked)
    embedded: RevocationList | None = None
    if REVOCATIONS in contents.members:
        embedded = parse_revocations(contents.members[REVOCATIONS], "the bundle's revocations")
        known_revoked |= verify_revocations(
            embedded,
            trusted,
            threshold=threshold,
            known_revoked=known_revoked,
            where="the revocation list in the bundle",
        )
    signers = _check_signatures(
        contents.manifest, contents.signatures, trusted, known_revoked, threshold
    )
    manifest = Manifest.from_bytes(contents.manifest)
    for name in sorted(set(manifest.members) | set(contents.members)):
        want = manifest.members.get(name)
        body = contents.members.get(name)
        if want is None:
            raise TrustError(
                f"bundle member {name} is not listed in the signed manifest: it was added after "
                "signing"
            )
        if body is None:
            raise TrustError(f"the signed manifest lists {name} but the bundle lacks it")
        got = digest(body)
        if got != want:
            raise TrustError(
                f"bundle member {name} does not match the signed manifest (sha256 "
                f"{got[7:19]}…, manifest says {want[7:19]}…): it was modified after signing"
            )
    if now >= manifest.expires:
        raise TrustError(
            f"the bundle (serial {manifest.serial}) expired at {format_time(manifest.expires)} "
            f"(it is now {format_time(now)}): build and sign a new one"
        )
    return VerifiedBundle(
        manifest=manifest,
        manifest_sha256="sha256:" + hashlib.sha256(contents.manifest).hexdigest(),
        signers=signers,
        members=dict(contents.members),
        revocations=embedded,
    )


def host_state(bundle: VerifiedBundle, host: str, key: HostKey | None) -> DesiredState:
    """The desired state ``bundle`` carries for ``host``, secrets opened with ``key``.

    Raises:
        TrustError: the bundle has no state for ``host``; the member is malformed or names
            another host; it was sealed to a different host key; a secret does not open.
    """
    name = host_member(host)
    body = bundle.members.get(name)
    if body is None:
        listed = ", ".join(bundle.manifest.hosts[:10]) or "none"
        raise TrustError(
            f"the bundle (serial {bundle.manifest.serial}) has no state for host {host} "
            f"(it has: {listed})"
        )
    try:
        doc = strict_loads(body)
    except ValueError as exc:
        raise TrustError(f"{name}: invalid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format_version") != HOST_FORMAT_VERSION:
        raise TrustError(f"{name}: not a host state of a supported version")
    if doc.get("host") != host:
        raise TrustError(f"{name}: the document is for host {doc.get('host')!r}, not {host}")
    sealed_to = doc.get("sealed_to")
    if sealed_to is not None and (key is None or sealed_to != key.key_id):
        mine = key.key_id if key is not None else "none"
        raise TrustError(
            f"{name}: secrets are sealed to host key {sealed_to}, but this host's key is {mine}: "
            f"the inventory's agent_public_key for {host} is not this host's key"
        )

    def opener(blob: object, path: str) -> Secret:
        assert key is not None  # sealed_to was checked above
        return Secret(unseal(blob, key, host, path))

    state = state_from_data(doc.get("state"), opener if key is not None else None, where=name)
    if state.host != host:
        raise TrustError(f"{name}: the state is for host {state.host!r}, not {host}")
    return state
