"""Golden files: every case in ``report_cases`` rendered in every format, compared byte for byte.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/report``
and review the diff like code: it is exactly what users and CI scripts will see.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from report_cases import CASES

from checkpointctl.model import RunReport
from checkpointctl.report import render

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

# golden file suffix -> renderer
FORMATS: dict[str, Callable[[RunReport], str]] = {
    "txt": lambda r: render(r, "text"),
    "color.txt": lambda r: render(r, "text", color=True),
    "json": lambda r: render(r, "json"),
    "xml": lambda r: render(r, "junit"),
    "md": lambda r: render(r, "markdown"),
    "html": lambda r: render(r, "html"),
}


@pytest.mark.parametrize("suffix", sorted(FORMATS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_golden(case: str, suffix: str) -> None:
    path = GOLDEN / f"{case}.{suffix}"
    actual = FORMATS[suffix](CASES[case].report)
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    if not path.exists():
        pytest.fail(f"{path} is missing: run UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/report")
    assert actual == path.read_bytes().decode("utf-8")


def test_every_golden_file_belongs_to_a_case() -> None:
    """A renamed or deleted case must not leave a stale golden file behind."""
    expected = {f"{case}.{suffix}" for case in CASES for suffix in FORMATS}
    if UPDATE:
        for stale in {p.name for p in GOLDEN.iterdir()} - expected:
            (GOLDEN / stale).unlink()
    assert {p.name for p in GOLDEN.iterdir()} == expected
