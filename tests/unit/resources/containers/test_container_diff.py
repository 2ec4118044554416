"""Diff cases as data: one YAML file per case under ``cases/``, over ``docker inspect`` JSON
recorded from the lab (``recorded/``), patched where a case needs a hand-made difference.

A case file has:

* ``desired.containers``: JSON merge patches onto ``cases/_base_spec.yaml`` (the spec the
  recorded ``probe`` container was created from), or ``[]``; optional ``desired.registries``;
* ``actual.containers``: ``{recorded: file, patch: merge-patch}`` items; ``actual.images``:
  recorded image inspect files (default: every ``image-*.json``); ``actual.read_at``;
* ``expect.changes``: address, action and fields (``before``/``after`` as they serialise, so a
  secret is ``<sensitive>``); ``expect.findings`` (default ``[]``): address, message, severity.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from container_cases import CASES, RECORDED, build_spec, merge, recorded

from checkpointctl.model import Action, change_to_json
from checkpointctl.resources.containers.diff import ContainerTarget
from checkpointctl.resources.containers.parse import parse_actual
from checkpointctl.resources.containers.resource import ContainersResource
from checkpointctl.spec import DesiredState, RegistriesSpec, ScanGate, TrustedRegistry

CASE_FILES = sorted(p for p in CASES.glob("*.yaml") if not p.name.startswith("_"))
BASE_SPEC = yaml.safe_load((CASES / "_base_spec.yaml").read_text())
DEFAULT_READ_AT = "2026-11-28T00:00:00+00:00"  # an hour after the recording


def _registries(raw: dict[str, Any] | None) -> RegistriesSpec:
    raw = raw or {"trusted": [{"registry": "10.213.0.1:5000", "prefix": "checkpoint/"}]}
    scan = raw.get("scan") or {}
    return RegistriesSpec(
        trusted=tuple(TrustedRegistry(t["registry"], t.get("prefix", "")) for t in raw["trusted"]),
        scan=ScanGate(required=scan.get("required", False)),
    )


def load_case(path: Path) -> tuple[DesiredState, Any, dict[str, Any]]:
    case = yaml.safe_load(path.read_text())
    desired = DesiredState(
        host="cp-1",
        containers=tuple(
            build_spec(merge(BASE_SPEC, patch)) for patch in case["desired"]["containers"]
        ),
        registries=_registries(case["desired"].get("registries")),
    )
    act = case["actual"]
    containers = [merge(recorded(c["recorded"]), c.get("patch") or {}) for c in act["containers"]]
    image_files = act.get("images") or sorted(p.name for p in RECORDED.glob("image-*.json"))
    images = [recorded(name) for name in image_files]
    read_at = datetime.fromisoformat(act.get("read_at", DEFAULT_READ_AT))
    return desired, parse_actual(containers, images, read_at), case["expect"]


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_diff_case(path: Path) -> None:
    desired, actual, expect = load_case(path)
    resource = ContainersResource()
    changes = resource.diff(desired, actual)
    got = [
        {
            k: v
            for k, v in change_to_json(c.change).items()
            if k in ("address", "action", "replace_order", "fields")
        }
        for c in changes
    ]
    assert got == expect["changes"]
    findings = [
        {"address": f.address, "message": f.message, "severity": f.severity}
        for f in resource.findings(desired, actual)
    ]
    assert findings == expect.get("findings", [])
    for change in changes:  # what apply gets: the typed target, never a dict
        assert isinstance(change.desired, ContainerTarget)
        assert (change.desired.spec is None) == (change.action is Action.DELETE)
    assert resource.diff(desired, actual) == changes  # deterministic


def test_cases_exist() -> None:
    assert len(CASE_FILES) >= 10
