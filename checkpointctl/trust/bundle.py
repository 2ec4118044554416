"""Bundles: the signed, deterministic archive that carries each host's desired state.

A bundle (``.cpb``) is a plain POSIX (ustar) tar with, in this order:

- ``manifest.json``: canonical JSON with ``format``, ``format_version``, ``serial``,
  ``created``, ``expires``, ``key_ids`` (the keys the builder signed with), ``hosts`` and
  ``members`` (``sha256:<hex>`` of every other member except signatures);
- ``hosts/<name>.json``: ``{"format_version", "host", "sealed_to", "state"}`` where ``state`` is
  the host's desired state as plain data with every secret sealed to the host's own X25519 key
  (see :mod:`checkpointctl.trust.seal`) and ``sealed_to`` that key's ID;
- ``revocations.json`` (optional): a signed revocation list the hosts should adopt;
- ``signatures/<key id>.sig``: base64 Ed25519 signatures over a domain label plus the exact
  manifest bytes. More can be attached later (:func:`sign_bundle`), e.g. during a key rotation
  or to reach a threshold.

Determinism: members are sorted in a fixed order, every header has mtime 0, uid/gid 0, no user
or group names and mode 0644, the tar is not compressed (no gzip timestamp), the manifest's
``created`` is an input, and sealing derives its ephemeral keys from the signing key (see
``seal``). The same inputs therefore give the same bytes.

Reading is defensive (:func:`read_bundle`): sizes are capped, only regular files with the names
above are accepted, duplicates and anything else (links, directories, ``..``) are refused. This
module does not decide whether to *believe* a bundle: :mod:`checkpointctl.trust.verify` does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from checkpointctl.errors import TrustError
from checkpointctl.spec import DesiredState
from checkpointctl.trust.canonical import canonical_bytes, ordered_bytes, strict_loads
from checkpointctl.trust.keys import SigningKey, key_id
from checkpointctl.trust.seal import EphemeralSource, deterministic_ephemerals, seal
from checkpointctl.trust.statecodec import secret_paths, state_to_sealed_data
from checkpointctl.trust.timeutil import format_time, parse_document_time

__all__ = [
    "BundleContents",
    "Manifest",
    "build_bundle",
    "host_member",
    "manifest_signed_bytes",
    "read_bundle",
    "sign_bundle",
    "write_bundle",
]

FORMAT = "checkpointctl-bundle"
FORMAT_VERSION = 1
HOST_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REVOCATIONS = "revocations.json"
HOSTS_DIR = "hosts/"
SIGNATURES_DIR = "signatures/"
SIGNATURE_CONTEXT = b"checkpointctl-bundle-manifest-v1\0"
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
MAX_MEMBER_BYTES = 16 * 1024 * 1024
MAX_MEMBERS = 100_000

_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MANIFEST_FIELDS = frozenset(
    {"format", "format_version", "serial", "created", "expires", "key_ids", "hosts", "members"}
)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def host_member(host: str) -> str:
    """The member name of ``host``'s state."""
    return f"{HOSTS_DIR}{host}.json"


