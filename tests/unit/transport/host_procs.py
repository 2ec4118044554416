"""Finding the processes a test started on this machine, by a tag in their command line."""

from __future__ import annotations

import secrets
from pathlib import Path


def mark() -> str:
    """A ``sleep`` duration nothing else runs with: the command's name tag."""
    return f"97.{secrets.randbelow(10**6):06d}"


def running(tag: str) -> list[int]:
    """This machine's processes whose command line holds ``tag`` (zombies have none)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if tag.encode() in cmdline:
                found.append(int(entry.name))
    return found
