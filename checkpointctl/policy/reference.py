"""The policy reference, generated from the schema: ``docs/policy.md`` and ``explain FIELD``.

One source for both: every field's entry (type, default, example, description, the lint rules
that judge it) is read from ``schemas/policy.v1.json`` and :data:`~.lint.RULE_FIELDS`, so the
document and the command cannot disagree with what ``validate`` enforces. A unit test fails when
``docs/policy.md`` is not what :func:`render_markdown` makes; regenerate it with
``python -m checkpointctl.policy.reference > docs/policy.md``.

Paths name fields the way people write them: list items are transparent
(``spec.containers.cap_add`` is the ``cap_add`` of any container), as in ``kubectl explain``.
"""

from __future__ import annotations

import difflib
import re
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from checkpointctl.model import JSONValue
from checkpointctl.policy.lint import RULE_FIELDS, UNWAIVABLE
from checkpointctl.policy.schema import inlined_schema

_INDEX = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True, slots=True)
class FieldDoc:
    """One field of the policy format, as the reference shows it."""

    path: str
    type: str
    description: str
    required: bool
    has_default: bool
    default: JSONValue
    example: JSONValue
    constraints: tuple[str, ...]
    rules: tuple[str, ...]
    fields: tuple[str, ...]
    """The names of its own fields, for an object."""


def _type_name(node: Mapping[str, Any]) -> str:
    if "const" in node:
        return f"string, always {node['const']}"
    if "enum" in node:
        return "one of " + ", ".join(str(v) for v in node["enum"])
    kind = node.get("type")
    if kind == "array":
        items = node.get("items")
        return "list of " + (_type_name(items) if isinstance(items, Mapping) else "anything")
    if kind == "object" and "properties" not in node:
        values = node.get("additionalProperties")
        inner = _type_name(values) if isinstance(values, Mapping) else "anything"
        return f"map of string to {inner}"
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    return str(kind or "object")


def _constraints(node: Mapping[str, Any]) -> tuple[str, ...]:
    if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
        inner = _constraints(node["items"])
        own = [f"at least {node['minItems']} item(s)"] if "minItems" in node else []
        if node.get("uniqueItems"):
            own.append("no duplicates")
        return (*own, *(f"each: {c}" for c in inner))
    out: list[str] = []
    if "pattern" in node:
        out.append(f"matches {node['pattern']}")
    if "format" in node:
        out.append(f"format {node['format']}")
    for key, word in (
        ("minLength", "at least {} character(s)"),
        ("maxLength", "at most {} character(s)"),
        ("minimum", "at least {}"),
        ("exclusiveMinimum", "more than {}"),
        ("maximum", "at most {}"),
    ):
        if key in node:
            out.append(word.format(node[key]))
    names = node.get("propertyNames")
    if isinstance(names, Mapping) and "pattern" in names:
        out.append(f"keys match {names['pattern']}")
    return tuple(out)


def _walk(node: Mapping[str, Any], path: str, required: bool) -> Iterator[FieldDoc]:
    if path:
        props = node.get("properties")
        own = node
        if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
            props = node["items"].get("properties")
        yield FieldDoc(
            path=path,
            type=_type_name(own),
            description=str(own.get("description", "")),
            required=required,
            has_default="default" in own,
            default=own.get("default"),
            example=(own.get("examples") or [None])[0],
            constraints=_constraints(own),
            rules=tuple(sorted(r for r, paths in RULE_FIELDS.items() if path in paths)),
            fields=tuple(props) if isinstance(props, Mapping) else (),
        )
    target = node
    if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
        target = node["items"]
    props = target.get("properties")
    if isinstance(props, Mapping):
        needed = set(target.get("required") or ())
        for name, child in props.items():
            yield from _walk(child, f"{path}.{name}" if path else name, name in needed)


@cache
def field_docs() -> tuple[FieldDoc, ...]:
    """Every field of the policy format, in schema order (parents before their fields)."""
    return tuple(_walk(inlined_schema(), "", True))


def _by_path() -> Mapping[str, FieldDoc]:
    return {f.path: f for f in field_docs()}


def normalise_path(text: str) -> str:
    """``spec.containers[0].cap_add`` or ``containers.cap_add`` → ``spec.containers.cap_add``."""
    path = _INDEX.sub("", text.strip()).strip(".")
    known = _by_path()
    if path not in known and f"spec.{path}" in known:
        return f"spec.{path}"
    return path


def lookup(text: str) -> FieldDoc | None:
    """The field ``text`` names (see :func:`normalise_path`), or None."""
    return _by_path().get(normalise_path(text))


