"""Vendor auto-updaters on a host: jobs that pull images behind the policy's back.

Uptrends' installer adds an hourly job (cron on Linux) running ``docker-compose pull``, ``down``
and ``up``; others use Watchtower or a systemd timer. Each replaces the digests pinned in Git with
whatever the registry serves, so the next drift is a replacement nobody reviewed. This resource
only reports them (a finding; it changes nothing): the fix is to remove the job and let the
update pipeline (``checkpointctl update``/``pin``, review, ``apply``) roll images out.

One fixed script (no value from a policy) greps the crontabs and the administrator's systemd
units for an image pull, printing ``<file>:<line>:<text>``; the parse keeps the file and line and
a short, printable excerpt. Compose projects that pull on their own (Watchtower) are found by the
same pattern when a unit or crontab starts them; a Watchtower container started by hand is not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Never

from checkpointctl.errors import ResourceError
from checkpointctl.model import Finding, Host, Planned
from checkpointctl.resources.batched import BatchedResource, ReadPlan
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.batch import Command
from checkpointctl.transport.command import finish

KIND = "updater"
PULL = r"docker(-| )compose([^|;&]*)? pull|docker( image)? pull|watchtower"
"""An extended regular expression for a line that pulls images."""
_SCRIPT = r"""grep -s -H -n -E -e "$1" -- /etc/crontab /etc/cron.d/* /etc/cron.hourly/* \
  /etc/cron.daily/* /var/spool/cron/crontabs/* /etc/systemd/system/*.service \
  /etc/systemd/system/*.timer
exit 0
"""
"""One ``grep`` over every crontab and unit (``-s``: a pattern matching no file is silent),
so a drift pays one process for it, however many files a host has."""
_LINE = re.compile(r"^(/[^:\n]+):(\d+):(.*)$")
EXCERPT = 100


@dataclass(frozen=True, slots=True)
class AutoUpdater:
    """One line of a crontab or unit that pulls images."""

    path: str
    line: int
    excerpt: str

    def describe(self) -> str:
        return f"{self.path}:{self.line} pulls images ({self.excerpt!r})"


def parse_updaters(text: str) -> tuple[AutoUpdater, ...]:
    """The script's output → updaters, in file and line order (unparsable lines skipped)."""
    out: list[AutoUpdater] = []
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if m is None:
            continue
        excerpt = "".join(ch if ch.isprintable() else "?" for ch in m.group(3).strip())
        out.append(AutoUpdater(m.group(1), int(m.group(2)), excerpt[:EXCERPT]))
    return tuple(sorted(out, key=lambda u: (u.path, u.line)))


def read_command() -> Command:
    return Command(("sh", "-c", _SCRIPT, "sh", PULL))


def findings_for(updaters: Sequence[AutoUpdater]) -> list[Finding]:
    return [
        Finding(
            f"{KIND}{u.path}",
            f"auto-updater {u.describe()}: it replaces the image digests pinned in Git; remove "
            "it and roll images out with the update pipeline (checkpointctl update, review, "
            "apply)",
        )
        for u in updaters
    ]


class AutoUpdatersResource(BatchedResource[Never, tuple[AutoUpdater, ...], None]):
    """Reports jobs that pull images on a host; never plans or applies anything."""

    kind: ClassVar[str] = KIND

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[None]:
        return ReadPlan((read_command(),), context=None)

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[None],
        results: Sequence[CommandResult],
    ) -> tuple[AutoUpdater, ...]:
        return parse_updaters(finish(transport.host.name, results[0], check=True).text())

    def diff(self, desired: DesiredState, actual: tuple[AutoUpdater, ...]) -> list[Planned[Never]]:
        return []

    def findings(self, desired: DesiredState, actual: tuple[AutoUpdater, ...]) -> list[Finding]:
        return findings_for(actual)

    def apply(self, transport: Transport, change: Planned[Never]) -> None:
        raise ResourceError(f"{change.address}: auto-updaters are reported, never changed")


__all__ = ["AutoUpdater", "AutoUpdatersResource", "findings_for", "parse_updaters", "read_command"]
