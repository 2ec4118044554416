"""Canonical JSON: the one byte form of a signed document.

Signatures cover bytes, so a signed document must have exactly one serialisation: keys sorted,
no insignificant whitespace, ASCII only. Parsing is strict the other way: duplicate keys (which
two parsers could resolve differently) and non-finite numbers are refused.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_bytes", "ordered_bytes", "strict_loads"]


def canonical_bytes(doc: object) -> bytes:
    """The canonical UTF-8 (ASCII) bytes of a JSON-compatible value."""
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def ordered_bytes(doc: object) -> bytes:
    """Compact ASCII JSON that keeps the mapping order it is given.

    For documents whose key order carries meaning (a desired state's ``env``, ``labels`` and
    ``settings`` are ordered pairs) and is itself deterministic; their integrity comes from the
    signed manifest's hash of these exact bytes, not from a re-serialisation.
    """
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode(
        "ascii"
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def strict_loads(data: bytes) -> Any:
    """Parse JSON, refusing duplicate keys, NaN/Infinity and invalid UTF-8.

    Raises:
        ValueError: any of those, or malformed JSON (``json.JSONDecodeError`` is a ValueError).
    """
    text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError too
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
