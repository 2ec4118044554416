"""``spec.exceptions``: known differences a policy accepts on its hosts until a date.

An exception names a resource address (``container/probe``, ``firewall/checkpointctl``) and a
field path as drift reports them (both may be globs), why, who answers for it, and the last day
it holds. Until then drift shows the difference as accepted (never hidden); after it, the
difference is drift again, classed ``expired-exception``. Exceptions from every policy that
selects a host accumulate (see :mod:`layering`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from checkpointctl.errors import Location
from checkpointctl.model.provenance import ExceptionNote


def build_exceptions(
    spec: Mapping[str, Any], sources: Mapping[str, Location]
) -> tuple[ExceptionNote, ...]:
    """The host's exceptions (the schema has checked their shape), each with its line."""
    out: list[ExceptionNote] = []
    for i, e in enumerate(spec.get("exceptions") or ()):
        where = sources.get(f"exceptions[{i}]") or sources.get(f"exceptions[{i}].resource")
        out.append(
            ExceptionNote(
                resource=str(e["resource"]),
                field=str(e.get("field") or "*"),
                reason=str(e["reason"]),
                owner=str(e["owner"]),
                expires=date.fromisoformat(str(e["expires"])),
                source=str(where) if where else "",
            )
        )
    return tuple(out)
