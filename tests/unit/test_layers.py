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

PACKAGE = Path(__file__).resolve().parents[2] / "checkpointctl"

# The layers, bottom up: a module may import its own package, any lower layer, and nothing of
# its own layer or above, except the edges named in SIDEWAYS. Every package of checkpointctl
# must have a rank (test_every_package_has_a_rank), so a new package states where it sits.
RANK: dict[str, int] = {
    "errors": 0,
    "localfile": 0,
    "duration": 1,
    "model": 1,
    "yamlsource": 1,
    "spec": 2,
    "inventory": 2,
    "transport": 3,
    "policy": 4,
    "resources": 4,
    "report": 4,
    "trust": 4,
    "lab": 4,
    "engine": 5,
    "gitops": 5,
    "api": 6,
    "cli": 7,
    "__main__": 8,
    "checkpointctl": 0,
}
# (importing module prefix, imported module prefix): allowed edges within a layer. A resource
# kind's ``lint`` module checks the policy's view of that resource; it imports only the data
# layers (test_resource_lint_modules_stay_pure), so ``policy`` may call it.
SIDEWAYS: set[tuple[str, str]] = {
    ("checkpointctl.policy.", "checkpointctl.resources.firewall.lint"),
}
REVEAL_ALLOWED = ("resources/", "trust/", "model.py", "gitops/registry.py")
"""Where a Secret reaches its destination: a host (resources, trust), or, for a registry
password, the Authorization header of the registry client."""


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
            # `from checkpointctl.lab import hosts` depends on the module lab.hosts, not on
            # what lab/__init__ holds: the package counts only when a name is taken from it
            submodules = {f"{target}.{a.name}" for a in node.names if _exists(f"{target}.{a.name}")}
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(target)
    return {m for m in found if m == "checkpointctl" or m.startswith("checkpointctl.")}


def component(module: str) -> str:
    """``checkpointctl.policy.lint`` → ``policy``; the package root is ``checkpointctl``."""
    parts = module.split(".")
    return "checkpointctl" if len(parts) == 1 else parts[1]


GRAPH = {m: imports_of(m, p) for m, p in _modules()}


def allowed(module: str, imported: str) -> bool:
    """May ``module`` import ``imported``? Its own package, a lower layer, or a SIDEWAYS edge."""
    own, other = component(module), component(imported)
    if own == other:
        return True
    if any(module.startswith(a) and imported.startswith(b) for a, b in SIDEWAYS):
        return True
    return RANK[other] < RANK[own]


def violations(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Every (module, import) edge that goes up or sideways."""
    return {(mod, imp) for mod, imps in graph.items() for imp in imps if not allowed(mod, imp)}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The module-level import cycles (strongly connected components of two or more modules,
    or a module importing itself), found with Tarjan's algorithm without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1 or node in graph.get(node, ()):
                    found.append(sorted(members))
    return found


def test_the_scan_sees_the_package(tmp_path: Path) -> None:
    assert {"checkpointctl.cli.main", "checkpointctl.policy.loader", "checkpointctl.spec"} <= set(
        GRAPH
    )
    # a lazy import inside a function is found
    assert "checkpointctl.policy.loader" in GRAPH["checkpointctl.cli.main"]
    assert "checkpointctl.errors" in GRAPH["checkpointctl.spec"]
    # relative imports resolve against the module's package, TYPE_CHECKING blocks count
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from checkpointctl.report import text\n"
        "def f():\n    from .loader import load_desired\n    from .. import cli\n"
    )
    assert imports_of("checkpointctl.policy.probe", probe) == {
        "checkpointctl.report.text",
        "checkpointctl.policy.loader",
        "checkpointctl.cli",
    }


def test_every_package_has_a_rank() -> None:
    assert {component(m) for m in GRAPH} <= set(RANK), "give the new package a RANK"


def test_no_module_imports_up_or_sideways() -> None:
    bad = violations(GRAPH)
    assert not bad, "imports against the layers (module → import): " + ", ".join(
        f"{m} → {i}" for m, i in sorted(bad)
    )


def test_no_import_cycle() -> None:
    assert not cycles(GRAPH), f"import cycles: {cycles(GRAPH)}"


def test_an_upward_import_is_found() -> None:
    graph = {
        "checkpointctl.spec": {"checkpointctl.errors", "checkpointctl.policy.loader"},
        "checkpointctl.report.text": {"checkpointctl.report.display", "checkpointctl.engine.run"},
        "checkpointctl.policy.loader": {"checkpointctl.resources.firewall.lint"},
        "checkpointctl.policy.lint": {"checkpointctl.resources.containers.images"},
    }
    assert violations(graph) == {
        ("checkpointctl.spec", "checkpointctl.policy.loader"),
        ("checkpointctl.report.text", "checkpointctl.engine.run"),
        ("checkpointctl.policy.lint", "checkpointctl.resources.containers.images"),
    }


def test_a_cycle_is_found_within_one_package_too() -> None:
    graph = {
        "checkpointctl.cli.main": {"checkpointctl.cli.fleet"},
        "checkpointctl.cli.fleet": {"checkpointctl.cli.options", "checkpointctl.cli.main"},
        "checkpointctl.cli.options": set(),
        "checkpointctl.model": {"checkpointctl.model"},
    }
    assert cycles(graph) == [
        ["checkpointctl.cli.fleet", "checkpointctl.cli.main"],
        ["checkpointctl.model"],
    ]


def test_resource_lint_modules_stay_pure() -> None:
    """The modules ``policy`` may call sideways import only the data layers."""
    for mod, imps in GRAPH.items():
        if any(mod.startswith(b) for _, b in SIDEWAYS):
            assert {component(i) for i in imps} <= {"errors", "model", "spec", "resources"}, mod
            assert all(
                i.startswith(mod.rpartition(".")[0]) or component(i) != "resources" for i in imps
            ), mod


def test_nothing_imports_the_cli() -> None:
    """Only ``python -m checkpointctl`` (``__main__``) and the CLI's own modules may."""
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
    assert not bad, f".reveal() called outside {REVEAL_ALLOWED}: {sorted(bad)}"


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
