"""Docker image references: ``[registry/]path[:tag][@sha256:…]``, parsed the way Docker does.

The registry is the first path component only when it looks like a host (has a ``.`` or a
``:``, or is ``localhost``); otherwise the image is on Docker Hub, whose API lives at
``registry-1.docker.io`` and whose one-component names sit under ``library/``. A reference may
carry a tag *and* a digest (``repo:v1@sha256:…``): the digest decides what runs, the tag says
what a person (and ``pin``) follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?"
)
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class ReferenceError(ValueError):
    """Text that is not an image reference we can resolve."""


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed image reference; ``name`` is the repository as written (no tag, no digest)."""

    name: str
    registry: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """Where the registry's HTTP API answers."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def pinned(self, digest: str) -> str:
        """The reference pinned to ``digest``, keeping the tag for people and for ``pin``."""
        return f"{self.name}:{self.tag}@{digest}" if self.tag else f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse ``text``; raises ReferenceError for anything Docker would refuse (or we cannot pin:
    only sha256 digests)."""
    if not text or text != text.strip() or len(text) > 512:
        raise ReferenceError(f"{text!r} is not an image reference")
    rest, at, digest = text.partition("@")
    if at and not DIGEST_RE.match(digest):
        raise ReferenceError(f"{text!r}: the digest must be sha256:<64 lower-case hex>")
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag: str | None = None
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ReferenceError(f"{text!r}: invalid tag {tag!r}")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
        if not _DOMAIN_RE.match(registry):
            raise ReferenceError(f"{text!r}: invalid registry {registry!r}")
        if registry == "index.docker.io":
            registry = DOCKER_HUB
    else:
        registry, path = DOCKER_HUB, rest
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _PATH_RE.match(path):
        raise ReferenceError(f"{text!r}: invalid repository name {rest!r}")
    return ImageReference(name=rest, registry=registry, path=path, tag=tag, digest=digest or None)
