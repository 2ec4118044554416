"""Shared loaders for the firewall unit tests: specs, goldens and recorded nft outputs.

Specs live in ``specs/<name>.yaml`` (a ``firewall:`` mapping with the FirewallSpec fields, plus
``resolutions:`` and ``pull_mode:``), goldens in ``golden/<name>.nft``, and outputs recorded
from a real nft in ``recorded/<name>.json`` (with ``recorded/<name>.txt`` when the text listing
was recorded too). ``record.py`` regenerates the recordings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from checkpointctl.resources.firewall.compile import CompiledFirewall, compile_table
from checkpointctl.resources.firewall.model import Ruleset
from checkpointctl.resources.firewall.parse import parse_ruleset
from checkpointctl.spec import FirewallRule, FirewallSpec

HERE = Path(__file__).parent
SPECS = HERE / "specs"
GOLDEN = HERE / "golden"
RECORDED = HERE / "recorded"
CASES = HERE / "cases"
SPEC_NAMES = sorted(p.stem for p in SPECS.glob("*.yaml"))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def spec_from(data: Mapping[str, Any]) -> FirewallSpec:
    """A FirewallSpec from plain YAML data (lists become tuples, rules FirewallRules)."""
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("inbound", "outbound"):
            fields[key] = tuple(
                FirewallRule(**{k: tuple(v) if isinstance(v, list) else v for k, v in rule.items()})
                for rule in value
            )
        elif isinstance(value, list):
            fields[key] = tuple(str(v) for v in value)
        else:
            fields[key] = value
    return FirewallSpec(**fields)


def resolutions_from(data: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    return {str(k): tuple(str(a) for a in v) for k, v in (data or {}).items()}


def load_spec(name: str) -> tuple[FirewallSpec, dict[str, tuple[str, ...]], bool]:
    doc = load_yaml(SPECS / f"{name}.yaml")
    return (
        spec_from(doc["firewall"]),
        resolutions_from(doc.get("resolutions")),
        bool(doc.get("pull_mode", False)),
    )


def compiled(name: str) -> CompiledFirewall:
    spec, resolutions, pull_mode = load_spec(name)
    return compile_table(spec, resolutions, pull_mode=pull_mode)


def recorded(name: str) -> Ruleset:
    """A ruleset recorded from a real nft (``nft -j list ruleset``, plus text when present)."""
    text = RECORDED / f"{name}.txt"
    listing = text.read_text() if text.exists() else None
    return parse_ruleset((RECORDED / f"{name}.json").read_bytes(), listing)
