"""Tag → digest through a registry's HTTP API v2 (the OCI distribution spec), with token auth.

``HEAD /v2/<name>/manifests/<tag>`` with the manifest media types we accept answers with the
``Docker-Content-Digest`` of what the tag points at; a registry that leaves the header out gets a
``GET`` and we hash the body ourselves. On ``401`` the ``WWW-Authenticate`` challenge says how to
authenticate: ``Bearer realm=…,service=…,scope=…`` means "fetch a token from the realm and send
it back" (anonymously, or with ``CHECKPOINTCTL_REGISTRY_USERNAME``/``_PASSWORD``), ``Basic``
means credentials on the request itself.

Plain HTTP is used only for registries the caller lists as insecure (as Docker's
``insecure-registries``); everything else is HTTPS with certificate checks. Redirects are
followed by hand so a token is never carried to another host and HTTPS never drops to HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message

from checkpointctl import __version__
from checkpointctl.errors import CheckpointctlError
from checkpointctl.gitops.reference import DIGEST_RE, ImageReference
from checkpointctl.model import Secret

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
"""An index (multi-platform) first: pinning it is what ``docker pull repo:tag`` records."""

INSECURE_ENV = "CHECKPOINTCTL_INSECURE_REGISTRIES"
USERNAME_ENV = "CHECKPOINTCTL_REGISTRY_USERNAME"
PASSWORD_ENV = "CHECKPOINTCTL_REGISTRY_PASSWORD"  # noqa: S105 (the variable's name)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_REDIRECTS = 3

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM_RE = re.compile(rf"\s*({_TCHARS})\s*=\s*({_QUOTED}|[^\s,\"=][^\s,\"]*)\s*")
"""``name=value``: a quoted string, or (leniently; RFC 7235 says a token) anything up to a comma,
because some registries write ``realm=https://…`` unquoted."""
_SCHEME_RE = re.compile(rf"\s*({_TCHARS})")
_TOKEN68_RE = re.compile(r"\s+([A-Za-z0-9._~+/-]+=*)\s*(?=,|$)")


class RegistryError(CheckpointctlError):
    """A registry could not be reached, refused us, or does not have the tag."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: the scheme (lower case) and its parameters (keys in
    lower case; a bare ``token68`` is kept under the key ``token68``)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_www_authenticate(header: str) -> list[Challenge]:
    """Every challenge in a ``WWW-Authenticate`` value (RFC 7235 syntax).

    Challenges and their parameters are both comma-separated, so after a comma the next item
    is a parameter when it reads ``name=value`` and a new challenge otherwise. Quoted values
    may hold commas and escaped quotes. Unparseable trailing text ends the parse; what was
    read so far is returned.
    """
    out: list[Challenge] = []
    pos = 0
    n = len(header)
    while pos < n:
        while pos < n and header[pos] in " \t,":
            pos += 1
        m = _SCHEME_RE.match(header, pos)
        if not m:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: dict[str, str] = {}
        t68 = _TOKEN68_RE.match(header, pos)
        if t68 and not _PARAM_RE.match(header, pos):
            params["token68"] = t68.group(1)
            pos = t68.end()
        else:
            while True:
                p = _PARAM_RE.match(header, pos)
                if not p:
                    break
                params.setdefault(p.group(1).lower(), _unquote(p.group(2)))
                pos = p.end()
                if pos < n and header[pos] == ",":
                    nxt = _PARAM_RE.match(header, pos + 1)
                    if nxt:
                        pos += 1
                        continue
                break
        out.append(Challenge(scheme, params))
        while pos < n and header[pos] in " \t":
            pos += 1
        if pos < n and header[pos] != ",":
            break
    return out


def insecure_from_env(extra: Iterable[str] = ()) -> frozenset[str]:
    """Registries (``host:port``) allowed over plain HTTP: ``extra`` plus the env variable."""
    names = set(extra)
    names.update(x for x in re.split(r"[,\s]+", os.environ.get(INSECURE_ENV, "")) if x)
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class RegistryResponse:
    """A registry's answer: status, headers and (for a GET) the body."""

    status: int
    headers: Message
    body: bytes


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


