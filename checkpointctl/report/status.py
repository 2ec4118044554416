"""``status`` for people: one table row per host, then each host's problems and warnings.

Pure functions of the :class:`~checkpointctl.engine.status.HostHealth` list: :func:`status_rows`
builds the cells (plain text, one line per container inside the containers cell) and
:func:`render_table` lays them out with rich, in colour only when asked (the CLI asks on a TTY).
Values come from hosts, so every cell goes through the report's ``one_line`` first: no terminal
escape sequence from a host reaches the operator's terminal.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from checkpointctl.model.health import ContainerStatus, HostHealth, RunRecord
from checkpointctl.model.locations import LocationHealth
from checkpointctl.report.display import one_line, shorten

COLUMNS = (
    "host",
    "health",
    "docker",
    "containers",
    "firewall",
    "credentials",
    "last apply",
    "agent",
    "security updates",
    "disk /",
)


def _container(c: ContainerStatus) -> str:
    parts = [c.state]
    if c.health:
        parts.append(c.health)
    if c.restarts:
        parts.append(f"{c.restarts} restarts")
    if c.digest_ok is True:
        parts.append("digest ok")
    elif c.digest_ok is False:
        parts.append("digest differs")
    if not c.wanted:
        parts.append("not in policy")
    return f"{c.name}: {', '.join(parts)}"


def _run(r: RunRecord | None) -> str:
    if r is None:
        return "never"
    return f"{r.result} {r.time}"


def status_rows(hosts: Sequence[HostHealth]) -> list[list[str]]:
    """The table's cells, in :data:`COLUMNS` order, as plain one-line (or multi-line) text."""
    rows = []
    for h in hosts:
        if not h.reachable:
            rows.append([h.host, "unreachable", *["-"] * (len(COLUMNS) - 2)])
            continue
        disk = "-" if h.disk is None else f"{h.disk.used_pct}% used"
        updates = "unknown" if h.security_updates is None else str(h.security_updates)
        cells = [
            h.host,
            "healthy" if h.healthy else "UNHEALTHY",
            h.docker or "-",
            "\n".join(_container(c) for c in h.containers) or "-",
            shorten(h.firewall, 40),
            "\n".join(h.credentials) or "-",
            _run(h.last_apply),
            _run(h.agent) if h.agent else "-",
            updates,
            disk,
        ]
        rows.append(["\n".join(one_line(part) for part in c.split("\n")) for c in cells])
    return rows


def _notes(hosts: Sequence[HostHealth]) -> list[str]:
    lines = []
    for h in hosts:
        lines += [f"{one_line(h.host)}: problem: {one_line(p)}" for p in h.problems]
        lines += [f"{one_line(h.host)}: warning: {one_line(w)}" for w in h.warnings]
    return lines


def summary(hosts: Sequence[HostHealth]) -> str:
    bad = sum(not h.healthy for h in hosts)
    if not bad:
        return f"All {len(hosts)} hosts healthy."
    return f"{bad} of {len(hosts)} hosts unhealthy."


def render_table(hosts: Sequence[HostHealth], *, color: bool = False, width: int = 160) -> str:
    """The status table, the per-host problems and warnings, and a summary line."""
    table = Table(*COLUMNS, show_lines=True)
    for row, h in zip(status_rows(hosts), hosts, strict=True):
        style = None if not color else ("green" if h.healthy else "red")
        table.add_row(*(Text(cell) for cell in row), style=style)
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
    )
    console.print(table)
    for line in _notes(hosts):
        console.print(Text(line))
    console.print(Text(summary(hosts)))
    return buffer.getvalue()


def render_locations(locations: Sequence[LocationHealth]) -> str:
    """Health per location, one line each: ``location ams: 1 of 2 healthy (minimum 1): ok``."""
    lines = []
    for loc in locations:
        verdict = "ok" if loc.ok else "BELOW MINIMUM"
        down = [h for h in loc.hosts if h not in loc.healthy]
        detail = f"; not healthy: {', '.join(one_line(h) for h in down)}" if down else ""
        lines.append(
            f"location {one_line(loc.location)}: {len(loc.healthy)} of {len(loc.hosts)} healthy "
            f"(minimum {loc.min_healthy}): {verdict}{detail}"
        )
    return "\n".join(lines) + ("\n" if lines else "")


__all__ = ["COLUMNS", "render_locations", "render_table", "status_rows", "summary"]
