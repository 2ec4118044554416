"""How one value or one line of free text looks to a person, in every human format.

Values in a report come from hosts and policies, so they may hold anything: newlines, terminal
escape sequences, bidi overrides, characters XML cannot carry, or kilobytes of text. Every human
renderer (text, JUnit, Markdown) passes them through here first, so each renderer only has to
add its own syntax escaping on top of text that is already one printable line. Secrets become
``<sensitive>`` here by type, wherever they sit inside a value.
"""

from __future__ import annotations

import json
import unicodedata

from checkpointctl.model import REDACTED, FieldChange, Secret

MAX_VALUE_CHARS = 60
"""Longer displayed values are cut in the middle; the JSON format always carries them whole."""

ELLIPSIS = "…"
ARROW = "→"

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Cc: control characters (incl. ESC, NUL, DEL, C1); Cf: invisible format characters (bidi
# overrides, zero-width); Cs: lone surrogates; Zl/Zp: line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escape_char(char: str) -> str:
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    code = ord(char)
    # U+FFFE/U+FFFF (and their plane twins) are noncharacters that XML 1.0 refuses.
    return unicodedata.category(char) in _UNSAFE_CATEGORIES or (code & 0xFFFE) == 0xFFFE


def one_line(text: str) -> str:
    """``text`` as a single printable line: control and invisible characters become escapes.

    The result is safe to put on a terminal (no escape sequences), into XML 1.0 (no illegal
    characters) and into a Markdown table cell (no line breaks); it is not syntax-escaped.
    """
    if text.isprintable():  # fast path: nothing to escape
        return text
    return "".join(_escape_char(c) if _unsafe(c) else c for c in text)


def shorten(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut in the middle to at most ``limit`` characters, marking the cut with ``…``.

    The middle goes because both ends carry meaning: a digest's algorithm and its last hex
    digits, a path's root and its file name.
    """
    if len(text) <= limit:
        return text
    keep = limit - len(ELLIPSIS)
    head = (keep + 1) // 2
    tail = keep - head
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


def _redact(obj: object) -> str:
    if isinstance(obj, Secret):
        return REDACTED
    raise TypeError(f"cannot display a value of type {type(obj).__name__}")


def _bare(value: str) -> bool:
    """Whether a string can be shown without quotes and still not be mistaken for another value."""
    if not value or value != value.strip() or value == REDACTED or ARROW in value:
        return False
    if value in ("true", "false", "null") or value[0] in '"[{':
        return False
    try:
        float(value)
    except ValueError:
        return one_line(value) == value
    return False  # "60" must not look like the number 60


def format_value(value: object, *, limit: int = MAX_VALUE_CHARS) -> str:
    """A field value as people read it: bare strings, JSON for everything else, secrets redacted.

    Strings that would be ambiguous bare (empty, numeric-looking, padded, holding escapes) are
    shown JSON-quoted. The result is one line of at most ``limit`` characters.

    Raises:
        TypeError: ``value`` holds something that is neither JSON data nor a :class:`Secret`.
    """
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, str) and _bare(value):
        text = value
    else:
        text = json.dumps(
            value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=_redact
        )
    return shorten(one_line(text), limit)


def field_symbol(change: FieldChange) -> str:
    """``+`` for a field only desired, ``-`` for one only actual, ``~`` for one that differs."""
    if change.before is None and change.after is not None:
        return "+"
    if change.after is None and change.before is not None:
        return "-"
    return "~"


def field_text(change: FieldChange) -> str:
    """``path: before → after``, or just the side that exists for an added or removed field."""
    symbol = field_symbol(change)
    path = one_line(change.path)
    if symbol == "+":
        return f"{path}: {format_value(change.after)}"
    if symbol == "-":
        return f"{path}: {format_value(change.before)}"
    return f"{path}: {format_value(change.before)} {ARROW} {format_value(change.after)}"