def manifest_signed_bytes(manifest_bytes: bytes) -> bytes:
    """What a manifest signature covers: a domain label and the exact manifest member."""
    return SIGNATURE_CONTEXT + manifest_bytes


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the signatures vouch for."""

    serial: int
    created: datetime
    expires: datetime
    key_ids: tuple[str, ...]
    hosts: tuple[str, ...]
    members: Mapping[str, str] = field(default_factory=dict)
    """member name → ``sha256:<hex>`` for every member except the manifest and signatures."""

    def to_bytes(self) -> bytes:
        """The canonical manifest member."""
        return canonical_bytes(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "serial": self.serial,
                "created": format_time(self.created),
                "expires": format_time(self.expires),
                "key_ids": list(self.key_ids),
                "hosts": list(self.hosts),
                "members": dict(sorted(self.members.items())),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse the manifest member.

        Raises:
            TrustError: not a manifest of a supported version, or malformed.
        """

        def bad(why: str) -> TrustError:
            return TrustError(f"bundle manifest: {why}")

        try:
            doc = strict_loads(data)
        except ValueError as exc:
            raise bad(f"invalid JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise bad(f"not a {FORMAT} manifest")
        if doc.get("format_version") != FORMAT_VERSION:
            raise bad(
                f"unsupported format_version {doc.get('format_version')!r} (this checkpointctl "
                f"reads {FORMAT_VERSION}; upgrade it)"
            )
        extra = sorted(set(doc) - _MANIFEST_FIELDS)
        if extra:
            raise bad(f"unknown field(s) {', '.join(extra)}")
        serial = doc.get("serial")
        if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
            raise bad("serial must be a non-negative integer")
        try:
            created = parse_document_time(doc.get("created"), what="created")
            expires = parse_document_time(doc.get("expires"), what="expires")
        except ValueError as exc:
            raise bad(str(exc)) from None
        key_ids = doc.get("key_ids")
        if not isinstance(key_ids, list) or not all(
            isinstance(k, str) and _KEY_ID.match(k) for k in key_ids
        ):
            raise bad("key_ids must be a list of key IDs")
        hosts = doc.get("hosts")
        if not isinstance(hosts, list) or not all(
            isinstance(h, str) and _HOST_NAME.match(h) for h in hosts
        ):
            raise bad("hosts must be a list of host names")
        members = doc.get("members")
        if not isinstance(members, dict) or not all(
            isinstance(v, str) and _DIGEST.match(v) for v in members.values()
        ):
            raise bad("members must map member names to sha256:<hex> digests")
        expected = {host_member(h) for h in hosts}
        listed_hosts = {m for m in members if m != REVOCATIONS}
        if listed_hosts != expected:
            raise bad("members do not match hosts")
        return cls(serial, created, expires, tuple(key_ids), tuple(hosts), dict(members))


@dataclass(frozen=True, slots=True)
class BundleContents:
    """The members of a bundle as read, before anything is believed."""

    manifest: bytes
    members: Mapping[str, bytes]
    """Every member except the manifest and the signatures."""
    signatures: Mapping[str, bytes]
    """key ID → raw 64-byte signature."""


# --------------------------------------------------------------------------- tar I/O


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    tar.addfile(info, io.BytesIO(data))


def write_bundle(contents: BundleContents) -> bytes:
    """The deterministic tar of ``contents`` (manifest, members sorted, signatures sorted)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        _tar_member(tar, MANIFEST, contents.manifest)
        for name in sorted(contents.members):
            _tar_member(tar, name, contents.members[name])
        for kid in sorted(contents.signatures):
            sig = base64.b64encode(contents.signatures[kid]) + b"\n"
            _tar_member(tar, f"{SIGNATURES_DIR}{kid}.sig", sig)
    return out.getvalue()


def _member_kind(name: str) -> str:
    if name == MANIFEST:
        return "manifest"
    if name == REVOCATIONS:
        return "member"
    if (
        name.startswith(HOSTS_DIR)
        and name.endswith(".json")
        and _HOST_NAME.match(name[len(HOSTS_DIR) : -len(".json")])
    ):
        return "member"
    if (
        name.startswith(SIGNATURES_DIR)
        and name.endswith(".sig")
        and _KEY_ID.match(name[len(SIGNATURES_DIR) : -len(".sig")])
    ):
        return "signature"
    return ""


def read_bundle(data: bytes) -> BundleContents:
    """Split a bundle into its members, refusing anything a bundle never contains.

    Raises:
        TrustError: not a tar, too large, an unexpected/duplicate/non-regular member, a bad
            signature encoding, or no manifest. Messages start with "not a valid bundle".
    """

    def bad(why: str) -> TrustError:
        return TrustError(f"not a valid bundle: {why}")

    if len(data) > MAX_BUNDLE_BYTES:
        raise bad(f"larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB")
    manifest: bytes | None = None
    members: dict[str, bytes] = {}
    signatures: dict[str, bytes] = {}
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for count, info in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise bad(f"more than {MAX_MEMBERS} members")
                name = info.name
                if name in seen:
                    raise bad(f"member {name!r} appears twice")
                seen.add(name)
                kind = _member_kind(name)
                if not kind:
                    raise bad(f"unexpected member {name!r}")
                if not info.isreg():
                    raise bad(f"member {name!r} is not a regular file")
                if info.size > MAX_MEMBER_BYTES:
                    raise bad(f"member {name!r} is larger than {MAX_MEMBER_BYTES} bytes")
                handle = tar.extractfile(info)
                if handle is None:  # pragma: no cover - isreg() members always have data
                    raise bad(f"member {name!r} has no data")
                body = handle.read()
                if kind == "manifest":
                    manifest = body
                elif kind == "member":
                    members[name] = body
                else:
                    kid = name[len(SIGNATURES_DIR) : -len(".sig")]
                    try:
                        signatures[kid] = base64.b64decode(body.strip(), validate=True)
                    except binascii.Error:
                        raise bad(f"signature {name!r} is not base64") from None
    except (tarfile.TarError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise bad(f"not a readable tar archive ({exc})") from None
    if manifest is None:
        raise bad("it has no manifest.json")
    return BundleContents(manifest, members, signatures)


# --------------------------------------------------------------------------- building


def _host_document(
    host: str, state: DesiredState, recipient: bytes | None, ephemeral: EphemeralSource
) -> bytes:
    def sealer(plaintext: bytes, path: str) -> object:
        assert recipient is not None  # a host without a key has no secrets (checked before)
        return seal(plaintext, recipient, host, path, ephemeral)

    doc = {
        "format_version": HOST_FORMAT_VERSION,
        "host": host,
        "sealed_to": key_id(recipient) if recipient is not None else None,
        "state": state_to_sealed_data(state, sealer),
    }
    return ordered_bytes(doc) + b"\n"


def build_bundle(
    states: Mapping[str, DesiredState],
    recipients: Mapping[str, bytes | None],
    keys: Sequence[SigningKey],
    *,
    serial: int,
    created: datetime,
    expires: datetime,
    revocations: bytes | None = None,
) -> bytes:
    """Build and sign a bundle for ``states`` (host name → desired state).

    ``recipients`` maps each host to its raw X25519 public key (from the inventory's
    ``agent_public_key``) or None. A host without a key is included with no secrets; one whose
    state holds secrets is an error (they could not be sealed to it). Sealing derives its
    ephemeral keys from the first signing key (by key ID) and the serial, so the same inputs
    give the same bytes.

    Raises:
        TrustError: no signing key; a bad serial or time window; a host name that cannot be a
            member name; hosts with secrets but no ``agent_public_key`` (all are named).
    """
    if not keys:
        raise TrustError("a bundle must be signed: give --key")
    if serial < 0:
        raise TrustError(f"--serial must be a non-negative integer (got {serial})")
    created = created.replace(microsecond=0)
    expires = expires.replace(microsecond=0)
    if expires <= created:
        raise TrustError("the bundle would expire before it was created (check --expires)")
    bad_names = sorted(h for h in states if not _HOST_NAME.match(h))
    if bad_names:
        raise TrustError(f"host names not allowed in a bundle: {', '.join(bad_names)}")
    unkeyed = sorted(
        h for h, state in states.items() if recipients.get(h) is None and secret_paths(state)
    )
    if unkeyed:
        raise TrustError(
            "these hosts have secrets but no agent_public_key in the inventory, so their secrets "
            f"cannot be sealed to them: {', '.join(unkeyed)}\n"
            "  hint: run `checkpointctl agent init` on each and put the printed key in the "
            "inventory as agent_public_key"
        )
    signers = sorted(keys, key=lambda k: k.key_id)
    ephemeral = deterministic_ephemerals(
        signers[0].derivation_secret(b"bundle-seal"), str(serial).encode()
    )
    members: dict[str, bytes] = {}
    for host in sorted(states):
        members[host_member(host)] = _host_document(
            host, states[host], recipients.get(host), ephemeral
        )
    if revocations is not None:
        members[REVOCATIONS] = revocations
    manifest = Manifest(
        serial=serial,
        created=created,
        expires=expires,
        key_ids=tuple(k.key_id for k in signers),
        hosts=tuple(sorted(states)),
        members={name: digest(body) for name, body in members.items()},
    ).to_bytes()
    message = manifest_signed_bytes(manifest)
    signatures = {k.key_id: k.sign(message) for k in signers}
    return write_bundle(BundleContents(manifest, members, signatures))


def sign_bundle(data: bytes, key: SigningKey) -> bytes:
    """Attach (or replace) ``key``'s signature over the bundle's manifest.

    The manifest and members are kept byte for byte; nothing else is checked here (verify
    first if the bundle came from elsewhere).

    Raises:
        TrustError: ``data`` is not a valid bundle.
    """
    contents = read_bundle(data)
    signatures = dict(contents.signatures)
    signatures[key.key_id] = key.sign(manifest_signed_bytes(contents.manifest))
    return write_bundle(BundleContents(contents.manifest, contents.members, signatures))
