"""The pull hosts' table of ``status --from``: one line per host from its signed report."""

from __future__ import annotations

from collections.abc import Sequence

from checkpointctl.model.pullhealth import PullHostHealth

HEADER = ("HOST", "MODE", "RESULT", "SERIAL", "AGE", "FLAGS")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def render_pull_table(hosts: Sequence[PullHostHealth]) -> str:
    """Plain columns (stable for pipes), then one line per flagged host saying why."""
    rows = [HEADER] + [
        (
            h.host,
            "pull",
            h.result or "-",
            "-" if h.serial is None else str(h.serial),
            _age(h.age_seconds),
            ",".join(f.value for f in h.flags) or "ok",
        )
        for h in hosts
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [f"{h.host}: {h.detail}" for h in hosts if h.flags and h.detail]
    healthy = sum(h.healthy for h in hosts)
    lines.append(f"{healthy} of {len(hosts)} pull hosts healthy")
    return "\n".join(lines) + "\n"
