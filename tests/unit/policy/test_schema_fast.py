"""The fast schema check never says "valid" where jsonschema finds an error.

:mod:`checkpointctl.policy.schema_fast` lets a document skip jsonschema when it answers True, so
a True there must mean jsonschema reports nothing, before templating (template strings under
``spec`` postponed) and after; its False only costs the jsonschema run. The documents are the
repository's policies, the lint cases and mutations of them: values swapped for tricky ones
(``1.0``, ``True``, templates, lists, dates that do not exist), keys added and removed.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkpointctl.policy.schema import (
    _fast,
    _schema_errors,
    _schema_path,
    _sub_fast,
    _sub_schema,
    _sub_validator,
)
from checkpointctl.yamlsource import Document, PathKey

REPO = Path(__file__).resolve().parents[3]


REPO_POLICIES = [
    d
    for path in sorted((REPO / "policies").glob("*.yml"))
    for d in yaml.safe_load_all(path.read_text())
    if isinstance(d, dict)
]
SEEDS = REPO_POLICIES + [
    d
    for case in sorted((Path(__file__).parent / "cases" / "lint").glob("*.yml"))
    for d in yaml.safe_load_all(case.read_text())
    if isinstance(d, dict) and "spec" in d
]

TRICKY: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 1.5, 22, 65535, 65536, 10**9, float("inf"),
    "", "x", "ALL", "tcp", "drop", "minimal", "10.0.0.0/8", "10.0.0.1/33", "::/0",
    "2026-01-01", "2026-02-30", "20260101", "{{ region }}", "{{ port | int }}", "{% if x %}",
    "sha256:" + "0" * 64, "registry.example.com/a@sha256:" + "1" * 64, "256m", "60s",
    [], {}, ["a"], ["a", "a"], ["{{ x }}", "{{ x }}"], [1, True], [1, 1.0], [None],
    {"a": 1}, {"name": "n"}, {"{{ k }}": "v"},
]  # fmt: skip

FUZZ = settings(
    max_examples=int(os.environ.get("CHECKPOINTCTL_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _paths(value: Any, at: PathKey = ()) -> Iterator[PathKey]:
    yield at
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, at + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, at + (i,))


def _parent(doc: Any, at: PathKey) -> Any:
    for step in at[:-1]:
        doc = doc[step]
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.sampled_from([p for p in _paths(doc) if p]))
        parent = _parent(doc, at)
        action = draw(st.sampled_from(["set", "set", "set", "add", "drop"]))
        if action == "set":
            parent[at[-1]] = copy.deepcopy(draw(st.sampled_from(TRICKY)))
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "name", "image", "{{ k }}"]))] = 1
        elif action == "drop" and isinstance(parent, dict):
            del parent[at[-1]]
    return doc


def _agrees(data: Any) -> None:
    doc = Document("p.yml", data)
    for rendered in (False, True):
        if _fast(rendered)(data):
            assert _schema_errors(doc, rendered=rendered) == [], (rendered, data)


def test_seeds_take_the_fast_path() -> None:
    """The valid documents really skip jsonschema (else the module only costs time)."""
    valid = [d for d in SEEDS if not _schema_errors(Document("p.yml", d), rendered=False)]
    assert len(valid) > 10
    for data in valid:
        assert _fast(False)(data), data


def test_templates_under_spec_wait_for_rendering() -> None:
    data = copy.deepcopy(SEEDS[0])
    data["spec"]["firewall"] = {"management": {"ssh_port": "{{ port }}", "from": ["{{ c }}"]}}
    assert _fast(False)(data)
    assert not _fast(True)(data)
    data["metadata"]["name"] = "{{ name }}"  # outside spec a template is a plain wrong string
    assert not _fast(False)(data)
    assert _schema_errors(Document("p.yml", data), rendered=False)


def test_every_seed() -> None:
    for seed in SEEDS:
        _agrees(seed)


@pytest.mark.parametrize("index", range(len(REPO_POLICIES)))
def test_every_single_swap(index: int) -> None:
    """Each value of the repository's policies replaced by each tricky value in turn."""
    seed = REPO_POLICIES[index]
    for at in [p for p in _paths(seed) if p]:
        for value in TRICKY:
            data = copy.deepcopy(seed)
            _parent(data, at)[at[-1]] = copy.deepcopy(value)
            _agrees(data)
        for key in ("extra", "bad key", "{{ k }}"):  # a key of its own in every mapping,
            for extra in ("x", "{{ region }}"):  # a template value no excuse for an unknown key
                data = copy.deepcopy(seed)
                target = _parent(data, at + ("",))
                if isinstance(target, dict):
                    target[key] = extra
                    _agrees(data)
        data = copy.deepcopy(seed)  # and one key fewer
        if isinstance(_parent(data, at), dict):
            del _parent(data, at)[at[-1]]
            _agrees(data)


@FUZZ
@given(mutated())
def test_fast_check_never_passes_what_jsonschema_refuses(data: dict[str, Any]) -> None:
    _agrees(data)


@FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_value_checks_agree(seed: dict[str, Any], draw: st.DataObject) -> None:
    """The per-value checks of rendered templates (``validate_rendered``) agree too."""
    spec_paths = [p for p in _paths(seed.get("spec")) if p]
    if not spec_paths:
        return
    at = ("spec", *draw.draw(st.sampled_from(spec_paths)))
    spath = _schema_path(at)
    if _sub_schema(spath) is None:
        return
    value = copy.deepcopy(draw.draw(st.sampled_from(TRICKY)))
    if _sub_fast(spath)(value):
        assert not list(_sub_validator(spath).iter_errors(value)), (at, value)
