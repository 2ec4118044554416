"""Getting a bundle's bytes: a path, ``file://``, ``https://`` (verified), ``http://`` or stdin.

The host initiates every connection (checkpoints accept none). What is fetched is not trusted
for being fetched: the bundle's signatures, expiry and the agent's anti-rollback decide. HTTPS
still verifies the server's certificate and host name (the system CAs, or ``ca_file``), which
keeps a network attacker from even learning the bundle's non-secret configuration; plain
``http://`` is accepted for the same reason a signed package mirror may be plain HTTP.
Every read is capped, so a hostile server cannot fill the host's memory.
"""

from __future__ import annotations

import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import BinaryIO

from checkpointctl.errors import CheckpointctlError
from checkpointctl.trust.bundle import MAX_BUNDLE_BYTES
from checkpointctl.trust.bundlecache import BundleCache

__all__ = ["ConditionalHttpSource", "FetchError", "HttpAnswer", "fetch", "fetch_http"]

USER_AGENT = "checkpointctl-agent"


class FetchError(CheckpointctlError):
    """The bundle could not be fetched (nothing was verified or applied)."""


def _read_capped(stream: BinaryIO, source: str, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise FetchError(f"{source}: larger than {limit} bytes; refused")
    return data


def fetch(
    source: str,
    *,
    ca_file: str | None = None,
    timeout: float = 30.0,
    limit: int = MAX_BUNDLE_BYTES,
    stdin: BinaryIO | None = None,
) -> bytes:
    """The bytes at ``source``: ``-`` (stdin), a path, ``file://``, ``https://``, ``http://``.

    Raises:
        FetchError: unknown scheme, unreadable file, TLS or HTTP failure, timeout, too large.
    """
    if source == "-":
        return _read_capped(stdin or sys.stdin.buffer, "stdin", limit)
    parsed = urllib.parse.urlsplit(source)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file"):
        path = source
        if scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise FetchError(f"{source}: a file:// URL must name a local file")
            path = urllib.parse.unquote(parsed.path)
        try:
            with open(path, "rb") as f:
                return _read_capped(f, source, limit)
        except OSError as e:
            raise FetchError(f"cannot read the bundle {path}: {e.strerror}") from None
    if scheme not in ("https", "http"):
        raise FetchError(
            f"{source}: unsupported source (use a path, file://, https:// or - for stdin)"
        )
    answer = fetch_http(source, ca_file=ca_file, timeout=timeout, limit=limit)
    assert answer.body is not None  # no ETag was sent, so the server cannot answer 304
    return answer.body


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """An HTTP source's answer: the body and its ``ETag``, or ``body`` None for 304 (the
    ``ETag`` sent still names the current version)."""

    body: bytes | None
    etag: str | None


def fetch_http(
    source: str,
    *,
    etag: str | None = None,
    ca_file: str | None = None,
    timeout: float = 30.0,
    limit: int = MAX_BUNDLE_BYTES,
) -> HttpAnswer:
    """GET an ``https://`` or ``http://`` source; with ``etag``, conditionally
    (``If-None-Match``), so an unchanged bundle costs a 304 and no body.

    Raises:
        FetchError: TLS or HTTP failure, timeout, too large.
    """
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    handlers: list[urllib.request.BaseHandler] = []
    if scheme == "https":
        try:
            context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as e:
            raise FetchError(f"cannot load the CA file {ca_file}: {e}") from None
        handlers.append(urllib.request.HTTPSHandler(context=context))
    elif scheme != "http":
        raise FetchError(f"{source}: not an https:// or http:// URL")
    elif ca_file:
        raise FetchError(f"{source}: --ca-file is given but the URL is not https://")
    opener = urllib.request.build_opener(*handlers)
    headers = {"User-Agent": USER_AGENT}
    if etag:
        headers["If-None-Match"] = etag
    request = urllib.request.Request(source, headers=headers)  # noqa: S310 (scheme checked above)
    try:
        with opener.open(request, timeout=timeout) as response:
            body = _read_capped(response, source, limit)
            return HttpAnswer(body, response.headers.get("ETag"))
    except urllib.error.HTTPError as e:
        if e.code == 304 and etag:
            return HttpAnswer(None, e.headers.get("ETag") or etag)
        raise FetchError(f"cannot fetch {source}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise FetchError(
                f"cannot fetch {source}: the server's certificate does not verify "
                f"({reason.verify_message}); give the CA with --ca-file if it is private"
            ) from None
        raise FetchError(f"cannot fetch {source}: {reason}") from None
    except (TimeoutError, OSError) as e:
        raise FetchError(f"cannot fetch {source}: {e}") from None


class ConditionalHttpSource:
    """The agent's fetcher for ``https://``/``http://`` sources: the last bundle and its
    ``ETag`` are kept (:class:`~checkpointctl.trust.bundlecache.BundleCache`) and sent back as
    ``If-None-Match``, so an unchanged bundle costs a 304. A server without ETags is fetched
    in full each run, as before."""

    def __init__(
        self, state_dir: str, *, ca_file: str | None = None, timeout: float = 30.0
    ) -> None:
        self.cache = BundleCache(state_dir)
        self.ca_file = ca_file
        self.timeout = timeout
        self.last_version: str | None = None
        """The ETag of the last answer (what the agent reports), if the server sent one."""

    def __call__(self, source: str) -> bytes:
        etag = self.cache.version(source)
        cached = self.cache.load(source, etag) if etag else None
        answer = fetch_http(
            source, etag=etag if cached is not None else None,
            ca_file=self.ca_file, timeout=self.timeout,
        )  # fmt: skip
        self.last_version = answer.etag
        if answer.body is None:
            assert cached is not None  # a 304 only answers the ETag of the kept bundle
            return cached
        if answer.etag:
            self.cache.keep(source, answer.etag, answer.body)
        return answer.body
