"""Every lint rule, failing and passing, from case files in ``cases/lint/``.

Each case runs the whole pipeline (``load_desired``: parse, schema, templating, layering, lint,
build) and must produce exactly the diagnostics its ``expect`` lists: a passing case produces
none at all, not even a warning.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from casefiles import actual, matches, split_case

from checkpointctl.inventory import load_inventory
from checkpointctl.policy import load_desired
from checkpointctl.policy.hardening import RULES as HARDENING_RULES
from checkpointctl.policy.lint import RULE_FIELDS, UNWAIVABLE, lint_spec
from checkpointctl.policy.schema import policy_schema

CASES = sorted((Path(__file__).parent / "cases" / "lint").glob("*.yml"))
DEFAULT_TODAY = date(2026, 6, 1)

# every rule lint.py can report, and the waiver schema: each needs a -fail and a -pass case
RULES = (
    "image-digest",
    "image-registry",
    "published-ports",
    "root-user",
    "cap-drop-all",
    "privileged",
    "credential-scope",
    "credential-username",
    "credential-expired",
    "inbound-anywhere",
    "required",
    "reserved-name",
    *HARDENING_RULES,
)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_lint_case(case: Path, tmp_path: Path) -> None:
    c = split_case(case, tmp_path)
    today = c.meta.get("today") or DEFAULT_TODAY
    result = load_desired(
        [str(p) for p in c.policies], load_inventory(str(c.inventory)), today=today
    )
    got = [actual(d) for d in result.diagnostics]
    want = c.meta["expect"]
    unmatched = list(got)
    for w in want:
        hit = next((g for g in unmatched if matches(w, g)), None)
        assert hit is not None, f"expected {w}, got {got}"
        unmatched.remove(hit)
        assert hit["path"] in {str(p) for p in c.policies}
    assert not unmatched, f"unexpected diagnostics: {unmatched}"
    errors = [w for w in want if w.get("severity", "error") == "error"]
    # a host whose policies have errors gets no desired state; warnings do not block it
    assert bool(result.states) == (not errors)


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_has_a_failing_and_a_passing_case(rule: str) -> None:
    stems = {c.stem for c in CASES}
    assert f"{rule}-fail" in stems
    assert f"{rule}-pass" in stems


def test_rule_list_is_complete() -> None:
    """Keep RULES in step with lint.py: every rule id it reports appears here."""
    source = (Path(__file__).parents[3] / "checkpointctl" / "policy" / "lint.py").read_text()
    reported = set(re.findall(r'self\.report\(\s*"([a-z-]+)"', source))
    reported |= set(HARDENING_RULES)  # the hardening module's rules, each with its case files
    assert reported == set(RULES)
    assert set(RULE_FIELDS) == set(RULES)  # the reference names the fields of every rule


def test_a_waiver_names_exactly_the_waivable_rules() -> None:
    """The schema's waiver ``rule`` enum: every rule a waiver can silence, and nothing else (a
    waiver of a rule nobody reports would validate and do nothing)."""
    enum = policy_schema()["$defs"]["waiver"]["properties"]["rule"]["enum"]
    assert sorted(enum) == sorted(set(RULES) - UNWAIVABLE)


def test_lint_of_an_empty_spec_finds_nothing() -> None:
    assert lint_spec({}, lambda _path: None, DEFAULT_TODAY) == []
