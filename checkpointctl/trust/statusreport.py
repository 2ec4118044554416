"""Agents that report outward: a signed status report, PUT to a per-host URL, read back by
``status --from``.

A host in pull mode accepts no inbound connection, so the controller cannot read it; the agent
tells instead. After each run it signs its status (host, result, bundle serial and manifest
digest, the source's version, findings, health) with the host's own Ed25519 report key, made at
``agent init`` beside the sealing key, and PUTs it to a URL of its own (any endpoint that takes
PUT: a presigned object-store URL, a WebDAV share; ``{host}`` in the URL is the host's name).
The controller trusts a report only if it verifies with the key the inventory lists for that
host (``agent_report_key``), so a report written by someone else into the share is flagged,
not believed.

Document: ``{"format": "checkpointctl-agent-report", "format_version": "1", "report": {...},
"key_id": "...", "signature": "<base64>"}``; the signature covers a domain label and the
canonical bytes of ``report``.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from checkpointctl.errors import TrustError
from checkpointctl.trust.canonical import canonical_bytes, strict_loads
from checkpointctl.trust.keys import (
    PublicKey,
    SigningKey,
    generate_signing_key,
    load_signing_key,
    write_signing_key,
)
from checkpointctl.trust.timeutil import parse_document_time

FORMAT = "checkpointctl-agent-report"
FORMAT_VERSION = "1"
DOMAIN = b"checkpointctl agent report v1\0"
REPORT_KEY_PREFIX = "report"
"""``report.key`` / ``report.pub`` in the trust directory."""
INVENTORY_VAR = "agent_report_key"
MAX_REPORT_BYTES = 4 * 1024 * 1024
USER_AGENT = "checkpointctl-agent"

JSONDoc = Mapping[str, object]


def ensure_report_key(trust_dir: str, *, force: bool = False) -> SigningKey:
    """The host's report key, made (unencrypted, mode 0600) unless it exists and not ``force``."""
    prefix = os.path.join(trust_dir, REPORT_KEY_PREFIX)
    if os.path.exists(f"{prefix}.key") and not force:
        return load_signing_key(f"{prefix}.key", None)
    key = generate_signing_key()
    write_signing_key(prefix, key, None, force=True)
    return key


def load_report_key(trust_dir: str) -> SigningKey:
    """The host's report key (``agent init`` makes it).

    Raises:
        TrustError: missing or unreadable.
    """
    return load_signing_key(os.path.join(trust_dir, f"{REPORT_KEY_PREFIX}.key"), None)


def public_key_text(key: SigningKey) -> str:
    """The value of ``agent_report_key`` for the inventory: the raw public key in base64."""
    return base64.b64encode(key.public.raw).decode("ascii")


def parse_report_public_key(value: object, where: str) -> PublicKey:
    """An inventory's ``agent_report_key``.

    Raises:
        TrustError: not base64 of a 32-byte Ed25519 public key.
    """
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise TrustError(f"{where}: {INVENTORY_VAR} must be a base64 Ed25519 public key")
    return PublicKey.from_raw(raw)


def report_body(
    status: JSONDoc, *, interval: float | None, source_version: str | None
) -> dict[str, object]:
    """The report of one agent run, from the status document the run wrote."""
    bundle = status.get("bundle")
    bundle_doc = bundle if isinstance(bundle, Mapping) else {}
    run = status.get("report")
    run_doc = run if isinstance(run, Mapping) else {}
    changes = run_doc.get("changes")
    return {
        "host": status.get("host"),
        "time": status.get("time"),
        "result": status.get("result"),
        "healthy": status.get("healthy"),
        "message": status.get("message"),
        "serial": bundle_doc.get("serial"),
        "manifest_sha256": bundle_doc.get("manifest_sha256"),
        "source": status.get("source"),
        "source_version": source_version,
        "last_success": status.get("last_success"),
        "consecutive_failures": status.get("consecutive_failures"),
        "findings": run_doc.get("findings", []),
        "changes": len(changes) if isinstance(changes, list) else 0,
        "interval": interval,
    }


def sign_report(body: JSONDoc, key: SigningKey) -> bytes:
    """The signed report document, as bytes to PUT."""
    signature = key.sign(DOMAIN + canonical_bytes(body))
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "report": body,
        "key_id": key.key_id,
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    return canonical_bytes(doc) + b"\n"


@dataclass(frozen=True, slots=True)
class HostReport:
    """A report that verified: what the controller shows for a pull host."""

    host: str
    time: datetime
    result: str
    healthy: bool
    serial: int | None
    manifest_sha256: str | None
    interval: float | None
    message: str


def verify_report(data: bytes, key: PublicKey, host: str, where: str) -> HostReport:
    """The report in ``data`` if ``key`` signed it and it is ``host``'s.

    Raises:
        TrustError: not a report, a signature that does not verify, another host's report.
    """
    try:
        doc = strict_loads(data)
    except ValueError as exc:
        raise TrustError(f"{where}: not a report: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TrustError(f"{where}: not an agent report")
    if doc.get("format_version") != FORMAT_VERSION:
        raise TrustError(f"{where}: report format {doc.get('format_version')!r} is not 1")
    body = doc.get("report")
    try:
        signature = base64.b64decode(str(doc.get("signature")), validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if not isinstance(body, dict) or not key.verify(signature, DOMAIN + canonical_bytes(body)):
        raise TrustError(f"{where}: the signature does not verify with {host}'s report key")
    if body.get("host") != host:
        raise TrustError(f"{where}: a report of {body.get('host')!r}, not of {host}")
    serial = body.get("serial")
    interval = body.get("interval")
    return HostReport(
        host=host,
        time=parse_document_time(body.get("time"), what="time"),
        result=str(body.get("result")),
        healthy=body.get("healthy") is True,
        serial=serial if isinstance(serial, int) and not isinstance(serial, bool) else None,
        manifest_sha256=str(body["manifest_sha256"]) if body.get("manifest_sha256") else None,
        interval=float(interval) if isinstance(interval, int | float) else None,
        message=str(body.get("message") or ""),
    )


def report_url(template: str, host: str) -> str:
    """``template`` with ``{host}`` replaced by the host's name (quoted for a URL path)."""
    return template.replace("{host}", urllib.parse.quote(host, safe=""))


def put_report(url: str, data: bytes, *, ca_file: str | None = None, timeout: float = 30.0) -> None:
    """PUT the signed report to ``url`` (https:// or http://).

    Raises:
        TrustError: another scheme, or the server did not take it (not 2xx).
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("https", "http"):
        raise TrustError(f"{url}: the report URL must be https:// or http://")
    handlers: list[urllib.request.BaseHandler] = []
    if scheme == "https":
        handlers.append(
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_file))
        )
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=data,
        method="PUT",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            if not 200 <= response.status < 300:
                raise TrustError(f"PUT {url}: HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        raise TrustError(f"PUT {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise TrustError(f"PUT {url}: {getattr(exc, 'reason', exc)}") from None


def send_run_report(
    status: JSONDoc,
    *,
    trust_dir: str,
    url_template: str,
    interval: float | None,
    source_version: str | None,
    ca_file: str | None = None,
    timeout: float = 30.0,
) -> str:
    """Sign the run's ``status`` with the host's report key and PUT it; returns the URL.

    Raises:
        TrustError: no report key, or the PUT failed.
    """
    body = report_body(status, interval=interval, source_version=source_version)
    url = report_url(url_template, str(status.get("host")))
    put_report(url, sign_report(body, load_report_key(trust_dir)), ca_file=ca_file, timeout=timeout)
    return url
