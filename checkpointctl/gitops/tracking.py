"""What a container's ``track`` follows: a tag, or the newest release in a semver range.

``track: stable`` follows the tag ``stable`` wherever the vendor moves it. ``track: "^1.4"``
(or ``~1.4.2``, ``1.x``, ``>=1.4.0 <2``) lists the repository's tags and follows the highest
``MAJOR.MINOR.PATCH`` tag (an optional leading ``v`` allowed) the range accepts. A value is a
range when it starts with an operator (``^ ~ > < =``) or has a wildcard part (``x``, ``X``,
``*``); anything else, ``1.4.2`` included, is a tag name. Pre-release tags (``1.5.0-rc1``)
are never chosen: a scheduled job should not roll out release candidates. ``||`` alternatives
are not supported and are refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

Version = tuple[int, int, int]

_TAG_VERSION_RE = re.compile(r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_PART = r"(?:0|[1-9][0-9]*|[xX*])"
_COMPARATOR_RE = re.compile(rf"^(\^|~|>=|<=|>|<|=)?v?({_PART})(?:\.({_PART}))?(?:\.({_PART}))?$")
_OPERATORS = ("^", "~", ">", "<", "=")


class TrackError(ValueError):
    """A ``track`` value that is neither a tag nor a range we understand."""


@dataclass(frozen=True, slots=True)
class _Bound:
    op: str
    version: Version

    def accepts(self, v: Version) -> bool:
        return {
            ">=": v >= self.version,
            ">": v > self.version,
            "<": v < self.version,
            "<=": v <= self.version,
            "=": v == self.version,
        }[self.op]


@dataclass(frozen=True, slots=True)
class Track:
    """A parsed ``track``: a tag to follow, or bounds every chosen version must satisfy."""

    text: str
    tag: str | None = None
    bounds: tuple[_Bound, ...] = ()

    @property
    def is_range(self) -> bool:
        return self.tag is None

    def accepts(self, version: Version) -> bool:
        return all(b.accepts(version) for b in self.bounds)

    def pick(self, tags: Iterable[str]) -> str | None:
        """The tag of the highest accepted release among ``tags`` (None if none is)."""
        best: tuple[Version, str] | None = None
        for tag in tags:
            version = tag_version(tag)
            if version is None or not self.accepts(version):
                continue
            if best is None or version > best[0] or (version == best[0] and tag < best[1]):
                best = (version, tag)
        return best[1] if best else None


def tag_version(tag: str) -> Version | None:
    """``1.4.2`` or ``v1.4.2`` as a version; None for anything else (pre-releases included)."""
    m = _TAG_VERSION_RE.match(tag)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _is_range(text: str) -> bool:
    if text.startswith(_OPERATORS) or " " in text or "," in text:
        return True
    return bool(_COMPARATOR_RE.match(text)) and any(
        p in ("x", "X", "*") for p in text.lstrip("v").split(".")
    )


def _wild(part: str | None) -> bool:
    return part is None or part in ("x", "X", "*")


def _bounds(text: str, comparator: str) -> list[_Bound]:
    m = _COMPARATOR_RE.match(comparator)
    if not m:
        raise TrackError(f"track {text!r}: {comparator!r} is not a version comparator")
    op, parts = m[1] or "", [m[2], m[3], m[4]]
    given = 0
    for p in parts:
        if _wild(p):
            break
        given += 1
    if any(not _wild(p) for p in parts[given:]):
        raise TrackError(f"track {text!r}: {comparator!r} has a number after a wildcard")
    nums = [int(p) if i < given and p is not None else 0 for i, p in enumerate(parts)]
    low: Version = (nums[0], nums[1], nums[2])

    def bump(index: int) -> Version:
        out = [*nums[:index], nums[index] + 1, *([0] * (2 - index))]
        return (out[0], out[1], out[2])

    if op in ("", "=") and given < 3:  # 1.x, 1.4.*, =1.4: a wildcard range
        if given == 0:
            return []
        return [_Bound(">=", low), _Bound("<", bump(given - 1))]
    if op == "^":
        first = next((i for i, n in enumerate(nums[:given]) if n != 0), max(given - 1, 0))
        return [_Bound(">=", low), _Bound("<", bump(first))]
    if op == "~":
        return [_Bound(">=", low), _Bound("<", bump(1 if given >= 2 else 0))]
    if given < 3 and op in (">", "<="):  # >1.4 means above every 1.4.x; <=1.4 includes them
        upper = bump(given - 1) if given else (0, 0, 0)
        return [_Bound(">=" if op == ">" else "<", upper)]
    return [_Bound(op or "=", low)]


def parse_track(text: str) -> Track:
    """Parse a ``track`` value. Raises TrackError for an empty value, ``||`` or bad syntax."""
    text = text.strip()
    if not text:
        raise TrackError("track is empty: write a tag (stable) or a semver range (^1.4)")
    if "||" in text:
        raise TrackError(f"track {text!r}: '||' alternatives are not supported")
    if not _is_range(text):
        if not re.match(r"^[\w][\w.-]{0,127}$", text):
            raise TrackError(f"track {text!r} is not a tag name or a semver range")
        return Track(text, tag=text)
    bounds: list[_Bound] = []
    for comparator in re.split(r"[\s,]+", text):
        if comparator:
            bounds.extend(_bounds(text, comparator))
    return Track(text, bounds=tuple(bounds))