class RegistryClient:
    """Resolves tags to digests; one instance caches tokens and answers for a whole run."""

    def __init__(
        self,
        insecure: Iterable[str] = (),
        *,
        timeout: float = 15.0,
        credentials: tuple[str, str | Secret] | None = None,
        insecure_all: bool = False,
        insecure_options: str = "--insecure-registry HOST",
    ) -> None:
        self.insecure = frozenset(insecure)
        self.insecure_all = insecure_all
        """Every registry over plain HTTP (``update --insecure``): only when asked by name."""
        self.insecure_options = insecure_options
        """How the caller's command line asks for plain HTTP, for the error that suggests it."""
        self.timeout = timeout
        if credentials is None and os.environ.get(USERNAME_ENV):
            credentials = (os.environ[USERNAME_ENV], os.environ.get(PASSWORD_ENV, ""))
        # the password is a Secret from here on: only the Authorization header reveals it
        self._credentials: tuple[str, Secret] | None = (
            None
            if credentials is None
            else (
                credentials[0],
                credentials[1] if isinstance(credentials[1], Secret) else Secret(credentials[1]),
            )
        )
        self._auth: dict[str, str] = {}  # registry host -> Authorization header value
        self._cache: dict[tuple[str, str, str], str] = {}
        # Only http(s), with the environment's proxy settings; no file:, ftp: or data: URLs
        # however a challenge's realm is written.
        self._opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),
            urllib.request.HTTPHandler(),
            urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        ):
            self._opener.add_handler(handler)

    # --- transport --------------------------------------------------------------------------

    def _allowed(self, url: str) -> bool:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme == "https" or (parts.scheme == "http" and self._plain(parts.netloc))

    def _plain(self, registry: str) -> bool:
        return self.insecure_all or registry in self.insecure

    def _tls_hint(self, reason: object) -> str:
        """For a TLS handshake that failed (not a certificate refused): how to ask for plain
        HTTP, which is never used unless asked for."""
        if isinstance(reason, ssl.SSLError) and not isinstance(
            reason, ssl.SSLCertVerificationError
        ):
            return f" (if it serves plain HTTP only, ask for that with {self.insecure_options})"
        return ""

    def base_url(self, ref: ImageReference) -> str:
        scheme = "http" if self._plain(ref.registry) else "https"
        return f"{scheme}://{ref.api_host}"

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        data: bytes | None = None,
        limit: int = MAX_MANIFEST_BYTES,
    ) -> RegistryResponse:
        """One request, redirects followed by hand; a GET's body is read up to ``limit``."""
        hdrs = {"User-Agent": f"checkpointctl/{__version__}", **headers}
        for _ in range(MAX_REDIRECTS + 1):
            if not self._allowed(url):
                raise RegistryError(
                    f"refusing {url}: plain HTTP is only for registries asked for with "
                    f"{self.insecure_options} or {INSECURE_ENV}"
                )
            req = urllib.request.Request(url, data=data, method=method, headers=hdrs)  # noqa: S310 (checked above)
            try:
                resp = self._opener.open(req, timeout=self.timeout)
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise RegistryError(f"{_host(url)}: {reason}{self._tls_hint(reason)}") from None
            with resp:
                status = int(resp.status)
                body = resp.read(limit + 1) if method == "GET" else b""
                response = RegistryResponse(status, resp.headers, body)
            if status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                target = urllib.parse.urljoin(url, response.headers["Location"])
                if _host(target) != _host(url):
                    hdrs.pop("Authorization", None)
                if url.startswith("https:") and not target.startswith("https:"):
                    raise RegistryError(f"{_host(url)}: redirect from HTTPS to {target} refused")
                url = target
                continue
            if len(response.body) > limit:
                raise RegistryError(f"{_host(url)}: response over {limit} bytes")
            return response
        raise RegistryError(f"{_host(url)}: more than {MAX_REDIRECTS} redirects")

    # --- authentication -----------------------------------------------------------------------

    def _basic(self) -> str:
        assert self._credentials is not None
        user, password = self._credentials
        raw = user.encode() + b":" + password.reveal()
        return "Basic " + base64.b64encode(raw).decode()

    def _token(self, challenge: Challenge, ref: ImageReference) -> str:
        realm = challenge.params.get("realm", "")
        if not realm:
            raise RegistryError(f"{ref.registry}: Bearer challenge without a realm")
        if not self._allowed(realm):
            raise RegistryError(
                f"{ref.registry}: token realm {realm!r} is not HTTPS (or an insecure registry)"
            )
        query = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        query.append(("scope", challenge.params.get("scope") or f"repository:{ref.path}:pull"))
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        if self._credentials is not None:
            headers["Authorization"] = self._basic()
        resp = self._send("GET", url, headers)
        if resp.status != 200:
            raise RegistryError(
                f"{ref.registry}: token request to {_host(realm)} answered {resp.status}"
                + (" (wrong credentials?)" if resp.status in (401, 403) else "")
            )
        try:
            data = json.loads(resp.body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{ref.registry}: the token response holds no token")
        return token

    def _authorized(
        self,
        method: str,
        url: str,
        ref: ImageReference,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        limit: int = MAX_MANIFEST_BYTES,
    ) -> RegistryResponse:
        """``method url`` with the registry's authentication (a token fetched on a challenge,
        then kept per registry); ``headers`` default to accepting the manifest types."""
        headers = dict(headers) if headers is not None else {"Accept": ", ".join(MANIFEST_TYPES)}
        auth = self._auth.get(ref.registry)
        if auth:
            headers["Authorization"] = auth
        resp = self._send(method, url, headers, data=data, limit=limit)
        if resp.status != 401:
            return resp
        challenges = parse_www_authenticate(resp.headers.get("WWW-Authenticate", ""))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is not None:
            auth = "Bearer " + self._token(bearer, ref)
        elif any(c.scheme == "basic" for c in challenges) and self._credentials is not None:
            auth = self._basic()
        else:
            raise RegistryError(
                f"{ref.registry}: authentication required; set {USERNAME_ENV} and {PASSWORD_ENV}"
            )
        self._auth[ref.registry] = auth
        headers["Authorization"] = auth
        resp = self._send(method, url, headers, data=data, limit=limit)
        if resp.status in (401, 403):
            raise RegistryError(f"{ref.registry}: access to {ref.path} denied ({resp.status})")
        return resp

    def request(
        self,
        method: str,
        url: str,
        ref: ImageReference,
        *,
        headers: Mapping[str, str],
        data: bytes | None = None,
        limit: int = MAX_MANIFEST_BYTES,
    ) -> RegistryResponse:
        """Any call of the registry's API with this client's authentication, redirect and
        insecure-registry rules (the OCI bundle operations use it)."""
        return self._authorized(method, url, ref, headers=headers, data=data, limit=limit)

    # --- the one question -------------------------------------------------------------------

    def resolve(self, ref: ImageReference) -> str:
        """The digest ``ref``'s tag points at now (``sha256:<hex>``)."""
        if not ref.tag:
            raise RegistryError(f"{ref}: no tag to resolve")
        key = (ref.registry, ref.path, ref.tag)
        if key in self._cache:
            return self._cache[key]
        url = f"{self.base_url(ref)}/v2/{ref.path}/manifests/{urllib.parse.quote(ref.tag)}"
        resp = self._authorized("HEAD", url, ref)
        header = resp.headers.get("Docker-Content-Digest", "")
        digest = header if resp.status == 200 and DIGEST_RE.match(header) else None
        if digest is None and resp.status in (200, 405):
            resp = self._authorized("GET", url, ref)
            if resp.status == 200:
                digest = "sha256:" + hashlib.sha256(resp.body).hexdigest()
                header = resp.headers.get("Docker-Content-Digest", "")
                if DIGEST_RE.match(header) and header != digest:
                    raise RegistryError(
                        f"{ref}: the manifest's content does not match the digest the registry "
                        f"states ({header})"
                    )
        if digest is None:
            if resp.status == 404:
                raise RegistryError(f"{ref.name}: tag {ref.tag!r} not found on {ref.registry}")
            raise RegistryError(f"{ref}: registry answered {resp.status}")
        self._cache[key] = digest
        return digest

    def tags(self, ref: ImageReference) -> list[str]:
        """Every tag of ``ref``'s repository (``GET /v2/<name>/tags/list``, following ``Link``
        pages), for ``track`` ranges that pick the newest release."""
        url: str | None = f"{self.base_url(ref)}/v2/{ref.path}/tags/list?n=1000"
        out: list[str] = []
        for _ in range(MAX_TAG_PAGES):
            if url is None:
                return out
            resp = self._authorized("GET", url, ref)
            if resp.status == 404:
                raise RegistryError(f"{ref.name}: repository not found on {ref.registry}")
            if resp.status != 200:
                raise RegistryError(f"{ref.name}: tag list answered {resp.status}")
            try:
                listed = json.loads(resp.body).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{ref.name}: the tag list is not JSON") from None
            out.extend(str(t) for t in listed if isinstance(t, str))
            url = _next_page(url, resp.headers.get("Link", ""))
        raise RegistryError(f"{ref.name}: more than {MAX_TAG_PAGES} pages of tags")

    def manifest(self, ref: ImageReference, digest: str) -> Manifest:
        """The manifest ``digest`` names in ``ref``'s repository, checked against the digest.

        The scan and the rollout are about exactly this manifest: a registry that answered with
        other bytes (a proxy rewriting, a tag moved between resolve and fetch) is refused.
        """
        url = f"{self.base_url(ref)}/v2/{ref.path}/manifests/{digest}"
        resp = self._authorized("GET", url, ref)
        if resp.status != 200:
            raise RegistryError(f"{ref.name}@{digest}: manifest answered {resp.status}")
        actual = "sha256:" + hashlib.sha256(resp.body).hexdigest()
        if actual != digest:
            raise RegistryError(f"{ref.name}@{digest}: the manifest's content hashes to {actual}")
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            declared = json.loads(resp.body).get("mediaType")
        except (ValueError, AttributeError):
            raise RegistryError(f"{ref.name}@{digest}: the manifest is not JSON") from None
        return Manifest(digest, str(declared or media_type), len(resp.body))


@dataclass(frozen=True, slots=True)
class Manifest:
    """A fetched, digest-checked manifest: what a bump rolls out."""

    digest: str
    media_type: str
    size: int


MAX_TAG_PAGES = 20
_LINK_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def _next_page(url: str, link: str) -> str | None:
    """The next page of a paginated list from its ``Link`` header (same host only)."""
    m = _LINK_RE.search(link)
    if not m:
        return None
    target = urllib.parse.urljoin(url, m.group(1))
    return target if _host(target) == _host(url) else None