def close_matches(text: str, limit: int = 5) -> list[str]:
    """Field paths resembling ``text``: whole paths first, then paths ending in its last name."""
    path = normalise_path(text)
    paths = [f.path for f in field_docs()]
    found = difflib.get_close_matches(path, paths, n=limit, cutoff=0.85)
    last = path.rpartition(".")[2]
    for candidate in paths:
        name = candidate.rpartition(".")[2]
        if (
            len(found) < limit
            and candidate not in found
            and (name == last or difflib.SequenceMatcher(None, name, last).ratio() >= 0.8)
        ):
            found.append(candidate)
    return found


def show(value: JSONValue) -> str:
    """A value as a person writes it in a policy (YAML flow style, one line)."""
    text = yaml.safe_dump(
        value, default_flow_style=True, width=10_000, allow_unicode=True, sort_keys=False
    )
    return text.strip().removesuffix("...").strip()


def default_text(doc: FieldDoc) -> str:
    if doc.required and not doc.has_default:
        return "(required)"
    if doc.default is None:
        return "(required once policies are merged)" if "required" in doc.rules else "not set"
    return show(doc.default)


def rules_text(doc: FieldDoc) -> str:
    return ", ".join(f"{r} (not waivable)" if r in UNWAIVABLE else r for r in doc.rules) or "none"


def entry_text(doc: FieldDoc) -> str:
    """The plain-text entry ``explain`` prints (the same facts as the document's entry)."""
    lines = [
        f"FIELD:       {doc.path}",
        f"TYPE:        {doc.type}",
    ]
    if doc.constraints:
        lines.append(f"CONSTRAINTS: {'; '.join(doc.constraints)}")
    lines += [
        f"DEFAULT:     {default_text(doc)}",
        f"EXAMPLE:     {show(doc.example)}",
        f"LINT RULES:  {rules_text(doc)}",
        "DESCRIPTION:",
        textwrap.fill(doc.description, 96, initial_indent="    ", subsequent_indent="    "),
    ]
    if doc.fields:
        lines += ["FIELDS:", *(f"    {name}" for name in doc.fields)]
    return "\n".join(lines) + "\n"


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _constraint_md(text: str) -> str:
    """A constraint with its pattern as code (a pattern's ``*`` and ``_`` are not emphasis)."""
    for word in ("keys match ", "matches "):
        head, sep, pattern = text.partition(word)
        if sep:
            return f"{head}{word}{_code(pattern)}"
    return text


def entry_markdown(doc: FieldDoc) -> str:
    """The document's entry for one field."""
    lines = [f"### `{doc.path}`", "", doc.description, "", f"- **type**: {doc.type}"]
    if doc.constraints:
        lines.append(f"- **constraints**: {'; '.join(_constraint_md(c) for c in doc.constraints)}")
    default = default_text(doc)
    shown = default if default.startswith("(") or default == "not set" else _code(default)
    lines += [
        f"- **default**: {shown}",
        f"- **example**: {_code(show(doc.example))}",
        f"- **lint rules**: {rules_text(doc)}",
    ]
    if doc.fields:
        lines.append("- **fields**: " + ", ".join(f"`{doc.path}.{n}`" for n in doc.fields))
    return "\n".join(lines) + "\n"


def render_markdown() -> str:
    """``docs/policy.md``: the lint rules, then every field in schema order."""
    out = [
        "# Policy reference",
        "",
        "<!-- Generated from checkpointctl/schemas/policy.v1.json by "
        "`python -m checkpointctl.policy.reference > docs/policy.md`; do not edit. -->",
        "",
        "Every field of a `CheckpointPolicy` (`apiVersion: checkpointctl/v1`): its type, its "
        "default when absent, an example and the lint rules that judge it. Unknown fields are "
        "errors. List items are transparent in paths: `spec.containers.cap_add` is the `cap_add` "
        "of each container. `checkpointctl explain FIELD` prints the same entry.",
        "",
        "## Lint rules",
        "",
        "Each rule is an error (a `credential-scope` finding about an unknown container and a "
        "credential expiring within 14 days are warnings) and may be waived in `spec.waivers` "
        "with a reason, except `required` and `reserved-name`.",
        "",
        "| rule | fields | waivable |",
        "|---|---|---|",
    ]
    for rule in sorted(RULE_FIELDS):
        fields = ", ".join(f"`{p}`" for p in RULE_FIELDS[rule])
        out.append(f"| `{rule}` | {fields} | {'no' if rule in UNWAIVABLE else 'yes'} |")
    out += ["", "## Fields", ""]
    for doc in field_docs():
        out.append(entry_markdown(doc))
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> int:
    sys.stdout.write(render_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "FieldDoc",
    "close_matches",
    "default_text",
    "entry_markdown",
    "entry_text",
    "field_docs",
    "lookup",
    "normalise_path",
    "render_markdown",
    "show",
]
