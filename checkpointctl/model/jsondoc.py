"""Typed, tolerant look-ups in JSON documents other programs wrote.

Docker's API answers, scanners' reports and the records found on hosts are JSON whose shape
varies with the version that wrote it: a part that is absent, null or of another type than
expected means "not set" to the parsers that read them, never a crash. These helpers narrow a
:data:`~checkpointctl.model.JSONValue` to the type a parser wants, with that default, so the
parsers stay typed without a cast (``model.readback`` is the strict counterpart, for our own
documents, where a wrong type is an error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TypeAlias

from checkpointctl.model import JSONValue

JSONObject: TypeAlias = Mapping[str, JSONValue]
"""A JSON object as the parsers read it (never written to)."""

EMPTY: JSONObject = MappingProxyType({})


def as_object(value: JSONValue) -> JSONObject:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else EMPTY


def as_list(value: JSONValue) -> Sequence[JSONValue]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else ()


def as_str(value: JSONValue) -> str | None:
    """``value`` if it is a string, else None."""
    return value if isinstance(value, str) else None


def as_text(value: JSONValue, default: str = "") -> str:
    """A non-empty string or non-zero number as text; anything else (absent, null, "", 0,
    false, an object or array) is ``default``."""
    return str(value) if isinstance(value, str | int | float) and value else default


def as_int(value: JSONValue, default: int = 0) -> int:
    """A number as an int (a fraction truncated); anything else is ``default``."""
    return int(value) if isinstance(value, int | float) else default


def as_strs(value: JSONValue) -> list[str]:
    """The items of a JSON array, each as text (``str``); not an array: none."""
    return [str(item) for item in as_list(value)]


__all__ = [
    "EMPTY",
    "JSONObject",
    "as_int",
    "as_list",
    "as_object",
    "as_str",
    "as_strs",
    "as_text",
]
