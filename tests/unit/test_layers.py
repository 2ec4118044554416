"""The dependency direction of the package, checked by scanning imports (DESIGN.md).

``spec`` · ``model`` · ``errors`` (and ``yamlsource``) are pure data at the bottom; ``report``
renders a RunReport from ``model`` alone; resources see the desired-state types and the
transport protocol, never the policy language; the engine never prints or parses; nothing
imports the CLI. Imports inside functions and under ``TYPE_CHECKING`` count too: a lazy import
is still a dependency.

Secrets: ``Secret.reveal()`` is called only where a value is written to its destination
(resources), sealed for transport (trust) or defined (model).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "checkpointctl"

# component -> the components it may import (besides itself); None = no whitelist
ONLY: dict[str, set[str]] = {
    "errors": set(),
    "model": {"errors"},
    "spec": {"errors", "model"},
    "yamlsource": {"errors"},
    "firewall_lint": {"spec", "model", "errors"},
    "report": {"model", "errors"},
    "resources": {"spec", "model", "errors", "transport", "firewall_lint"},
    "transport": {"model", "errors"},
}
# component -> components it must never import
NEVER: dict[str, set[str]] = {
    "engine": {"policy", "report", "cli"},
    "policy": {"engine", "resources", "transport", "report", "cli"},
}
REVEAL_ALLOWED = ("resources/", "trust/", "model.py")


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    base = PACKAGE.parent / rel
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def imports_of(module: str, path: Path) -> set[str]:
    """Every ``checkpointctl...`` module imported anywhere in the file (absolute names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:  # `from checkpointctl import policy` imports a module
                if _exists(f"{target}.{alias.name}"):
                    found.add(f"{target}.{alias.name}")
    return {m for m in found if m == "checkpointctl" or m.startswith("checkpointctl.")}


def component(module: str) -> str:
    """``checkpointctl.policy.lint`` → ``policy``; the package root is ``checkpointctl``.

    ``cli_<verbs>.py`` modules (verbs registered into the parser) are part of the CLI."""
    parts = module.split(".")
    if len(parts) == 1:
        return "checkpointctl"
    return "cli" if parts[1].startswith("cli_") else parts[1]


GRAPH = {m: imports_of(m, p) for m, p in _modules()}


def outside(graph: dict[str, set[str]], comp: str, allowed: set[str]) -> set[tuple[str, str]]:
    """(module, import) pairs of ``comp`` whose import is not in ``allowed``."""
    return {
        (mod, imp)
        for mod, imps in graph.items()
        if component(mod) == comp
        for imp in imps
        if component(imp) not in allowed
    }


def test_the_scan_sees_the_package(tmp_path: Path) -> None:
    assert {"checkpointctl.cli", "checkpointctl.policy.loader", "checkpointctl.spec"} <= set(GRAPH)
    # a lazy import inside a function is found
    assert "checkpointctl.policy.loader" in GRAPH["checkpointctl.cli"]
    assert "checkpointctl.errors" in GRAPH["checkpointctl.spec"]
    # relative imports resolve against the module's package, TYPE_CHECKING blocks count
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from checkpointctl.report import text\n"
        "def f():\n    from .loader import load_desired\n    from .. import cli\n"
    )
    assert imports_of("checkpointctl.policy.probe", probe) == {
        "checkpointctl.report",
        "checkpointctl.report.text",
        "checkpointctl.policy.loader",
        "checkpointctl",
        "checkpointctl.cli",
    }


def test_a_violation_is_found() -> None:
    graph = {"checkpointctl.spec": {"checkpointctl.errors", "checkpointctl.policy.loader"}}
    assert outside(graph, "spec", ONLY["spec"] | {"spec"}) == {
        ("checkpointctl.spec", "checkpointctl.policy.loader")
    }


@pytest.mark.parametrize("comp", sorted(ONLY))
def test_low_layers_import_only_what_is_below_them(comp: str) -> None:
    bad = outside(GRAPH, comp, ONLY[comp] | {comp})
    assert not bad, f"{comp} may import only {sorted(ONLY[comp])}: {sorted(bad)}"


@pytest.mark.parametrize("comp", sorted(NEVER))
def test_forbidden_imports(comp: str) -> None:
    everything = {component(m) for m in GRAPH} | {"checkpointctl"}
    bad = outside(GRAPH, comp, everything - NEVER[comp])
    assert not bad, f"{comp} must not import {sorted(NEVER[comp])}: {sorted(bad)}"


def test_nothing_imports_the_cli() -> None:
    """Only ``python -m checkpointctl`` (``__main__``) and the CLI's own verb modules may."""
    importers = {
        mod
        for mod, imps in GRAPH.items()
        if any(component(i) == "cli" for i in imps)
        and component(mod) != "cli"
        and mod != "checkpointctl.__main__"
    }
    assert not importers


def test_reveal_is_called_only_by_writers_and_sealers() -> None:
    callers = set()
    for _, path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "reveal"
            ):
                callers.add(path.relative_to(PACKAGE).as_posix())
    bad = {c for c in callers if not c.startswith(REVEAL_ALLOWED)}
    assert not bad, f".reveal() called outside resources/, trust/ and model.py: {sorted(bad)}"


def test_reveal_scan_is_not_fooled_by_text() -> None:
    """The AST scan finds calls, also ``getattr``-free chained ones, and ignores strings."""
    tree = ast.parse("x = 'a.reveal()'\ny = s.reveal().decode()\n")
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "reveal"
    ]
    assert len(calls) == 1


def test_no_getattr_reveal_workaround() -> None:
    offenders = [
        path.relative_to(PACKAGE).as_posix()
        for _, path in _modules()
        if '"reveal"' in path.read_text(encoding="utf-8")
        or "'reveal'" in path.read_text(encoding="utf-8")
    ]
    assert not offenders
