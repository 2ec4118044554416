"""Maintenance windows: ``Mon-Fri 02:00-05:00 Europe/Amsterdam``.

Days are English three-letter names, a range (``Mon-Fri``, ``Fri-Mon`` wraps), a list
(``Sat,Sun``), a mix (``Mon-Wed,Fri``) or ``daily``. The time range is local wall-clock time in
the zone (``zoneinfo``, so summer time is the zone's business, not ours); an end at or before the
start crosses midnight and belongs to the day it starts on (``Fri 22:00-02:00`` is Friday night
into Saturday). Pure: callers pass the instant to judge.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from checkpointctl.errors import Diagnostic, Location

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TEXT_RE = re.compile(r"^(\S+) ([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2}) (\S+)$")


class WindowError(ValueError):
    """A window that does not parse; the message names the part that is wrong."""


@dataclass(frozen=True, slots=True)
class Window:
    """Days of the week (0 = Monday), a local start and end time, and the zone."""

    text: str
    days: frozenset[int]
    start: time
    end: time
    zone: str

    def contains(self, at: datetime) -> bool:
        """Whether the aware instant ``at`` falls inside the window."""
        if at.tzinfo is None:
            raise ValueError("a window judges aware datetimes only")
        from zoneinfo import ZoneInfo

        local = at.astimezone(ZoneInfo(self.zone))
        now = local.time().replace(tzinfo=None)
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        # crosses midnight: the evening of a listed day, or the morning after one
        yesterday = (local - timedelta(days=1)).weekday()
        return (day in self.days and now >= self.start) or (
            yesterday in self.days and now < self.end
        )


def _day(name: str, text: str) -> int:
    try:
        return DAYS.index(name.lower())
    except ValueError:
        raise WindowError(f"{text!r}: {name!r} is not a day (Mon, Tue, … Sun)") from None


def _days(spec: str, text: str) -> frozenset[int]:
    if spec.lower() in ("daily", "*"):
        return frozenset(range(7))
    out: set[int] = set()
    for part in spec.split(","):
        first, dash, last = part.partition("-")
        a = _day(first, text)
        if not dash:
            out.add(a)
            continue
        b = _day(last, text)
        out.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(out)


def _time(hours: str, minutes: str, text: str) -> time:
    h, m = int(hours), int(minutes)
    if h == 24 and m == 0:  # the end of the day
        return time.max
    if h > 23 or m > 59:
        raise WindowError(f"{text!r}: {hours}:{minutes} is not a time of day")
    return time(h, m)


def parse_window(text: str) -> Window:
    """Parse a window; raises WindowError naming the days, time or zone that is wrong."""
    m = _TEXT_RE.match(text.strip())
    if not m:
        raise WindowError(
            f"{text!r} is not a window: write DAYS HH:MM-HH:MM ZONE "
            "(e.g. Mon-Fri 02:00-05:00 Europe/Amsterdam)"
        )
    days = _days(m[1], text)
    start, end = _time(m[2], m[3], text), _time(m[4], m[5], text)
    if start == end:
        raise WindowError(f"{text!r}: the window starts and ends at the same time")
    # imported here: zoneinfo loads sysconfig, and most policies (and every drift) have no window
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(m[6])
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(
            f"{text!r}: {m[6]!r} is not a time zone (e.g. Europe/Amsterdam)"
        ) from None
    return Window(text.strip(), days, start, end, m[6])


def window_problems(
    spec: Mapping[str, Any], where: Callable[[str], Location | None]
) -> list[Diagnostic]:
    """``updates.window`` as lint sees it: an error naming the field when it does not parse."""
    updates = spec.get("updates")
    text = updates.get("window") if isinstance(updates, Mapping) else None
    if not isinstance(text, str):
        return []
    try:
        parse_window(text)
    except WindowError as exc:
        return [Diagnostic(str(exc), where("updates.window"), field="spec.updates.window")]
    return []
