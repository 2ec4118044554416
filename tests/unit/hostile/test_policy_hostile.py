"""Hostile policy and inventory files: each refused with a clear, located error, no traceback.

Everything goes through ``checkpointctl validate`` (``cli.main``) the way a CI job would run it
on a pull request. Parsing cases run twice: with libyaml's parser (the default when PyYAML has
it) and with the pure-Python one (the fallback), which enforce the limits differently.
"""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import pytest
import yaml

from checkpointctl import yamlsource
from checkpointctl.cli.main import main
from checkpointctl.policy.templating import nesting

Capsys = pytest.CaptureFixture[str]

HEADER = "apiVersion: checkpointctl/v1\nkind: CheckpointPolicy\nmetadata:\n  name: hostile\n"
INVENTORY = "all:\n  children:\n    checkpoints:\n      hosts:\n        cp-1: {region: eu}\n"


@pytest.fixture(params=["libyaml", "pure-python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "pure-python":
        monkeypatch.setattr(yaml, "__with_libyaml__", False)
    elif not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    return str(request.param)


def _validate(capsys: Capsys, path: Path, *extra: str) -> str:
    """Run validate; it must fail cleanly. Returns stderr."""
    code = main(["validate", str(path), *extra])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert "internal error" not in err
    return err


def test_python_tag_is_refused_and_never_run(tmp_path: Path, capsys: Capsys, parser: str) -> None:
    marker = tmp_path / "pwned"
    p = tmp_path / "tag.yml"
    p.write_text(HEADER + f'spec: !!python/object/apply:os.system ["touch {marker}"]\n')
    err = _validate(capsys, p)
    assert (
        f"{p}:5:7: spec: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"
        in err
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    "value",
    [
        "!!python/name:os.system",
        "!!python/object:subprocess.Popen {args: [id]}",
        "!vault |\n    $ANSIBLE_VAULT;1.1;AES256\n    6162",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
    ],
)
def test_any_non_plain_tag_is_refused(
    value: str, tmp_path: Path, capsys: Capsys, parser: str
) -> None:
    p = tmp_path / "tag.yml"
    p.write_text(HEADER + f"spec:\n  containers: {value}\n")
    err = _validate(capsys, p)
    assert f"{p}:6:15: spec.containers: tag " in err
    assert "is not allowed (only plain YAML values)" in err


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!int abc", "int"),
        ("!!bool maybe", "bool"),
        ("!!float x", "float"),
        ("!!timestamp 2026-99-99", "timestamp"),
        ("!!int 0x", "int"),
    ],
)
def test_a_plain_tag_the_text_does_not_fit_is_a_located_error(
    value: str, tag: str, tmp_path: Path, capsys: Capsys, parser: str
) -> None:
    # PyYAML's own constructors raise a bare ValueError/KeyError for these: never a crash
    p = tmp_path / "typed.yml"
    p.write_text(HEADER + f"spec:\n  priority: {value}\n")
    err = _validate(capsys, p)
    assert f"{p}:6:13: " in err
    assert f"is not a valid !!{tag}" in err


