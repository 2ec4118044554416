"""A scan report for a candidate digest, and the policy's scan gate on it.

Reports live where ``validate``/``apply`` look for them: ``<repo>/<registries.scan.reports>/
<digest hex>.json``. A report already there (written by CI's own scanner step) is used as is.
Otherwise the first scanner installed on the controller runs (Trivy, then Grype) on
``repo@sha256:…`` and its JSON is saved at that path, so the pull request carries the report
that cleared the digest and the apply-time gate reads the same file. With neither, there is
no report and the gate refuses: an unscanned digest is never written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from checkpointctl.model import JSONValue
from checkpointctl.model.update import ScanSource, Verdict
from checkpointctl.resources.containers.images import gate_verdict
from checkpointctl.spec import ScanGate

SCAN_TIMEOUT = 900.0
"""A first Trivy run downloads its vulnerability database; later runs take seconds."""

_SCANNERS: tuple[tuple[ScanSource, str], ...] = (
    (ScanSource.TRIVY, "trivy"),
    (ScanSource.GRYPE, "grype"),
)


class ScanError(Exception):
    """A report exists but cannot be read, or a scanner ran and failed."""


@dataclass(frozen=True, slots=True)
class ScanReport:
    """The parsed report (None when there is none) and where it is or was saved."""

    data: JSONValue
    source: ScanSource
    path: Path


def repo_root(paths: list[str]) -> Path:
    """The policy repository: the parent of the first policy folder (or of a file's folder),
    as ``validate`` and ``apply`` take it when they read scan reports."""
    first = Path(paths[0]).resolve()
    return first.parent if first.is_dir() else first.parent.parent


def report_path(repo: Path, gate: ScanGate, digest: str) -> Path:
    return repo / gate.reports / f"{digest.removeprefix('sha256:')}.json"


def _scanner_argv(source: ScanSource, exe: str, reference: str) -> list[str]:
    if source is ScanSource.TRIVY:
        return [exe, "image", "--quiet", "--format", "json", reference]
    return [exe, reference, "--output", "json", "--quiet"]


def _save(path: Path, data: JSONValue) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def obtain_report(path: Path, reference: str, *, scanners: bool = True) -> ScanReport:
    """The report at ``path``, or a fresh one from an installed scanner (saved at ``path``).

    Raises:
        ScanError: the file is not JSON, or the scanner failed or printed no JSON.
    """
    if path.is_file():
        try:
            return ScanReport(json.loads(path.read_text()), ScanSource.REPORT_FILE, path)
        except (OSError, ValueError) as exc:
            raise ScanError(f"{path}: unreadable scan report: {exc}") from None
    for source, name in _SCANNERS if scanners else ():
        exe = shutil.which(name)
        if exe is None:
            continue
        try:
            proc = subprocess.run(
                _scanner_argv(source, exe, reference),
                capture_output=True,
                text=True,
                timeout=SCAN_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ScanError(f"{name} on {reference}: {exc}") from None
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            raise ScanError(f"{name} on {reference} failed: {tail[0]}")
        try:
            data: JSONValue = json.loads(proc.stdout)
        except ValueError:
            raise ScanError(f"{name} on {reference} printed no JSON") from None
        _save(path, data)
        return ScanReport(data, source, path)
    return ScanReport(None, ScanSource.NONE, path)


def judge(gate: ScanGate, digest: str, report: ScanReport, today: date) -> Verdict:
    """The policy's gate (threshold and allow-list) on ``report``, as the update's verdict.

    The gate applies whether or not ``registries.scan.required`` is set: ``update`` writes a
    digest nobody has reviewed, so it never writes one without a passing scan.
    """
    if report.data is None:
        return Verdict(
            False,
            f"no scan report: put one at {report.path} or install trivy or grype",
            report.source,
            str(report.path),
        )
    verdict = gate_verdict(gate, digest, report.data, today)
    return Verdict(verdict.ok, verdict.reason, report.source, str(report.path))
