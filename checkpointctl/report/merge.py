"""``report merge``: the reports of a sharded drift (``drift --shard I/N``) as one.

Each CI runner reads its shard and writes a JSON report; the merge is the report one unsharded
run would have written (the hosts of every part, in the order of the parts and of each part's
hosts), so it renders in any format and its exit code is the whole fleet's. Parts that cannot
belong to one run are refused rather than mixed: different modes (``drift`` and ``apply``
answer different questions), or the same host in two parts (a shard given twice, or parts of
two different splits), which would count the host twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from checkpointctl.model import HostResult, RunReport
from checkpointctl.report.fromjson import ReportFileError, SavedReport


@dataclass(frozen=True, slots=True)
class MergedReport:
    """The merged report, and the exit code of the whole.

    ``exit_code`` is the worst of the merged report's own and of every part's as the part
    recorded it (1 before 2 before 0), so a part whose failure this version cannot see in its
    hosts still fails the whole.
    """

    report: RunReport
    exit_code: int


_SEVERITY = {0: 0, 2: 1, 1: 2}
"""Exit codes from best to worst: in sync, drift, error."""


def worst_exit_code(codes: Sequence[int]) -> int:
    """The worst of ``codes`` (1 error > 2 drift > 0 in sync); 0 for none."""
    return max(codes, key=lambda c: _SEVERITY.get(c, 2), default=0)


def merge_reports(parts: Sequence[SavedReport]) -> MergedReport:
    """One report of ``parts`` (at least one).

    Raises:
        ReportFileError: no parts, parts of different modes, or a host in two parts.
    """
    if not parts:
        raise ReportFileError("report merge: no reports given")
    first = parts[0]
    for part in parts[1:]:
        if part.report.mode != first.report.mode:
            raise ReportFileError(
                f"{part.source}: mode: {part.report.mode!r}, but {first.source} is "
                f"{first.report.mode!r}: only reports of one mode can be merged"
            )
    hosts: list[HostResult] = []
    seen: dict[str, str] = {}
    for part in parts:
        for host in part.report.hosts:
            other = seen.get(host.host)
            if other is not None:
                raise ReportFileError(
                    f"{part.source}: host {host.host!r} is also in {other}: the parts overlap "
                    "(the same shard given twice, or shards of different splits)"
                )
            seen[host.host] = part.source
            hosts.append(host)
    halts = [f"{p.source}: {p.report.halted}" for p in parts if p.report.halted]
    report = RunReport(
        mode=first.report.mode,
        hosts=tuple(hosts),
        halted="; ".join(halts) if halts else None,
    )
    return MergedReport(report, worst_exit_code([report.exit_code, *(p.exit_code for p in parts)]))
