"""The end-of-run recap: one line per host with Ansible's counters, for terminals and CI logs.

``ok`` counts the resource kinds handled on the host without failure (changed ones included,
as Ansible counts a changed task as ok too); ``changed`` the changes made (apply) or that would
be made (drift, check); ``failed`` the change whose apply failed, or 1 when the host failed
otherwise; ``unreachable`` 1 for a host that could not be reached; ``skipped`` the changes not
attempted after a failure or a halt, or 1 for a host the rollout never started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from checkpointctl.model import HostResult, HostStatus, RunReport
from checkpointctl.report.display import one_line
from checkpointctl.report.summary import change_outcome

COUNTERS = ("ok", "changed", "failed", "unreachable", "skipped")
"""The recap's counters, in the order each line shows them."""
TITLE = "RECAP"


@dataclass(frozen=True, slots=True)
class Recap:
    """One host's counters (see the module docstring for what each counts)."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0

    def count(self, counter: str) -> int:
        return {
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "skipped": self.skipped,
        }[counter]


def host_recap(report: RunReport, host: HostResult) -> Recap:
    """The counters of ``host`` in ``report``."""
    if host.status is HostStatus.UNREACHABLE:
        return Recap(host.host, unreachable=1)
    if host.status is HostStatus.NOT_ATTEMPTED:
        return Recap(host.host, skipped=max(1, len(host.changes)))
    outcomes = [(c.kind, change_outcome(report, host, c)) for c in host.changes]
    changed = sum(o in ("planned", "applied") for _, o in outcomes)
    failed = sum(o == "failed" for _, o in outcomes)
    skipped = sum(o == "skipped" for _, o in outcomes)
    if host.status is HostStatus.FAILED and not failed:
        return Recap(host.host, changed=changed, failed=1, skipped=skipped)
    kinds = dict.fromkeys([*host.checked, *(kind for kind, _ in outcomes)])
    not_ok = {kind for kind, o in outcomes if o in ("failed", "skipped")}
    ok = sum(kind not in not_ok for kind in kinds)
    return Recap(host.host, ok=ok, changed=changed, failed=failed, skipped=skipped)


def recap(report: RunReport) -> list[Recap]:
    """Every host's counters, in report order."""
    return [host_recap(report, h) for h in report.hosts]


Paint = Callable[[str, str], str]
"""``paint(text, role)``: how a renderer styles a piece of the recap; ``role`` is a counter
name (for a counter above zero, and for a host name: its worst counter above zero)."""


def _plain(text: str, role: str) -> str:
    return text


def _host_role(r: Recap) -> str:
    for role in ("unreachable", "failed", "changed", "skipped"):
        if r.count(role):
            return role
    return "ok"


def recap_lines(report: RunReport, paint: Paint = _plain) -> list[str]:
    """``RECAP`` then ``host : ok=3 changed=1 failed=0 unreachable=0 skipped=0`` per host, the
    names padded to one width so the counters line up; nothing for a report without hosts."""
    rows = recap(report)
    if not rows:
        return []
    width = recap_width(r.host for r in rows)
    return [TITLE, *(recap_line(r, width, paint) for r in rows)]


def recap_width(names: Iterable[str]) -> int:
    """The width the recap pads host names to: the longest name as shown."""
    return max((len(one_line(n)) for n in names), default=0)


def recap_line(r: Recap, width: int, paint: Paint = _plain) -> str:
    """One host's line of the recap, its name padded to ``width``."""
    counters = " ".join(paint(f"{c}={r.count(c)}", c) if r.count(c) else f"{c}=0" for c in COUNTERS)
    name = paint(f"{one_line(r.host):<{width}}", _host_role(r))
    return f"{name} : {counters}"
