"""The loaders under fuzzing, with the limits the issue sets: no traceback, no input taking over
2 s, and memory bounded: each worker runs with ``RLIMIT_AS`` 200 MB (address space, a stricter
bound than resident memory), so an allocation bomb is a MemoryError the worker reports, and the
parent also kills a worker that stops answering.

test_parse_fuzz.py (by the foundation-tests helper) fuzzes the same loaders in-process for
tracebacks; this adds the time and memory bounds, and coverage-guided fuzzing with atheris.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("fuzz_worker.py")
MEMORY_LIMIT = 200 * 1024 * 1024
EXAMPLES = int(os.environ.get("CHECKPOINTCTL_FUZZ_EXAMPLES", "300"))

pytestmark = pytest.mark.slow


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _spawn(mode: str, count: int, budget: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER), mode, str(count)],
        capture_output=True,
        text=True,
        timeout=budget,
        preexec_fn=_limit,
        check=False,
        cwd=WORKER.parent,
    )


def _work(mode: str, count: int, budget: float) -> dict[str, object]:
    proc = _spawn(mode, count, budget)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"worker said nothing (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    report: dict[str, object] = json.loads(lines[-1])
    assert "failure" not in report, report
    assert proc.returncode == 0, proc.stderr[-3000:]
    return report


def test_hypothesis_inputs_stay_under_2_seconds_and_200_mb_without_a_traceback() -> None:
    report = _work("hypothesis", EXAMPLES, budget=300)
    assert report["examples"] == EXAMPLES
    assert isinstance(report["slowest"], float)
    assert report["slowest"] <= 2.0
    print(f"\nhypothesis: {report}")


def test_atheris_coverage_guided_inputs_stay_under_2_seconds_and_200_mb() -> None:
    pytest.importorskip("atheris")
    runs = EXAMPLES * 3
    proc = _spawn("atheris", runs, budget=300)
    failures = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert failures == []
    assert proc.returncode == 0, proc.stderr[-3000:]
    # libFuzzer's own checks were on: -timeout=2 (an input over 2 s is a crash) and
    # -rss_limit_mb=200 (more is an out-of-memory crash); it ran every input we asked for
    assert f"Done {runs} runs" in proc.stderr
    assert "Traceback" not in proc.stderr
    print(f"\natheris: {proc.stderr.strip().splitlines()[-1]}")


def test_the_memory_limit_is_real() -> None:
    """The bound the other tests rely on: a worker that allocates 300 MB is stopped."""
    proc = subprocess.run(
        [sys.executable, "-c", "b = bytearray(300 * 1024 * 1024)"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit,
        check=False,
    )
    assert proc.returncode != 0
    assert "MemoryError" in proc.stderr
