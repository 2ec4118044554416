"""Strict JSON Schema validation of policy documents, with errors at the offending line.

The schema (``schemas/policy.v1.json``) is published so editors can complete policies. Strings
holding Jinja2 templates are checked again after templating, so a templated CIDR is not refused
for not looking like one before it is rendered.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from checkpointctl.errors import Diagnostic
from checkpointctl.yamlsource import Document, PathKey, field_path

TEMPLATE_MARKERS = ("{{", "{%", "{#")


def is_template(value: object) -> bool:
    return isinstance(value, str) and any(m in value for m in TEMPLATE_MARKERS)


@cache
def policy_schema() -> dict[str, Any]:
    text = resources.files("checkpointctl").joinpath("schemas/policy.v1.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(
        policy_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _describe(err: ValidationError) -> tuple[str, PathKey]:
    """A short lower-case message and the path it is about."""
    path: PathKey = tuple(err.absolute_path)
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
        return f"expected {err.validator_value}, got {type(err.instance).__name__} " \
               f"{json.dumps(err.instance, default=str)[:60]}", path
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


def validate_rendered(data: Any, doc: Document, host: str) -> list[Diagnostic]:
    """Schema errors in a host's rendered copy of a document, located at the template."""
    rendered = Document(doc.path, data, doc.locations, doc.key_locations)
    return [
        Diagnostic(d.message + f" (rendered for host {host})", d.location, d.field)
        for d in validate_document(rendered, rendered=True)
    ]
