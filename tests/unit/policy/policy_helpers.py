"""Small helpers for tests that write policies and inventories inline."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from checkpointctl.errors import Diagnostic
from checkpointctl.inventory import Inventory, load_inventory
from checkpointctl.policy import LoadResult, load_desired

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.example.com/checkpoint/probe@{DIGEST}"
TODAY = date(2026, 6, 1)

HEADER = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
"""

ONE_HOST: dict[str, Any] = {
    "all": {
        "vars": {"region": "eu"},
        "children": {"checkpoints": {"hosts": {"cp-1": {"address": "192.0.2.1"}}}},
    }
}


def write(path: Path, text: str) -> Path:
    """Write dedented ``text`` to ``path`` (creating folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def policy(path: Path, body: str) -> Path:
    """Write a policy: the apiVersion/kind header, then dedented ``body`` (from line 3)."""
    return write(path, HEADER + textwrap.dedent(body))


def inventory(tmp: Path, data: dict[str, Any] | None = None, name: str = "inv.yml") -> Inventory:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data or ONE_HOST), encoding="utf-8")
    return load_inventory(str(path))


def load(paths: Sequence[Path], inv: Inventory) -> LoadResult:
    return load_desired([str(p) for p in paths], inv, today=TODAY)


def errors(result: LoadResult) -> list[str]:
    return [str(d) for d in result.errors]


def only(diags: Sequence[Diagnostic]) -> Diagnostic:
    assert len(diags) == 1, [str(d) for d in diags]
    return diags[0]
