"""The policy reference: complete, generated from the schema, and the same in the docs and in
``checkpointctl explain``.

Regenerate ``docs/policy.md`` with ``python -m checkpointctl.policy.reference > docs/policy.md``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.policy.lint import RULE_FIELDS
from checkpointctl.policy.reference import (
    close_matches,
    entry_markdown,
    entry_text,
    field_docs,
    lookup,
    render_markdown,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "policy.md"
FIELDS = field_docs()
Capsys = pytest.CaptureFixture[str]


def test_docs_policy_md_is_generated_from_the_schema() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/policy.md is stale: python -m checkpointctl.policy.reference > docs/policy.md"
    )


def test_every_field_has_a_description_a_default_and_an_example() -> None:
    incomplete = [
        d.path for d in FIELDS
        if not d.description or d.example is None or not (d.has_default or d.required)
    ]  # fmt: skip
    assert not incomplete
    assert len(FIELDS) > 100
    for doc in FIELDS:
        assert entry_markdown(doc) in DOC.read_text(encoding="utf-8")


def test_every_lint_rule_names_fields_the_schema_has() -> None:
    paths = {d.path for d in FIELDS}
    for rule, fields in RULE_FIELDS.items():
        assert set(fields) <= paths, rule
    assert lookup("spec.containers.cap_add").rules == ("cap-add",)  # type: ignore[union-attr]


def test_explain_prints_the_entry_of_every_field(capsys: Capsys) -> None:
    for doc in FIELDS:
        assert main(["explain", doc.path]) == 0
        out = capsys.readouterr().out
        assert out == entry_text(doc)
        assert doc.path in out


def test_explain_accepts_indexes_and_a_path_without_spec(capsys: Capsys) -> None:
    assert main(["explain", "containers[0].mounts.read_only"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("FIELD:       spec.containers.mounts.read_only\n")
    assert "LINT RULES:  writable-mount\n" in out
    assert "DEFAULT:     true\n" in out


def test_explain_of_an_unknown_field_names_it_and_the_close_ones(capsys: Capsys) -> None:
    assert main(["explain", "spec.containers.capadd"]) == 1
    err = capsys.readouterr().err
    assert "no policy field 'spec.containers.capadd'" in err
    assert "did you mean spec.containers.cap_add" in err
    assert close_matches("spec.updates.window") == []


def test_explain_without_a_field_lists_every_path(capsys: Capsys) -> None:
    assert main(["explain"]) == 0
    assert capsys.readouterr().out.split() == [d.path for d in FIELDS]
