"""Every error names the exact ``file:line:col`` (and field) a user must edit.

Syntax errors point at the offending character, schema errors at the offending value (an
unknown key at the key itself), template errors at the template's line and name the variable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from policy_helpers import HEADER, IMAGE, inventory, load, only, policy, write

from checkpointctl.cli.main import main
from checkpointctl.policy import load_policies


def test_yaml_syntax_error_points_at_the_offending_character(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = policy(
        tmp_path / "broken.yml",
        """\
        metadata:
          name: broken: yes
        spec: {}
        """,
    )
    _, _, diags = load_policies([str(p)])
    d = only(diags)
    assert str(d.location) == f"{p}:4:15"
    assert d.message.startswith("YAML syntax error: mapping values are not allowed")

    assert main(["validate", str(p)]) == 1
    err = capsys.readouterr().err
    assert f"{p}:4:15: YAML syntax error" in err
    assert "Traceback" not in err


def test_unclosed_flow_sequence_points_where_the_parser_gave_up(tmp_path: Path) -> None:
    p = policy(
        tmp_path / "p.yml",
        """\
        metadata:
          name: p
        selector:
          groups: [checkpoints
        spec: {}
        """,
    )
    d = only(load_policies([str(p)])[2])
    assert str(d.location) == f"{p}:7:5"
    assert "flow sequence" in d.message


def test_unknown_key_points_at_the_key_and_lists_the_known_ones(tmp_path: Path) -> None:
    p = policy(
        tmp_path / "typo.yml",
        f"""\
        metadata:
          name: typo
        spec:
          containers:
            - name: probe
              image: {IMAGE}
              imagee: {IMAGE}
        """,
    )
    d = only(load_policies([str(p)])[2])
    assert str(d).startswith(
        f"{p}:9:7: spec.containers[0].imagee: unknown field 'imagee' (expected one of: "
    )
    assert "image," in d.message
    assert "user" in d.message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    p = policy(
        tmp_path / "top.yml",
        """\
        metadata:
          name: top
        specs: {}
        spec: {}
        """,
    )
    d = only(load_policies([str(p)])[2])
    assert str(d.location) == f"{p}:5:1"
    assert d.field == "specs"


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    p = policy(
        tmp_path / "types.yml",
        """\
        metadata:
          name: types
        priority: high
        spec:
          containers:
            - name: probe
              read_only: "yes"
        """,
    )
    got = [str(d) for d in load_policies([str(p)])[2]]
    assert got == [
        f'{p}:5:11: priority: expected integer, got str "high"',
        f'{p}:9:18: spec.containers[0].read_only: expected boolean, got str "yes"',
    ]


def test_missing_required_field_points_at_the_mapping(tmp_path: Path) -> None:
    p = policy(
        tmp_path / "noname.yml",
        """\
        metadata:
          description: no name
        spec: {}
        """,
    )
    d = only(load_policies([str(p)])[2])
    assert str(d) == f"{p}:4:3: metadata: 'name' is required"


def test_every_schema_error_of_a_file_is_reported(tmp_path: Path) -> None:
    p = policy(
        tmp_path / "many.yml",
        """\
        metadata:
          name: many
        spec:
          containers:
            - name: Probe
              restart: sometimes
              resources: {memory: lots}
        """,
    )
    fields = [d.field for d in load_policies([str(p)])[2]]
    assert fields == [
        "spec.containers[0].name",
        "spec.containers[0].resources.memory",
        "spec.containers[0].restart",
    ]


def test_undefined_variable_names_file_line_and_variable(tmp_path: Path) -> None:
    p = policy(
        tmp_path / "tmpl.yml",
        f"""\
        metadata:
          name: tmpl
        spec:
          containers:
            - name: probe
              image: {IMAGE}
              env:
                SITE: "{{{{ site_name }}}}"
        """,
    )
    result = load([p], inventory(tmp_path))
    d = only(result.errors)
    assert str(d.location) == f"{p}:10:15"
    assert d.field == "spec.containers[0].env.SITE"
    assert "'site_name' is undefined" in d.message
    assert "cp-1" in d.message  # the host it was rendered for
    assert not result.states


def test_template_syntax_error_inside_a_block_scalar_points_at_its_line(tmp_path: Path) -> None:
    p = policy(
        tmp_path / "block.yml",
        """\
        metadata:
          name: block
        spec:
          containers:
            - name: probe
              command:
                - sh
                - -c
                - |
                  echo start
                  echo {{ region
                  echo end
        """,
    )
    d = only(load_policies([str(p)])[2])
    assert d.location is not None
    assert (d.location.path, d.location.line) == (str(p), 14)
    assert d.message.startswith("template syntax error")


def test_duplicate_policy_name_points_at_both(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yml", HEADER + "metadata:\n  name: same\nspec: {}\n")
    b = write(tmp_path / "b.yml", HEADER + "metadata:\n  name: same\nspec: {}\n")
    d = only(load_policies([str(a), str(b)])[2])
    assert str(d.location) == f"{b}:4:9"
    assert f"already used at {a}:1:1" in d.message


def test_inventory_errors_have_locations(tmp_path: Path) -> None:
    from checkpointctl.errors import InventoryError
    from checkpointctl.inventory import load_inventory

    inv = write(
        tmp_path / "inv.yml",
        """\
        all:
          children:
            eu:
              host:
                cp-1: {}
        """,
    )
    with pytest.raises(InventoryError) as exc:
        load_inventory(str(inv))
    d = only(exc.value.items)
    assert str(d.location) == f"{inv}:4:7"
    assert "unknown key 'host'" in d.message


def test_a_template_outside_spec_is_a_schema_error_not_postponed(tmp_path: Path) -> None:
    """Only spec values are rendered: ``priority: '{{ p }}'`` is a string where an integer
    belongs (found by the fuzz test: it used to crash the loader with a ValueError)."""
    p = policy(
        tmp_path / "prio.yml",
        """\
        metadata:
          name: "{{ name }}"
        priority: "{{ p }}"
        spec: {}
        """,
    )
    got = [str(d) for d in load_policies([str(p)])[2]]
    assert got[0].startswith(f'{p}:4:9: metadata.name: "{{{{ name }}}}" does not match')
    assert got[1] == f'{p}:5:11: priority: expected integer, got str "{{{{ p }}}}"'


def test_the_inlined_validator_reports_what_the_published_schema_reports() -> None:
    """The loader validates with $refs inlined (faster); the errors must be the same."""
    from jsonschema import Draft202012Validator

    from checkpointctl.policy.schema import _validator, policy_schema

    published = Draft202012Validator(
        policy_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    docs: list[object] = [
        {"apiVersion": "checkpointctl/v1", "kind": "CheckpointPolicy", "metadata": {}},
        {
            "apiVersion": "v2",
            "metadata": {"name": "Bad Name", "x": 1},
            "priority": -1,
            "spec": {
                "containers": [{"name": "p", "image": "", "ports": [1], "healthcheck": {}}],
                "credentials": [{"name": "c", "secret": "plain", "expires": "2026-02-30"}],
                "firewall": {"inbound": {"allow": [{"port": 0, "from": ["x y"]}]}},
                "waivers": [{"rule": "nope", "reason": "short"}],
            },
        },
    ]
    for case in sorted((Path(__file__).parent / "cases" / "lint").glob("*.yml")):
        docs.extend(d for d in yaml.safe_load_all(case.read_text()) if "spec" in d)

    def errors(v: Draft202012Validator, doc: object) -> list[tuple[str, str, str]]:
        return sorted(
            (str(list(e.absolute_path)), e.validator, e.message) for e in v.iter_errors(doc)
        )

    for doc in docs:
        assert errors(_validator(), doc) == errors(published, doc)
    assert errors(published, docs[1])  # the broken document is broken