def _laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_in_bounded_memory(
    tmp_path: Path, capsys: Capsys, parser: str
) -> None:
    p = tmp_path / "laughs.yml"
    p.write_text(_laughs())  # 9**9 = 387 million strings once expanded
    tracemalloc.start()
    try:
        err = _validate(capsys, p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "expands to more than 100000 values (alias bomb?)" in err
    assert peak < 200 * 1024 * 1024  # expanded it would be gigabytes


def test_many_small_bombs_in_one_file_share_one_budget(
    tmp_path: Path, capsys: Capsys, parser: str
) -> None:
    one = _laughs(5)  # 9**5 = 59,049 values: under the limit on its own
    p = tmp_path / "many.yml"
    p.write_text(("---\n" + one) * 50)
    err = _validate(capsys, p)
    assert f"{p}:" in err
    assert "more than 100000 values" in err


def test_fifty_megabytes_is_refused_before_parsing(tmp_path: Path, capsys: Capsys) -> None:
    p = tmp_path / "huge.yml"
    with p.open("w") as fh:
        fh.write(HEADER + "  description: ")
        chunk = "x" * (1024 * 1024)
        for _ in range(50):
            fh.write(chunk)
        fh.write("\nspec: {}\n")
    err = _validate(capsys, p)
    assert f"{p}:1:1: file is {p.stat().st_size} bytes, over the 2097152-byte limit" in err


def test_fifty_megabyte_inventory_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    inv = tmp_path / "inv.yml"
    with inv.open("w") as fh:
        fh.write("all:\n  hosts:\n")
        line = "    cp-{:08d}: {{address: 192.0.2.1}}\n"
        fh.writelines(line.format(i) for i in range(1_400_000))
    assert inv.stat().st_size > 50 * 1024 * 1024
    pol = tmp_path / "p.yml"
    pol.write_text(HEADER + "spec: {}\n")
    err = _validate(capsys, pol, "-i", str(inv))
    assert f"checkpointctl: error: {inv}:1:1: file is" in err


def test_many_values_under_the_size_limit_are_refused(
    tmp_path: Path, capsys: Capsys, parser: str
) -> None:
    p = tmp_path / "flat.yml"
    p.write_text(HEADER + "spec:\n  containers: [" + ",".join(["1"] * 200_000) + "]\n")
    assert p.stat().st_size < yamlsource.MAX_FILE_BYTES
    err = _validate(capsys, p)
    assert "more than 100000 values" in err


@pytest.mark.parametrize("depth", [65, 200, 5_000, 100_000])
def test_deep_flow_nesting(depth: int, tmp_path: Path, capsys: Capsys, parser: str) -> None:
    p = tmp_path / "deep.yml"
    p.write_text(HEADER + "spec: " + "[" * depth + "]" * depth + "\n")
    err = _validate(capsys, p)
    assert f"{p}:5:" in err
    assert "nesting" in err  # ours (deeper than 64) or libyaml's (maximum nesting depth)


def test_deep_block_nesting(tmp_path: Path, capsys: Capsys, parser: str) -> None:
    p = tmp_path / "deep.yml"
    p.write_text(HEADER + "spec:\n" + "".join("  " * i + "k:\n" for i in range(1, 300)))
    err = _validate(capsys, p)
    assert "nesting deeper than 64" in err


def test_duplicate_keys_are_refused_not_overwritten(
    tmp_path: Path, capsys: Capsys, parser: str
) -> None:
    p = tmp_path / "dup.yml"
    p.write_text(
        HEADER + "spec:\n  containers: []\n  containers: [{name: root, privileged: true}]\n"
    )
    err = _validate(capsys, p)
    assert f"{p}:7:3: spec: duplicate key 'containers'" in err


def test_merge_keys_are_refused(tmp_path: Path, capsys: Capsys, parser: str) -> None:
    p = tmp_path / "merge.yml"
    p.write_text(HEADER + "base: &b {name: probe}\nspec:\n  containers:\n    - <<: *b\n")
    err = _validate(capsys, p)
    assert f"{p}:8:7: YAML merge keys (<<) are not supported" in err


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00a\x00p\x00i",  # UTF-16 with a BOM
        b"metadata:\n  name: caf\xe9\n",  # Latin-1
        b"\xc3\x28: x\n",  # an invalid UTF-8 sequence
    ],
)
def test_non_utf8_is_refused(raw: bytes, tmp_path: Path, capsys: Capsys) -> None:
    p = tmp_path / "bytes.yml"
    p.write_bytes(raw)
    err = _validate(capsys, p)
    assert f"{p}:1:1: not UTF-8 text" in err


