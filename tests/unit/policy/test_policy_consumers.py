"""No field that does nothing: every schema field has code that gives it its effect.

The schema is walked (list items transparent) and each field path must have consumers in
:data:`checkpointctl.policy.consumers.CONSUMERS` that exist and whose source mentions the field,
so a field added to the schema without code, or code renamed away from its field, fails here.
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

from checkpointctl.policy.consumers import CONSTANTS, CONSUMERS, FOR_PEOPLE
from checkpointctl.policy.reference import field_docs

FIELDS = [doc.path for doc in field_docs()]


def _resolve(consumer: str) -> object:
    module_name, _, qualname = consumer.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj.fget if isinstance(obj, property) else obj


def _mentions(obj: object, token: str) -> bool:
    """Whether a function's (or class's) source names ``token`` as a key, an attribute or a
    word; for data (a tuple of names) whether it holds it."""
    if callable(obj) or inspect.isclass(obj):
        source = inspect.getsource(obj)  # type: ignore[arg-type]
        return re.search(rf"(?<![\w-]){re.escape(token)}(?![\w-])", source) is not None
    return token in repr(obj)


def test_every_field_has_consumers_and_every_entry_is_a_field() -> None:
    unconsumed = [p for p in FIELDS if p not in CONSUMERS and p not in CONSTANTS | FOR_PEOPLE]
    assert not unconsumed, f"schema fields no code consumes (add code or remove them): {unconsumed}"
    stale = sorted(set(CONSUMERS) - set(FIELDS))
    assert not stale, f"consumers listed for fields the schema no longer has: {stale}"


@pytest.mark.parametrize("path", sorted(CONSUMERS))
def test_each_consumer_exists_and_reads_its_field(path: str) -> None:
    for consumer in CONSUMERS[path]:
        target, _, token = consumer.partition("#")
        obj = _resolve(target)  # AttributeError / ImportError: the consumer is gone
        token = token or path.rpartition(".")[2]
        assert _mentions(obj, token), f"{path}: {target} does not mention {token!r}"


def test_fields_without_code_are_only_the_constants_and_the_notes_for_people() -> None:
    """Declared on purpose and described as such in the schema, never a way to skip code."""
    schema_docs = {doc.path: doc for doc in field_docs()}
    for path in CONSTANTS:
        assert schema_docs[path].type.startswith("string, always "), path
    for path in FOR_PEOPLE:
        assert "checkpointctl does not read it" in schema_docs[path].description, path
    assert {"apiVersion", "kind"} == CONSTANTS
    assert {"metadata.description", "metadata.owner"} == FOR_PEOPLE
