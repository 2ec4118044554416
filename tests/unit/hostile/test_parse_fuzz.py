"""Fuzzing the loaders: whatever the text, the result is diagnostics, never another exception.

The policy pipeline (``load_policies``/``load_desired``) reports problems as Diagnostics and the
inventory loader raises InventoryError; anything else escaping is a crash the CLI would show as
an internal error. Inputs are random text, mutations of real policies and inventories (YAML's
special characters inserted, lines dropped or swapped), and random data structures in the
places a policy or inventory expects mappings.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkpointctl.errors import Diagnostic, InventoryError, PolicyError
from checkpointctl.inventory import Inventory, load_inventory
from checkpointctl.policy import load_desired, load_policies

REPO = Path(__file__).resolve().parents[3]
SEEDS = [
    (REPO / "policies" / "baseline.yml").read_text(),
    (REPO / "policies" / "region-us.yml").read_text(),
]
INVENTORY_SEED = (REPO / "inventories" / "prod.yml").read_text()

FUZZ = settings(
    # a longer hunt: CHECKPOINTCTL_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/unit/hostile
    max_examples=int(os.environ.get("CHECKPOINTCTL_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

YAML_BITS = st.sampled_from(
    [":", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "!!", "!x ", "|", ">", "'", '"', "#",
     "%", "@", "`", "? ", "<<: ", "\t", "\n", "  ", "---\n", "...\n", "{{", "}}", "{%", "%}",
     "{{ x }}", "{{ ''.__class__ }}", "\x00", "\ufeff", "0600", "~", "null", "yes", "1e999",
     "2026-13-45", "-.inf", ".nan", "0x1F", "priority: ", "spec: ", "containers: ", "name: "]
)  # fmt: skip


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cp-fuzz-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def prod(workdir: Path) -> Inventory:
    path = workdir / "prod.yml"
    path.write_text(INVENTORY_SEED)
    return load_inventory(str(path))


@st.composite
def mutated(draw: st.DrawFn, seed: str) -> str:
    """``seed`` with a few random edits: YAML syntax inserted, spans deleted, lines swapped."""
    text = seed
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["insert", "delete", "swap", "replace", "duplicate"]))
        pos = draw(st.integers(0, len(text)))
        if kind == "insert":
            text = text[:pos] + draw(YAML_BITS | st.text(max_size=8)) + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 40)) :]
        elif kind == "replace":
            text = text[:pos] + draw(st.characters()) + text[pos + 1 :]
        else:
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if kind == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(j, lines[i])
            text = "\n".join(lines)
    return text


KEYS = st.text(max_size=10) | st.sampled_from(["name", "image", "hosts", "vars", "children"])
JSONISH: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(["{{ region }}", "{{ nope }}", "*", "0.0.0.0/0", "root", "ALL"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)

SPEC_KEYS = ["registries", "containers", "firewall", "credentials", "data_collection",
             "health", "waivers"]  # fmt: skip


@st.composite
def structured_policy(draw: st.DrawFn) -> str:
    """A well-formed policy document whose spec sections hold random data."""
    spec = {k: draw(JSONISH) for k in draw(st.lists(st.sampled_from(SPEC_KEYS), max_size=4))}
    doc: dict[str, Any] = {
        "apiVersion": "checkpointctl/v1",
        "kind": "CheckpointPolicy",
        "metadata": {"name": "fuzz"},
        "selector": draw(st.none() | st.just({"groups": ["checkpoints"]}) | JSONISH),
        "priority": draw(st.integers(-5, 20000) | JSONISH),
        "spec": spec,
    }
    return yaml.safe_dump(doc)


@st.composite
def structured_inventory(draw: st.DrawFn) -> str:
    group = st.fixed_dictionaries(
        {},
        optional={
            "hosts": st.dictionaries(st.text(min_size=1, max_size=8), JSONISH, max_size=3),
            "vars": JSONISH,
            "children": st.dictionaries(st.text(min_size=1, max_size=8), JSONISH, max_size=3),
        },
    )
    return yaml.safe_dump({"all": draw(group | JSONISH)})


def _policy_must_not_crash(workdir: Path, text: str, inventory: Inventory) -> None:
    path = workdir / "fuzz.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _, _, diags = load_policies([str(path)])
    assert all(isinstance(d, Diagnostic) for d in diags)
    result = load_desired([str(path)], inventory)
    assert all(isinstance(d, Diagnostic) for d in result.diagnostics)
    for d in result.diagnostics:
        str(d)  # renders without error


def _inventory_must_not_crash(workdir: Path, text: str, name: str = "fuzz-inv.yml") -> None:
    path = workdir / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        inv = load_inventory(str(path))
    except InventoryError as exc:
        problems = exc.items
    else:
        problems = ()
        for pattern in ("all", "checkpoints:!canary", "&eu", "~cp", "cp-*"):
            with contextlib.suppress(InventoryError):
                inv.select(pattern)
    assert all(isinstance(d, Diagnostic) and str(d) for d in problems)


@FUZZ
@given(text=st.text(max_size=300) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_random_text_as_policy(workdir: Path, prod: Inventory, text: str) -> None:
    _policy_must_not_crash(workdir, text, prod)


@FUZZ
@given(text=st.sampled_from(SEEDS).flatmap(mutated))
def test_mutated_policies(workdir: Path, prod: Inventory, text: str) -> None:
    _policy_must_not_crash(workdir, text, prod)


@FUZZ
@given(text=structured_policy())
def test_policies_with_random_structure(workdir: Path, prod: Inventory, text: str) -> None:
    _policy_must_not_crash(workdir, text, prod)


@FUZZ
@given(text=mutated(INVENTORY_SEED))
def test_mutated_inventories(workdir: Path, text: str) -> None:
    _inventory_must_not_crash(workdir, text)


@FUZZ
@given(text=structured_inventory() | st.text(max_size=200))
def test_inventories_with_random_structure(workdir: Path, text: str) -> None:
    _inventory_must_not_crash(workdir, text)


INI_SEED = """\
top1 a=1
[web]
web[01:03]:2222 x='[1, 2]' y="a b"
[web:vars]
z={'k': 1}
[app:children]
web
"""

INI_BITS = st.sampled_from(
    ["[", "]", ":", "=", "'", '"', "#", ";", "[a:z]", "[01:9]", "[1:3:0]", ":vars]", ":children]",
     "{", "}", "(", ")", "1e999", "*", "\\", "\n", " ", "\x00", "9" * 50, "[" * 40]
)  # fmt: skip


@FUZZ
@given(
    text=mutated(INI_SEED)
    | st.lists(INI_BITS | st.text(max_size=5), max_size=40).map("".join)
    | st.text(max_size=200)
)
def test_ini_and_extensionless_inventories(workdir: Path, text: str) -> None:
    """INI's values go through ast.literal_eval and its host entries through range expansion:
    only clean errors may come out of either (a file without extension is tried as YAML
    first)."""
    _inventory_must_not_crash(workdir, text, "fuzz-inv.ini")
    _inventory_must_not_crash(workdir, text, "fuzz-hosts")


@FUZZ
@given(pattern=st.text(max_size=30) | st.lists(YAML_BITS | st.text(max_size=5)).map("".join))
def test_random_limit_patterns(prod: Inventory, pattern: str) -> None:
    try:
        hosts = prod.select(pattern)
    except InventoryError:
        return
    assert set(hosts) <= set(prod.hosts)


def test_policy_error_is_what_the_cli_catches() -> None:
    # the loaders' contract above relies on this: InventoryError is a PolicyError
    assert issubclass(InventoryError, PolicyError)
