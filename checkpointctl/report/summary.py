"""The words every human format shares: the fleet summary, host headlines, change headlines.

Text, JUnit and Markdown describe the same facts; keeping the sentences here means a CI log, a
JUnit viewer and a PR comment never disagree about what happened. All functions are pure and
return one plain line (no colour, no markup); renderers add their own styling and escaping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from checkpointctl.model import Action, Change, HostResult, HostStatus, RunMode, RunReport
from checkpointctl.model.provenance import DriftOrigin
from checkpointctl.report.display import one_line
from checkpointctl.report.provenance import origin_text_of

Outcome = Literal["planned", "applied", "failed", "skipped"]

_COUNTED = ("create", "update", "replace", "delete")
"""Actions as reports name them (:attr:`Action.name_in_report`): both replacements count as
``replace``."""
_PLAN_WORDS = {
    "create": "to create",
    "update": "to update",
    "replace": "to replace",
    "delete": "to delete",
}
_APPLIED_WORDS = {
    "create": "created",
    "update": "updated",
    "replace": "replaced",
    "delete": "deleted",
}
_HOST_PROBLEMS = (
    (HostStatus.UNREACHABLE, "unreachable"),
    (HostStatus.FAILED, "failed"),
    (HostStatus.NOT_ATTEMPTED, "not attempted"),
)


def plural(count: int, noun: str) -> str:
    """``1 change`` / ``2 changes``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def change_outcome(report: RunReport, host: HostResult, change: Change) -> Outcome:
    """What happened to ``change``: only planned (drift, check), or applied, failed or skipped."""
    if report.mode != "apply":
        return "planned"
    if change.address == host.failed:
        return "failed"
    if change.address in host.applied:
        return "applied"
    return "skipped"


def _counted_changes(report: RunReport, host: HostResult) -> list[Change]:
    """The changes the summary counts: all planned ones, or in apply mode the applied ones."""
    return [
        c
        for c in host.changes
        if c.action.name_in_report in _COUNTED
        and (report.mode != "apply" or change_outcome(report, host, c) == "applied")
    ]


@dataclass
class Tally:
    """What the fleet summary and the exit code need of a run, folded host by host: a report
    streamed as its hosts finish keeps this, not the hosts (:mod:`checkpointctl.report.stream`).
    """

    mode: RunMode
    fail_on: frozenset[DriftOrigin] | None = None
    hosts: int = 0
    touched: int = 0
    seconds: float = 0.0
    """The hosts' seconds summed in report order (JUnit's total time)."""
    actions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTED, 0))
    statuses: dict[str, int] = field(default_factory=dict)
    """Hosts per status, in the order statuses were first seen (``RunReport.counts``)."""
    origins: dict[DriftOrigin, int] = field(default_factory=lambda: dict.fromkeys(DriftOrigin, 0))
    accepted: int = 0
    worst: int = 0
    """The hosts' exit code so far (1 beats 2 beats 0), before a halt is counted."""

    def add(self, host: HostResult) -> None:
        """Count one more host (in report order)."""
        alone = RunReport(mode=self.mode, hosts=(host,), fail_on=self.fail_on)
        counted = _counted_changes(alone, host)
        self.hosts += 1
        self.touched += bool(counted)
        self.seconds += host.seconds
        for change in counted:
            self.actions[change.action.name_in_report] += 1
        self.statuses[host.status.value] = self.statuses.get(host.status.value, 0) + 1
        for change in host.changes:
            if change.origin is not None:
                self.origins[change.origin] += 1
        self.accepted += len(host.accepted)
        code = alone.exit_code
        self.worst = 1 if 1 in (code, self.worst) else max(code, self.worst)

    def exit_code(self, halted: str | None = None) -> int:
        """``RunReport.exit_code`` of the hosts counted so far."""
        return 1 if halted else self.worst

    def line(self, halted: str | None = None) -> str:
        """:func:`summary_line` of the hosts counted so far."""
        if self.mode == "apply":
            label, words = "Applied", _APPLIED_WORDS
        else:
            label, words = "Plan", _PLAN_WORDS
        actions = ", ".join(f"{self.actions[a]} {words[a]}" for a in _COUNTED)
        parts = [f"{label}: {actions} on {self.touched} of {self.hosts} hosts"]
        counts = self.statuses
        problems = [
            f"{counts[s.value]} {word}" for s, word in _HOST_PROBLEMS if counts.get(s.value)
        ]
        if problems:
            parts.append(", ".join(problems))
        if halted:
            parts.append(f"halted: {one_line(halted).rstrip('.')}")
        origins = origin_text_of(self.origins, self.accepted)
        if origins:
            parts.append(origins)
        return "; ".join(parts) + "."

    @classmethod
    def of(cls, report: RunReport) -> Tally:
        """The tally of a whole report."""
        tally = cls(report.mode, report.fail_on)
        for host in report.hosts:
            tally.add(host)
        return tally


def summary_line(report: RunReport) -> str:
    """One line for the whole fleet, e.g. for progress output or the end of the text report.

    ``Plan: 1 to create, 2 to update, 0 to replace, 0 to delete on 2 of 5 hosts.`` for drift
    and check, ``Applied: 1 created, ...`` for apply; then the counts of unreachable, failed and
    not-attempted hosts and ``halted: <reason>`` when there are any.
    """
    return Tally.of(report).line(report.halted)


def host_headline(report: RunReport, host: HostResult) -> str:
    """The first line about a host: its problem, ``No changes. cp-1 is in sync.``, or a count."""
    name = one_line(host.host)
    error = f": {one_line(host.error)}" if host.error else ""
    if host.status is HostStatus.UNREACHABLE:
        return f"{name}: unreachable{error}"
    if host.status is HostStatus.FAILED:
        return f"{name}: failed{error}"
    if host.status is HostStatus.NOT_ATTEMPTED:
        return f"{name}: not attempted{error}"
    if not host.changes:
        return f"No changes. {name} is in sync."
    total = len(host.changes)
    if report.mode != "apply":
        return f"{name}: {plural(total, 'change')}"
    applied = sum(change_outcome(report, host, c) == "applied" for c in host.changes)
    if applied == total:
        return f"{name}: {plural(total, 'change')} applied"
    return f"{name}: {applied} of {plural(total, 'change')} applied"


def _planned_phrase(mode: str, action: Action) -> str:
    if mode == "check":  # a preview of apply: Terraform's plan wording
        return f"will be {action.verb}"
    if action is Action.UPDATE or action.is_replace:  # drift: the host moved away from the policy
        return f"has drifted and would be {action.verb}"
    return f"would be {action.verb}"


def change_headline(report: RunReport, host: HostResult, change: Change) -> str:
    """``collection/probe has drifted and would be updated in-place (from base.yml:14:9)``.

    The wording follows the mode: drift says what drifted, check says what apply will do, apply
    says what was done, what failed and what was not reached.
    """
    outcome = change_outcome(report, host, change)
    verb = change.action.verb
    phrase = {
        "planned": _planned_phrase(report.mode, change.action),
        "applied": f"was {verb}",
        "failed": f"could not be {verb}",
        "skipped": f"was not {verb} (not attempted)",
    }[outcome]
    source = f" (from {one_line(str(change.source))})" if change.source else ""
    return f"{one_line(change.address)} {phrase}{source}"
