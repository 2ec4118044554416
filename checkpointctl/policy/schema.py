"""Strict JSON Schema validation of policy documents, with errors at the offending line.

The schema (``schemas/policy.v1.json``) is published so editors can complete policies. Strings
holding Jinja2 templates are checked again after templating, so a templated CIDR is not refused
for not looking like one before it is rendered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from checkpointctl.errors import Diagnostic
from checkpointctl.model import Secret
from checkpointctl.policy.schema_fast import Check, compile_check
from checkpointctl.yamlsource import Document, PathKey, field_path

if TYPE_CHECKING:  # imported when a value is invalid (or the fast check is not sure)
    from jsonschema import Draft202012Validator, ValidationError

TEMPLATE_MARKERS = ("{{", "{%", "{#")


def is_template(value: object) -> bool:
    return isinstance(value, str) and any(m in value for m in TEMPLATE_MARKERS)


@cache
def policy_schema() -> dict[str, Any]:
    text = resources.files("checkpointctl").joinpath("schemas/policy.v1.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/x"}`` replaced by a copy of ``x``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**_inline(defs[ref.removeprefix("#/$defs/")], defs), **_inline(rest, defs)}
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


@cache
def _inlined() -> dict[str, Any]:
    schema = policy_schema()
    inlined: dict[str, Any] = _inline(schema, schema["$defs"])
    return inlined


def inlined_schema() -> dict[str, Any]:
    """The policy schema with every ``$ref`` replaced by its definition (a field's own
    annotations win over its definition's), for the reference and ``explain``."""
    return _inlined()


@cache
def _validator() -> Draft202012Validator:
    """The policy schema with its (non-recursive) references inlined: the same rules, but
    jsonschema does not resolve a reference each time it meets one."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_inlined(), format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _fast(rendered: bool) -> Check:
    """The same schema as a yes-or-not-sure predicate (:mod:`.schema_fast`): a valid document
    (nearly all of them) skips jsonschema, which then reports the errors of the others. Before
    templating, template strings under ``spec`` pass, as :func:`validate_document` ignores
    every error about one of them."""
    if rendered:
        return compile_check(_inlined())
    return compile_check(_inlined(), lenient={"spec": is_template})


def _describe(err: ValidationError, prefix: PathKey = ()) -> tuple[str, PathKey]:
    """A short lower-case message and the path it is about (``prefix`` + the error's path)."""
    path: PathKey = prefix + tuple(err.absolute_path)
    instance: Any = err.instance
    expected: Any = err.validator_value
    v = err.validator
    schema = err.schema if isinstance(err.schema, dict) else {}
    if v == "additionalProperties":
        allowed = set(schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in allowed)
        key = extra[0] if extra else "?"
        known = ", ".join(sorted(allowed))
        return f"unknown field {key!r} (expected one of: {known})", path + (key,)
    if v == "required":
        return err.message.replace("is a required property", "is required"), path
    if v == "type":
        return (
            f"expected {err.validator_value}, got {type(err.instance).__name__} "
            f"{json.dumps(err.instance, default=str)[:60]}",
            path,
        )
    if v in ("enum", "const"):
        allowed_values = list(expected) if v == "enum" else [expected]
        return (
            f"must be one of {', '.join(json.dumps(a) for a in allowed_values)} "
            f"(got {json.dumps(err.instance, default=str)[:60]})",
            path,
        )
    if v == "pattern":
        return f"{json.dumps(err.instance)[:80]} does not match {err.validator_value}", path
    return err.message[:200], path


def validate_document(doc: Document, *, rendered: bool = False) -> list[Diagnostic]:
    """All schema errors of one policy document. Before templating (``rendered=False``),
    errors on template strings are postponed to the rendered check."""
    if _fast(rendered)(doc.data):
        return []
    return _schema_errors(doc, rendered=rendered)


def _schema_errors(doc: Document, *, rendered: bool) -> list[Diagnostic]:
    """:func:`validate_document` by jsonschema alone, which says what is wrong and where."""
    out: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for err in sorted(_validator().iter_errors(doc.data), key=lambda e: list(map(str, e.path))):
        # only spec values are rendered; a template anywhere else stays a plain (wrong) string
        templated = bool(err.absolute_path) and err.absolute_path[0] == "spec"
        if not rendered and templated and is_template(err.instance):
            continue
        message, path = _describe(err)
        loc = doc.where_key(path) if err.validator == "additionalProperties" else doc.where(path)
        key = (str(loc), message)
        if key in seen:
            continue
        seen.add(key)
        out.append(Diagnostic(message, loc, field=field_path(path) or None))
    return out


_WALKABLE = frozenset(
    {"type", "properties", "additionalProperties", "items", "required", "enum", "const",
     "pattern", "format", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
     "minItems", "uniqueItems", "propertyNames", "description", "default", "$ref", "title",
     "$schema", "$id", "$defs"}
)  # fmt: skip
"""Keywords whose meaning at one path depends only on the value there (and, for arrays, its
items): a rendered value can be checked against its own subschema when only these appear."""


def _deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/$defs/"):
            return None
        node = policy_schema()["$defs"].get(ref.removeprefix("#/$defs/"))
    return node


@cache
def _sub_schema(path: tuple[str, ...]) -> dict[str, Any] | None:
    """The schema of the value at a schema path (``"[]"`` = any list item), or None when the
    schema there is not simple enough to check a value on its own (then check the document)."""
    node: Any = policy_schema()
    for step in path:
        node = _deref(node)
        if not isinstance(node, dict) or set(node) - _WALKABLE:
            return None
        if step == "[]":
            node = node.get("items", {})
        elif step in node.get("properties", {}):
            node = node["properties"][step]
        else:
            node = node.get("additionalProperties", {})
            if node is False:
                return None
    node = _deref(node)
    if not isinstance(node, dict) or set(node) - _WALKABLE:
        return None
    return {**node, "$defs": policy_schema()["$defs"]}


@cache
def _sub_validator(path: tuple[str, ...]) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    sub = _sub_schema(path)
    assert sub is not None  # callers ask only for the paths _sub_schema answered
    return Draft202012Validator(sub, format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _sub_fast(path: tuple[str, ...]) -> Check:
    sub = _sub_schema(path)
    assert sub is not None
    return compile_check(_inline(sub, policy_schema()["$defs"]))


def _schema_path(path: PathKey) -> tuple[str, ...]:
    return tuple("[]" if isinstance(p, int) else p for p in path)


_Found = tuple[tuple[str, PathKey, bool], ...]


_SCALARS = (str, int, float, bool, type(None))


def _value_key(value: Any) -> tuple[str, Any]:
    """A hashable cache key that keeps ``1``, ``1.0`` and ``True`` apart (they validate
    differently but are equal as dictionary keys)."""
    if isinstance(value, _SCALARS):
        return type(value).__name__, value
    return "json", json.dumps(value, sort_keys=True, default=str)


@lru_cache(maxsize=65536)
def _check_value(spath: tuple[str, ...], key: tuple[str, Any]) -> _Found | None:
    """(message, path relative to the value, is-unknown-key) for each error; None = unknown."""
    if _sub_schema(spath) is None:
        return None
    value = json.loads(key[1]) if key[0] == "json" else key[1]
    if _sub_fast(spath)(value):
        return ()
    errors = sorted(_sub_validator(spath).iter_errors(value), key=lambda e: list(map(str, e.path)))
    out = []
    for err in errors:
        message, rel = _describe(err)
        out.append((message, rel, err.validator == "additionalProperties"))
    return tuple(out)


def _get(data: Any, path: PathKey) -> Any:
    for step in path:
        data = data[step]
    return data


SECRET_STANDIN = "$CHECKPOINTCTL_VAULT;(a vaulted inventory variable)"  # noqa: S105  (a marker)
"""What the schema sees in place of a secret a template produced: templating lets secrets
fill only the fields that hold vaulted values, and this stand-in is one."""


def _secret_standins(value: Any) -> Any:
    if isinstance(value, Secret):
        return SECRET_STANDIN
    if isinstance(value, dict):
        return {k: _secret_standins(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_secret_standins(v) for v in value]
    return value


def validate_rendered(
    data: Any, doc: Document, host: str, templated: Sequence[PathKey] | None = None
) -> list[Diagnostic]:
    """Schema errors in a host's rendered copy of a document, located at the template.

    Rendering replaces only the ``templated`` values, so only they (and a list holding one, for
    ``uniqueItems``) can have become invalid: those are checked against their subschemas, with
    results cached by value, which is what keeps 1,000 hosts × 1,000 policies fast. Without
    ``templated``, or where the schema is not simple enough, the whole document is checked.
    """
    if templated is not None and any(isinstance(_get(data, at), Secret) for at in templated):
        data = _secret_standins(data)
    rendered = Document(doc.path, data, doc.locations, doc.key_locations, doc.block_scalars)
    if templated is None:
        return [
            Diagnostic(d.message + f" (rendered for host {host})", d.location, d.field)
            for d in validate_document(rendered, rendered=True)
        ]
    targets: set[PathKey] = set()
    for at in templated:
        parent = at[:-1]
        targets.add(parent if isinstance(_get(data, parent), list) else at)
    found: list[tuple[str, PathKey, bool]] = []
    for target in sorted(targets, key=lambda t: list(map(str, t))):
        if any(target[: len(t)] == t and target != t for t in targets):
            continue  # inside a list that is checked whole
        result = _check_value(_schema_path(target), _value_key(_get(data, target)))
        if result is None:
            return validate_rendered(data, doc, host)
        found.extend((m, target + rel, key) for m, rel, key in result)
    out: list[Diagnostic] = []
    for message, path, unknown_key in found:
        loc = rendered.where_key(path) if unknown_key else rendered.where(path)
        out.append(
            Diagnostic(
                message + f" (rendered for host {host})", loc, field=field_path(path) or None
            )
        )
    return out
