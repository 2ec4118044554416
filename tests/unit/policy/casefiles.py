"""Case files: a YAML metadata document, then one or more policy documents, in one file.

The policies are written out to separate files with their lines kept where they are in the case
file (the lines before each policy become comments), so an expected ``line:`` is the line a
reader sees in the case file. The metadata document holds ``description``, ``expect`` (every
diagnostic the case must produce, and no other), optionally ``today`` and ``inventory`` (an
inline Ansible-layout inventory; the default is one host in ``checkpoints``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from checkpointctl.errors import Diagnostic

DEFAULT_INVENTORY: dict[str, Any] = {
    "all": {
        "vars": {"region": "eu"},
        "children": {"checkpoints": {"hosts": {"cp-1": {"address": "192.0.2.1"}}}},
    }
}


@dataclass
class Case:
    name: str
    meta: dict[str, Any]
    policies: list[Path]
    inventory: Path


def split_case(case: Path, out: Path) -> Case:
    """Write the case's policies and inventory under ``out``; returns what was written."""
    lines = case.read_text(encoding="utf-8").splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == "---"]
    assert starts, f"{case}: a case needs a metadata document, '---' and a policy"
    meta = yaml.safe_load("".join(lines[: starts[0]])) or {}
    bounds = [*starts, len(lines)]
    policies: list[Path] = []
    for n, (start, end) in enumerate(itertools.pairwise(bounds), 1):
        body = "".join(lines[start + 1 : end])
        path = out / f"policy-{n}.yml"
        path.write_text("#\n" * (start + 1) + body, encoding="utf-8")
        policies.append(path)
    inventory = out / "inventory.yml"
    inventory.write_text(yaml.safe_dump(meta.get("inventory") or DEFAULT_INVENTORY))
    return Case(case.stem, meta, policies, inventory)


def actual(d: Diagnostic) -> dict[str, Any]:
    """The comparable form of a diagnostic."""
    return {
        "rule": d.rule,
        "field": d.field,
        "line": d.location.line if d.location else None,
        "col": d.location.col if d.location else None,
        "severity": d.severity.value,
        "message": d.message,
        "path": d.location.path if d.location else None,
    }


def matches(want: dict[str, Any], got: dict[str, Any]) -> bool:
    """``want`` gives rule, field and line, optionally col, severity and a message fragment."""
    return (
        want.get("rule") == got["rule"]
        and want["field"] == got["field"]
        and want["line"] == got["line"]
        and want.get("col", got["col"]) == got["col"]
        and want.get("severity", "error") == got["severity"]
        and want.get("message", "") in got["message"]
    )
