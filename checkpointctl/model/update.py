"""What ``checkpointctl update`` found and did, as plain typed data.

``gitops.update`` computes it, ``report.update`` renders it (a line per image for the CI log, a
Markdown summary for the pull request's body), and the exit code follows from the statuses: CI
tells "nothing new" (0), "bumped" (2) and "blocked or broken" (1) apart without reading text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class UpdateStatus(enum.Enum):
    """One tracked image's outcome."""

    CURRENT = "current"
    """The tracked tag (or the newest version in the range) is the pinned digest."""
    BUMPED = "bumped"
    """A newer digest passed the scan gate and was written (with ``--check``: would be)."""
    BLOCKED = "blocked"
    """A newer digest exists but failed the scan gate (or has no scan): nothing written."""
    SKIPPED = "skipped"
    """The image cannot be followed here (templated, no registry path): said why."""
    ERROR = "error"
    """The registry, the manifest or the file could not be read or written."""


class ScanSource(enum.Enum):
    """Where the scan report behind a verdict came from."""

    REPORT_FILE = "report-file"
    """A report already in the repository's scan reports folder (CI's scanner wrote it)."""
    TRIVY = "trivy"
    GRYPE = "grype"
    NONE = "none"
    """No report and no scanner installed: the gate refuses."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The scan gate's answer for the candidate digest."""

    ok: bool
    reason: str
    source: ScanSource
    report: str
    """The report file's path (where it was read, or where the scanner's output was saved)."""


@dataclass(frozen=True, slots=True)
class LocationHosts:
    """The hosts of one location that run the image (``location`` from the inventory)."""

    location: str
    hosts: tuple[str, ...]
    min_healthy: int = 1


@dataclass(frozen=True, slots=True)
class Rollout:
    """How a merged bump reaches hosts: the policy's update settings and the hosts by location."""

    strategy: str
    window: str | None
    health_timeout: float
    locations: tuple[LocationHosts, ...] = ()

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(h for loc in self.locations for h in loc.hosts)


@dataclass(frozen=True, slots=True)
class UpdateItem:
    """One tracked image: where it is written, what it follows, and what happened."""

    path: str
    line: int
    col: int
    container: str
    track: str
    status: UpdateStatus
    current: str
    """The image as written in the policy."""
    candidate: str | None = None
    """The image as it would be written (None when nothing newer or nothing resolvable)."""
    candidate_tag: str | None = None
    manifest_type: str | None = None
    manifest_size: int | None = None
    verdict: Verdict | None = None
    rollout: Rollout | None = None
    message: str = ""

    @property
    def field(self) -> str:
        return f"spec.containers.{self.container}.image"

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    @property
    def verdict_reason(self) -> str:
        return self.verdict.reason if self.verdict else "not scanned"


@dataclass(frozen=True, slots=True)
class UpdateReport:
    """Every tracked image under the paths, the files rewritten, and unreadable files."""

    check: bool
    items: tuple[UpdateItem, ...] = ()
    written: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)

    def count(self, status: UpdateStatus) -> int:
        return sum(1 for i in self.items if i.status is status)

    @property
    def exit_code(self) -> int:
        """DESIGN.md's contract: 1 blocked or error (wins), 2 bumped, 0 nothing new."""
        if self.problems or self.count(UpdateStatus.ERROR) or self.count(UpdateStatus.BLOCKED):
            return 1
        if self.count(UpdateStatus.BUMPED):
            return 2
        return 0