def test_control_characters_are_a_syntax_error(tmp_path: Path, capsys: Capsys, parser: str) -> None:
    p = tmp_path / "nul.yml"
    p.write_text(HEADER + "# caf\u00e9\nspec: {}\x00\n")
    err = _validate(capsys, p)
    assert f"{p}:6:9: YAML syntax error: control character #x0000 is not allowed" in err


def test_typed_values_given_as_strings_are_schema_errors(tmp_path: Path, capsys: Capsys) -> None:
    p = tmp_path / "typed.yml"
    p.write_text(
        HEADER
        + 'priority: "10"\n'  # line 5
        + "spec:\n"
        + "  containers:\n"
        + "    - name: probe\n"
        + '      read_only: "true"\n'  # line 9
        + '      resources: {pids: "0600", cpus: "0.5"}\n'  # line 10
        + "  firewall:\n"
        + "    outbound:\n"
        + '      allow: [{port: "443", to: ["10.0.0.1/32"]}]\n'  # line 13
        + "    management:\n"
        + '      ssh_port: "22"\n'  # line 15
    )
    err = _validate(capsys, p)
    for where in (
        '5:11: priority: expected integer, got str "10"',
        '9:18: spec.containers[0].read_only: expected boolean, got str "true"',
        '10:25: spec.containers[0].resources.pids: expected integer, got str "0600"',
        '10:39: spec.containers[0].resources.cpus: expected number, got str "0.5"',
        '13:22: spec.firewall.outbound.allow[0].port: expected integer, got str "443"',
        '15:17: spec.firewall.management.ssh_port: expected integer, got str "22"',
    ):
        assert f"{p}:{where}" in err
    assert err.rstrip().endswith("6 error(s)")


def test_sandbox_escape_through_validate(tmp_path: Path, capsys: Capsys) -> None:
    p = tmp_path / "escape.yml"
    p.write_text(
        HEADER
        + "spec:\n  containers:\n    - name: probe\n"
        + "      env: {X: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"}\n"
    )
    inv = tmp_path / "inv.yml"
    inv.write_text(INVENTORY)
    err = _validate(capsys, p, "-i", str(inv))
    assert f"{p}:8:16: spec.containers[0].env.X: template accesses the unsafe attribute" in err


def test_deeply_nested_template_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    p = tmp_path / "nested.yml"
    p.write_text(
        HEADER + "spec:\n  containers:\n    - name: probe\n"
        '      env: {X: "{{ ' + "(" * 500 + "1" + ")" * 500 + ' }}"}\n'
    )
    err = _validate(capsys, p)
    assert f"{p}:8:16: spec.containers[0].env.X: template is nested too deeply" in err


def test_hostile_inventory_tag(tmp_path: Path, capsys: Capsys, parser: str) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  vars: !!python/object/apply:os.getcwd []\n")
    pol = tmp_path / "p.yml"
    pol.write_text(HEADER + "spec: {}\n")
    err = _validate(capsys, pol, "-i", str(inv))
    assert f"checkpointctl: error: {inv}:2:9: all.vars: tag " in err


def test_a_deep_template_is_refused_whatever_the_recursion_limit(
    tmp_path: Path, capsys: Capsys
) -> None:
    """The refusal does not depend on the interpreter's recursion limit (a library or a test
    runner may raise it) nor on how deep the caller's stack is."""
    p = tmp_path / "nested.yml"
    p.write_text(
        HEADER + "spec:\n  containers:\n    - name: probe\n"
        '      env: {X: "{{ ' + "[" * 150 + "1" + "]" * 150 + ' }}"}\n'
    )
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)
    try:
        err = _validate(capsys, p)
    finally:
        sys.setrecursionlimit(limit)
    assert "spec.containers[0].env.X: template is nested too deeply" in err


def test_nesting_counts_the_deepest_bracket() -> None:
    assert nesting("{{ x }}") == 2
    assert nesting("{{ (a + [b, {'c': (1)}]) }}") == 6
    assert nesting(")))(") == 1
