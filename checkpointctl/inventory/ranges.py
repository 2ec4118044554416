"""Host entries of an inventory: ``name[:port]`` with ranges, as Ansible expands them.

``cp-[01:20]`` is twenty hosts ``cp-01`` … ``cp-20`` (a leading zero pads every number to
the begin's width, which the end must share); ``[a:f]`` runs over letters (``a``-``z`` then
``A``-``Z``); ``[1:9:2]`` takes a step; several ranges in one name multiply; an empty begin
is 0. A numeric range whose begin is past its end is empty, as in Ansible. ``host:2222``
gives the port; an address with several colons is IPv6 (a port then needs brackets:
``[2001:db8::1]:2222``).
"""

from __future__ import annotations

import re
import string

_BRACKETED_V6 = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$")
_RANGE = re.compile(r"\[([^\[\]]*)\]")


class RangeError(ValueError):
    """A host range that cannot be expanded; the message says why."""


def split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` → (host, port); anything else → (entry, None)."""
    m = _BRACKETED_V6.match(entry)
    if m:
        return m.group(1), int(m.group(2)) if m.group(2) else None
    outside = _RANGE.sub("", entry)
    if outside.count(":") == 1:
        head, _, port = entry.rpartition(":")
        if port.isdigit() and head:
            return head, int(port)
    return entry, None


def expand(pattern: str) -> list[str]:
    """The host names a pattern stands for (the pattern itself when it has no range)."""
    m = _RANGE.search(pattern)
    if m is None or ":" not in m.group(1):
        return [pattern]
    head, body, tail = pattern[: m.start()], m.group(1), pattern[m.end() :]
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise RangeError(f"host range [{body}] must be begin:end or begin:end:step")
    begin, end = bounds[0] or "0", bounds[1]
    if not end:
        raise RangeError(f"host range [{body}] must have an end")
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
    except ValueError:
        raise RangeError(f"host range [{body}]: the step must be a number") from None
    if step <= 0:
        raise RangeError(f"host range [{body}]: the step must be positive")
    width = 0
    if begin[0] == "0" and len(begin) > 1:
        width = len(begin)
        if len(end) != width:
            raise RangeError(f"host range [{body}]: begin and end must have the same width")
    items: list[str]
    letters = string.ascii_letters
    if begin in letters and end in letters and len(begin) == len(end) == 1:
        i, j = letters.index(begin), letters.index(end)
        if i > j:
            raise RangeError(f"host range [{body}]: begin must not be after end")
        items = list(letters[i : j + 1 : step])
    else:
        try:
            numbers = range(int(begin), int(end) + 1, step)
        except ValueError:
            raise RangeError(f"host range [{body}] must be numbers or single letters") from None
        items = [str(n).zfill(width) for n in numbers]
    out: list[str] = []
    for item in items:
        out.extend(expand(head + item + tail))
    return out
