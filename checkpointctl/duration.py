"""Durations as people write them (``500ms``, ``30s``, ``5m``, ``12h``, ``7d``, ``2w``): one
grammar for the whole package.

Each place that takes a duration names a :class:`Grammar` that narrows the one syntax (a number,
then a unit) to what makes sense there: a container health check takes fractions and
milliseconds, ``drift --watch`` a bare number of seconds, a bundle's validity whole days or
weeks. The syntax, the units' values and the error message are the same everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checkpointctl.errors import CheckpointctlError

UNIT_SECONDS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
}
_SYNTAX = re.compile(r"([0-9]+(?:\.[0-9]+)?)([a-z]*)")


class DurationError(CheckpointctlError, ValueError):
    """Text that is not a duration of the grammar asked for (a user error: CheckpointctlError;
    a ValueError for callers that parse values of several kinds)."""


@dataclass(frozen=True, slots=True)
class Grammar:
    """What one place accepts out of the common syntax."""

    units: tuple[str, ...]
    bare_seconds: bool = False
    """A number without a unit is seconds."""
    whole: bool = False
    """Only whole numbers (no ``1.5h``)."""
    positive: bool = False
    """Zero is refused."""
    ignore_case: bool = False
    example: str = "30s"

    def describe(self) -> str:
        number = "a positive" if self.positive else "a"
        number += " whole number" if self.whole else " number"
        units = ", ".join(self.units)
        tail = f"one of {units}" if not self.bare_seconds else f"optionally one of {units}"
        return f"{number} and {tail}, e.g. {self.example}"


POLICY = Grammar(units=("ms", "s", "m", "h"), example="30s")
"""Durations in policies (health checks, timeouts); schemas/policy.v1.json's ``duration``."""
INTERVAL = Grammar(units=("s", "m", "h"), bare_seconds=True, ignore_case=True, example="5m")
"""An interval given on the command line (``drift --watch``)."""
VALIDITY = Grammar(units=("s", "m", "h", "d", "w"), whole=True, positive=True, example="7d")
"""How long a signed document stays valid, or how often the agent runs."""


def parse_seconds(text: str, grammar: Grammar, *, what: str = "duration") -> float:
    """``text`` as a number of seconds under ``grammar``.

    Raises:
        DurationError: the text is not a duration ``grammar`` accepts; the message names
            ``what`` and the grammar.
    """
    raw = text.strip()
    m = _SYNTAX.fullmatch(raw.lower() if grammar.ignore_case else raw)
    unit = m.group(2) if m else ""
    ok = (
        m is not None
        and (unit in grammar.units or (not unit and grammar.bare_seconds))
        and not (grammar.whole and "." in m.group(1))
    )
    if not ok or m is None:
        raise DurationError(f"{what}: {text!r} is not a duration ({grammar.describe()})")
    value = float(m.group(1)) * (UNIT_SECONDS[unit] if unit else 1.0)
    if grammar.positive and value == 0:
        raise DurationError(f"{what}: {text!r} is not a duration ({grammar.describe()})")
    return value
