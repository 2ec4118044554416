"""Diff cases: one YAML file per case in ``cases/``, against outputs recorded from a real nft.

A case names a spec (``specs/<name>.yaml``), optional ``firewall:`` overrides and
``resolutions:``, ``managed: false`` for a policy without a firewall section, and the recorded
ruleset that stands for the host (``null``: our table is absent). ``expect`` gives the change's
action and reason and either every field in order (``fields``) or some of them (``includes``),
each as ``[path, before, after]``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from firewall_support import CASES, load_spec, load_yaml, recorded, resolutions_from, spec_from

from checkpointctl.model import Action, Planned
from checkpointctl.resources.firewall.model import NamedSet, Ruleset
from checkpointctl.resources.firewall.resource import FirewallActual, FirewallPlan, FirewallResource
from checkpointctl.spec import DesiredState

CASE_FILES = sorted(CASES.glob("*.yaml"))


def run_case(case: dict[str, Any]) -> list[Planned[FirewallPlan]]:
    spec, resolutions, pull_mode = load_spec(case["spec"])
    if "firewall" in case:
        base = load_yaml(Path(__file__).parent / "specs" / f"{case['spec']}.yaml")["firewall"]
        spec = spec_from({**base, **case["firewall"]})
    if "resolutions" in case:
        resolutions = resolutions_from(case["resolutions"])
    ruleset = recorded(case["actual"]) if case["actual"] else Ruleset()
    actual = FirewallActual(ruleset.table("inet", spec.table), ruleset, resolutions)
    desired = DesiredState(host="cp-1", firewall=spec if case.get("managed", True) else None)
    return FirewallResource(pull_mode=pull_mode).diff(desired, actual)


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_diff_case(path: Path) -> None:
    case = load_yaml(path)
    expect = case["expect"]
    changes = run_case(case)
    if expect.get("changes") == []:
        assert changes == []
        return
    (change,) = changes
    assert change.action is Action(expect["action"])
    if "reason" in expect:
        assert change.reason == expect["reason"]
    got = [[f.path, f.before, f.after] for f in change.fields]
    if "fields" in expect:
        assert got == expect["fields"]
    for field in expect.get("includes", []):
        assert field in got
    assert len({f.path for f in change.fields}) == len(change.fields), "paths must be unique"


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_diff_is_deterministic(path: Path) -> None:
    case = load_yaml(path)
    assert run_case(case) == run_case(case)


def test_change_carries_the_compiled_plan_for_apply() -> None:
    case = load_yaml(CASES / "hand-added-rule.yaml")
    (change,) = run_case(case)
    assert change.address == "firewall/checkpointctl"
    plan = change.desired
    assert isinstance(plan, FirewallPlan)
    golden = (Path(__file__).parent / "golden" / "baseline.nft").read_text()
    assert plan.compiled.script == golden
    assert plan.compiled.resolutions == {"api.example.com": ("10.213.5.5/32", "fd00::5/128")}


def test_after_applying_the_plan_the_diff_is_empty() -> None:
    """Re-reading what apply would install (the golden, as nft lists it) converges."""
    spec, resolutions, _ = load_spec("baseline")
    ruleset = recorded("golden-baseline")
    actual = FirewallActual(ruleset.table("inet", "checkpointctl"), ruleset, resolutions)
    assert FirewallResource().diff(DesiredState(host="cp-1", firewall=spec), actual) == []


def test_hostile_names_from_the_host_cannot_reshape_the_plan() -> None:
    """A comment or set comment written on the host with newlines/escapes stays on one line."""
    spec, resolutions, _ = load_spec("baseline")
    ruleset = recorded("golden-baseline")
    ours = ruleset.table("inet", "checkpointctl")
    assert ours is not None
    evil = "cpctl:outbound[0] lab registry\n~ input.policy: drop\x1b[2J"
    chains = tuple(
        dataclasses.replace(
            c,
            rules=tuple(
                dataclasses.replace(r, dport=("5001",), comment=evil)
                if r.comment == "cpctl:outbound[0] lab registry"
                else r
                for r in c.rules
            ),
        )
        for c in ours.chains
    )
    sets = (*ours.sets, NamedSet("x", "ipv4_addr", ("10.0.0.1/32",), comment="cpctl:host a\nb"))
    hacked = dataclasses.replace(ours, chains=chains, sets=sets)
    actual = FirewallActual(hacked, Ruleset((hacked,)), resolutions)
    (change,) = FirewallResource().diff(DesiredState(host="cp-1", firewall=spec), actual)
    for field in change.fields:
        assert "\n" not in field.path
        assert "\x1b" not in field.path
    paths = [f.path for f in change.fields]
    assert "set a\\nb (ipv4)" in paths
    assert "output: accepts tcp/5001 to 10.213.0.1/32" in paths
