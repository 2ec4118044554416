"""Merging the policies that select one host.

Higher ``priority`` wins field by field. Lists of named items (containers, credentials) merge by
``name``; other lists are replaced whole; ``waivers`` accumulate. Two policies of the *same*
priority that set one field to different values are a conflict: the user must decide, so we name
both files and lines instead of picking one silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from checkpointctl.errors import Diagnostic, Location
from checkpointctl.yamlsource import Document, PathKey

NAMED_LISTS = frozenset(
    {("containers",), ("credentials",), ("checkpoints",), ("checkpoints", "containers")}
)
_NAMED_LAST = frozenset(path[-1] for path in NAMED_LISTS)
ACCUMULATED = frozenset({("waivers",)})


class Named(NamedTuple):
    """A path step selecting a list item by its ``name`` (a tuple: hashed in C, and merging
    1,000 hosts hashes a few hundred thousand of them)."""

    name: str

    def __str__(self) -> str:
        return self.name


LeafPath = tuple[str | Named, ...]


@dataclass(frozen=True)
class Layer:
    """One policy's contribution to a host: its rendered spec and where it came from."""

    policy: str
    priority: int
    spec: dict[str, Any]
    doc: Document


@dataclass(frozen=True)
class Merged:
    """A host's merged spec; ``sources`` maps dotted field paths to the line that set them."""

    spec: dict[str, Any]
    sources: dict[str, Location]
    policies: tuple[str, ...]

    def where(self, path: str) -> Location | None:
        """The line that set ``path``; for a path nobody set, its item's ``name`` line or the
        nearest parent, so 'missing field' findings still point into the right policy."""
        if path in self.sources:
            return self.sources[path]
        if path.endswith("]"):  # an item of a plain list nobody located: the list itself
            path = path.rpartition("[")[0]
            if path in self.sources:
                return self.sources[path]
        if path + ".name" in self.sources:
            return self.sources[path + ".name"]
        while "." in path:
            path = path.rpartition(".")[0]
            if path in self.sources:
                return self.sources[path]
            if path + ".name" in self.sources:
                return self.sources[path + ".name"]
        return None


def _flatten(
    value: Any, leaf: LeafPath, raw: PathKey, out: list[tuple[LeafPath, PathKey, Any]]
) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, leaf + (k,), raw + (k,), out)
        return
    if (
        isinstance(value, list)
        and leaf[-1] in _NAMED_LAST  # cheap necessary condition for the line below
        and tuple(p for p in leaf if isinstance(p, str)) in NAMED_LISTS
        and all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in value)
    ):
        for idx, item in enumerate(value):
            named = leaf + (Named(item["name"]),)
            out.append((named + ("name",), raw + (idx, "name"), item["name"]))
            for k, v in item.items():
                if k != "name":
                    _flatten(v, named + (k,), raw + (idx, k), out)
        return
    out.append((leaf, raw, value))


def _dotted(leaf: LeafPath) -> str:
    return ".".join(map(str, leaf))


def _unflatten(leaves: Sequence[tuple[LeafPath, Any]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for leaf, value in leaves:
        node: Any = root
        last = len(leaf) - 1
        for i, step in enumerate(leaf):
            if isinstance(step, Named):
                items: list[dict[str, Any]] = node
                for item in items:
                    if item.get("name") == step.name:
                        node = item
                        break
                else:
                    node = {"name": step.name}
                    items.append(node)
                continue
            child = node.get(step)
            if i == last:
                if isinstance(child, dict | list) and value in ({}, []):
                    continue  # an empty container never erases filled children
                node[step] = value
            else:
                if not isinstance(child, dict | list):
                    child = [] if isinstance(leaf[i + 1], Named) else {}
                    node[step] = child
                node = child
    return root


def merge(layers: Sequence[Layer]) -> tuple[Merged, list[Diagnostic]]:
    """Merge layers (any order); returns the merged spec and same-priority conflicts."""
    ordered = sorted(layers, key=lambda lyr: lyr.priority)
    winners: dict[LeafPath, tuple[Any, int, Layer, Location, PathKey]] = {}
    order: list[LeafPath] = []
    accumulated: dict[str, list[Any]] = {}
    sources: dict[str, Location] = {}
    conflicts: dict[LeafPath, list[Diagnostic]] = {}
    for layer in ordered:
        flat: list[tuple[LeafPath, PathKey, Any]] = []
        for key, value in layer.spec.items():
            if (key,) in ACCUMULATED and isinstance(value, list):
                items = accumulated.setdefault(key, [])
                for i in range(len(value)):
                    sources[f"{key}[{len(items) + i}]"] = layer.doc.where(("spec", key, i))
                items.extend(value)
                continue
            _flatten(value, (key,), ("spec", key), flat)
        for leaf, raw, value in flat:
            loc = layer.doc.where(raw)
            prev = winners.get(leaf)
            if prev is not None and prev[1] == layer.priority and prev[0] != value:
                if prev[2].policy != layer.policy:
                    conflicts.setdefault(leaf, []).append(
                        Diagnostic(
                            f"conflicts with {prev[3]} (policy {prev[2].policy!r}): both have "
                            f"priority {layer.priority} and set different values",
                            loc,
                            field="spec." + _dotted(leaf),
                            hint="give one policy a higher priority, or make the values agree",
                        )
                    )
                continue
            if prev is None:
                order.append(leaf)
            else:
                conflicts.pop(leaf, None)  # a higher priority settles a lower tie
            winners[leaf] = (value, layer.priority, layer, loc, raw)
            sources[_dotted(leaf)] = loc
    for leaf in order:  # each item of a plain list (firewall rules...) keeps its own line
        value, _, layer, _, raw = winners[leaf]
        if isinstance(value, list):
            for i in range(len(value)):
                sources[f"{_dotted(leaf)}[{i}]"] = layer.doc.where(raw + (i,))
    spec = _unflatten([(leaf, winners[leaf][0]) for leaf in order])
    for key, items in accumulated.items():
        spec[key] = items
    policies = tuple(dict.fromkeys(lyr.policy for lyr in ordered))
    return Merged(spec, sources, policies), [d for ds in conflicts.values() for d in ds]
