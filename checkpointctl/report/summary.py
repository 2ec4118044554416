"""The words every human format shares: the fleet summary, host headlines, change headlines.

Text, JUnit and Markdown describe the same facts; keeping the sentences here means a CI log, a
JUnit viewer and a PR comment never disagree about what happened. All functions are pure and
return one plain line (no colour, no markup); renderers add their own styling and escaping.
"""

from __future__ import annotations

from typing import Literal

from checkpointctl.model import Action, Change, HostResult, HostStatus, RunReport
from checkpointctl.report.display import one_line

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


def summary_line(report: RunReport) -> str:
    """One line for the whole fleet, e.g. for progress output or the end of the text report.

    ``Plan: 1 to create, 2 to update, 0 to replace, 0 to delete on 2 of 5 hosts.`` for drift
    and check, ``Applied: 1 created, ...`` for apply; then the counts of unreachable, failed and
    not-attempted hosts and ``halted: <reason>`` when there are any.
    """
    totals = dict.fromkeys(_COUNTED, 0)
    touched = 0
    for host in report.hosts:
        counted = _counted_changes(report, host)
        touched += bool(counted)
        for change in counted:
            totals[change.action.name_in_report] += 1
    if report.mode == "apply":
        label, words = "Applied", _APPLIED_WORDS
    else:
        label, words = "Plan", _PLAN_WORDS
    actions = ", ".join(f"{totals[a]} {words[a]}" for a in _COUNTED)
    parts = [f"{label}: {actions} on {touched} of {len(report.hosts)} hosts"]
    counts = report.counts()
    problems = [f"{counts[s.value]} {word}" for s, word in _HOST_PROBLEMS if counts.get(s.value)]
    if problems:
        parts.append(", ".join(problems))
    if report.halted:
        parts.append(f"halted: {one_line(report.halted).rstrip('.')}")
    return "; ".join(parts) + "."


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
