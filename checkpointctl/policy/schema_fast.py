"""A yes-or-don't-know check of a value against the policy schema, fifty times faster.

``jsonschema`` walks a document by creating a validator object per value it descends into:
about a millisecond per policy, a second for a 1,000-policy repository, nearly all of it spent on
documents that turn out valid. This module compiles the (``$ref``-inlined) schema once into
plain closures that answer only *whether* a value is valid. ``True`` means jsonschema would
report nothing for it; ``False`` means "invalid, or not sure", and the caller then runs
jsonschema, whose errors are the ones reported. So messages and locations never come from here:
a mistake in this module can only cost time, never change a diagnostic, as long as it never
says ``True`` where jsonschema finds an error (``tests/unit/policy/test_schema_fast.py``).

Only the keywords the policy schema uses are understood, with jsonschema's Draft 2020-12
semantics (``bool`` is neither an integer nor a number, ``1.0`` is an integer, ``format: date``
as its format checker has it). A schema with any other keyword, an ``enum`` of anything but
strings and numbers, or ``uniqueItems`` over values that are not all strings answers "not
sure" for the values it meets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {"description", "title", "default", "examples", "$comment", "$schema", "$id", "$defs",
     "deprecated", "readOnly", "writeOnly"}
)  # fmt: skip
_UNDERSTOOD = _ANNOTATIONS | {
    "type", "properties", "additionalProperties", "required", "items", "enum", "const",
    "pattern", "format", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
    "minItems", "uniqueItems", "propertyNames",
}  # fmt: skip

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)  # jsonschema's own pattern for "date"


def _never(value: Any) -> bool:
    return False


def _always(value: Any) -> bool:
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _both(first: Check, second: Check) -> Check:
    return lambda v: first(v) and second(v)


def _all(checks: list[Check]) -> Check:
    """The conjunction, as nested closures (faster than ``all()`` over a generator)."""
    if not checks:
        return _always
    combined = checks[-1]
    for check in reversed(checks[:-1]):
        combined = _both(check, combined)
    return combined


def _type_check(types: Any) -> Check:
    names = [types] if isinstance(types, str) else types
    if not isinstance(names, list) or not all(n in _TYPES for n in names):
        return _never
    tests = [_TYPES[n] for n in names]
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(t(v) for t in tests)


def _enum_check(values: list[Any]) -> Check:
    """jsonschema's ``equal``: a string equals only that string; a number (not a bool) equals
    any number of the same value (``1 == 1.0``)."""
    strings = frozenset(v for v in values if isinstance(v, str))
    numbers = [v for v in values if _is_number(v)]
    if len(strings) + len(numbers) != len(values):
        return _never  # null, bool, list or object members: not sure
    return lambda v: (
        (isinstance(v, str) and v in strings) or (_is_number(v) and any(v == n for n in numbers))
    )


def _string_check(schema: Mapping[str, Any]) -> Check | None:
    checks: list[Check] = []
    if "minLength" in schema:
        low = schema["minLength"]
        checks.append(lambda v: len(v) >= low)
    if "maxLength" in schema:
        high = schema["maxLength"]
        checks.append(lambda v: len(v) <= high)
    if "pattern" in schema:
        checks.append(_pattern_check(schema["pattern"]))
    if "format" in schema:
        if schema["format"] != "date":
            return _never
        checks.append(_is_date)
    if not checks:
        return None
    inner = _all(checks)
    return lambda v: not isinstance(v, str) or inner(v)


def _pattern_check(pattern: str) -> Check:
    """``re.search`` as jsonschema does, the pattern compiled when a value first meets it: the
    schema has over a hundred patterns, a policy set meets a few of them, and compiling them
    all cost every command that loads policies ~10 ms of start-up."""
    compiled: list[re.Pattern[str]] = []

    def found(value: str) -> bool:
        if not compiled:
            compiled.append(re.compile(pattern))
        return compiled[0].search(value) is not None

    return found


def _number_check(schema: Mapping[str, Any]) -> Check | None:
    checks: list[Check] = []
    if "minimum" in schema:
        low = schema["minimum"]
        checks.append(lambda v: not v < low)
    if "maximum" in schema:
        high = schema["maximum"]
        checks.append(lambda v: not v > high)
    if "exclusiveMinimum" in schema:
        floor = schema["exclusiveMinimum"]
        checks.append(lambda v: not v <= floor)
    if not checks:
        return None
    inner = _all(checks)
    return lambda v: not _is_number(v) or inner(v)


def _array_check(
    schema: Mapping[str, Any], accept: Check | None, lenient: Mapping[str, Check]
) -> Check | None:
    checks: list[Check] = []
    if "minItems" in schema:
        low = schema["minItems"]
        checks.append(lambda v: len(v) >= low)
    if schema.get("uniqueItems") is True:
        checks.append(lambda v: all(isinstance(i, str) for i in v) and len(set(v)) == len(v))
    if "items" in schema:
        item = compile_check(schema["items"], accept=accept)
        if item is not _always:
            checks.append(lambda v: all(item(i) for i in v))
    if not checks:
        return None
    inner = _all(checks)
    return lambda v: not isinstance(v, list) or inner(v)


def _object_check(
    schema: Mapping[str, Any], accept: Check | None, lenient: Mapping[str, Check]
) -> Check | None:
    props = {
        k: compile_check(s, accept=lenient.get(k, accept))
        for k, s in (schema.get("properties") or {}).items()
    }
    extra_schema = schema.get("additionalProperties", True)
    extra: Check | None
    if extra_schema is True:
        extra = None
    elif extra_schema is False:
        # a key not listed is jsonschema's error on the object, whatever the key's value: a
        # template string there (which ``accept`` lets through) is no excuse
        extra = _never
    else:
        extra = compile_check(extra_schema, accept=accept)
    required = tuple(schema.get("required") or ())
    names = (
        compile_check(schema["propertyNames"], accept=accept) if "propertyNames" in schema else None
    )
    if not props and extra is None and not required and names is None:
        return None

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for key in required:
            if key not in value:
                return False
        for key, item in value.items():
            if names is not None and not names(key):
                return False
            sub = props.get(key)
            if sub is not None:
                if not sub(item):
                    return False
            elif extra is not None and not extra(item):
                return False
        return True

    return check


def compile_check(
    schema: Any, *, accept: Check | None = None, lenient: Mapping[str, Check] | None = None
) -> Check:
    """A predicate: True only when jsonschema (Draft 2020-12, with its format checker) would
    find no error in the value. ``schema`` must have its ``$ref`` already inlined.

    ``accept`` answers True, unchecked, for the values anywhere in this schema's subtree that
    it accepts; ``lenient`` gives such a predicate to the subtree of one of the top-level
    properties. That is how a policy's template strings under ``spec`` are left to the check
    after rendering: the caller ignores every jsonschema error whose instance is one of them.
    """
    inner = _compile(schema, accept, lenient or {})
    if accept is None:
        return inner
    return lambda v: accept(v) or inner(v)


def _compile(schema: Any, accept: Check | None, lenient: Mapping[str, Check]) -> Check:
    if schema is True:
        return _always
    if schema is False or not isinstance(schema, dict):
        return _never
    if set(schema) - _UNDERSTOOD:
        return _never
    checks: list[Check] = []
    if "type" in schema:
        checks.append(_type_check(schema["type"]))
    if "enum" in schema:
        enum = schema["enum"]
        checks.append(_enum_check(enum) if isinstance(enum, list) else _never)
    if "const" in schema:
        checks.append(_enum_check([schema["const"]]))
    for part in (_string_check, _number_check):
        check = part(schema)
        if check is not None:
            checks.append(check)
    for nested in (_array_check, _object_check):
        check = nested(schema, accept, lenient)
        if check is not None:
            checks.append(check)
    return _all(checks)
