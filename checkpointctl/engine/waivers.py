"""A host's waivers as report findings, so every drift and apply report shows them.

A waiver relaxes a hardening rule for a reason a reviewer accepted once; whoever reads a drift
report later (text, JSON, JUnit, Markdown) must still see that the host runs with it, where it
was written and why. ``info`` findings change neither the exit code nor the counts.
"""

from __future__ import annotations

from checkpointctl.model import Finding
from checkpointctl.spec import DesiredState

ADDRESS = "policy/waivers"


def waiver_findings(desired: DesiredState) -> list[Finding]:
    """One ``info`` finding per waiver in the host's merged policies, in policy order."""
    out: list[Finding] = []
    for w in desired.waivers:
        target = "every target" if w.target in ("", "*") else w.target
        where = f" ({w.source})" if w.source else ""
        out.append(Finding(ADDRESS, f"waived: {w.rule} for {target}: {w.reason}{where}", "info"))
    return out


__all__ = ["ADDRESS", "waiver_findings"]
