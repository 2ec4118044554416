"""Pull hosts as ``status --from`` sees them: each host's last signed report, and what is wrong
with it. The engine fills these in (``engine.pullstatus``), ``report.pullstatus`` renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from checkpointctl.model import JSONValue


class ReportFlag(StrEnum):
    """Why a pull host's report is not good news."""

    MISSING = "missing"
    """No report could be read for the host."""
    BAD_SIGNATURE = "bad-signature"
    """The report does not verify with the host's ``agent_report_key`` (or none is listed)."""
    STALE = "stale"
    """The report is older than three of the agent's intervals: the agent has stopped."""
    OLD_SERIAL = "old-serial"
    """The host runs an older bundle serial than the newest any host reports."""
    UNHEALTHY = "unhealthy"
    """The agent's own run did not end converged or in sync (refused, failed, error)."""


@dataclass(frozen=True, slots=True)
class PullHostHealth:
    """One pull host: what its last report says (None where nothing could be believed)."""

    host: str
    flags: tuple[ReportFlag, ...]
    result: str | None = None
    serial: int | None = None
    age_seconds: float | None = None
    detail: str = ""

    @property
    def healthy(self) -> bool:
        return not self.flags


def pull_health_json(h: PullHostHealth) -> dict[str, JSONValue]:
    """The JSON form of one pull host, beside the push hosts in ``status --format json``."""
    return {
        "host": h.host,
        "healthy": h.healthy,
        "flags": [f.value for f in h.flags],
        "result": h.result,
        "serial": h.serial,
        "age_seconds": None if h.age_seconds is None else round(h.age_seconds, 1),
        "detail": h.detail,
    }
