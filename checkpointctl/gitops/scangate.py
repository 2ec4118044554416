"""The scan gate's verdicts, computed on the controller from the policy repository's reports.

Reports live in the policy repository (``<repo>/<scan.reports>/<digest hex>.json``, the repo
being the parent of the first policy folder), so verdicts are computed here, where the
repository is, and travel with the desired state to ``apply`` and into signed bundles (a host
in pull mode has no repository to read them from).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from checkpointctl.errors import CheckpointctlError
from checkpointctl.model import JSONValue
from checkpointctl.policy.loader import LoadResult
from checkpointctl.resources.containers.images import gate_verdict
from checkpointctl.spec import ScanGate


def attach_scan_verdicts(result: LoadResult, paths: Sequence[str]) -> None:
    """Give each host's desired state the scan-gate verdict of every image it runs.

    Raises:
        CheckpointctlError: a report exists but cannot be read or parsed.
    """
    first = Path(paths[0]).resolve()
    repo = first.parent if first.is_dir() else first.parent.parent
    today = date.today()
    cache: dict[tuple[ScanGate, str], tuple[bool, str]] = {}
    for name, state in list(result.states.items()):
        gate = state.registries.scan
        if not gate.required or not state.containers:
            continue
        verdicts: dict[str, tuple[bool, str]] = {}
        for container in state.containers:
            digest = container.image.digest
            key = (gate, digest)
            if key not in cache:
                report_path = repo / gate.reports / f"{digest.removeprefix('sha256:')}.json"
                report: JSONValue = None
                if report_path.is_file():
                    try:
                        report = json.loads(report_path.read_text())
                    except (OSError, ValueError) as exc:
                        raise CheckpointctlError(
                            f"{report_path}: unreadable scan report: {exc}"
                        ) from None
                verdict = gate_verdict(gate, digest, report, today)
                cache[key] = (verdict.ok, verdict.reason)
            verdicts[digest] = cache[key]
        result.states[name] = dataclasses.replace(state, scan_verdicts=verdicts)
