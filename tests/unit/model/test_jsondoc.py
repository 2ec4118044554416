"""The JSON narrowing helpers: a part of the wrong type reads as "not set", never a crash."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from checkpointctl.model import JSONValue
from checkpointctl.model.jsondoc import as_int, as_list, as_object, as_str, as_strs, as_text

WRONG_TYPES: list[JSONValue] = [None, True, 3, 2.5, "text", [1], {"k": "v"}]


@pytest.mark.parametrize("value", WRONG_TYPES)
def test_each_helper_gives_its_default_for_any_other_type(value: JSONValue) -> None:
    assert as_object(value) == (value if isinstance(value, dict) else {})
    assert list(as_list(value)) == (value if isinstance(value, list) else [])
    assert as_str(value) == (value if isinstance(value, str) else None)


def test_as_text_reads_like_the_engine_means_it() -> None:
    assert as_text("running") == "running"
    assert as_text(8080) == "8080"
    for unset in (None, "", 0, False, [], {}):
        assert as_text(unset, "unknown") == "unknown"
    # an object or array is not text: the default, not its Python repr
    assert as_text(["a"], "-") == "-"
    assert as_text({"a": 1}, "-") == "-"


def test_as_int_truncates_numbers_and_defaults_the_rest() -> None:
    assert as_int(3) == 3
    assert as_int(2.9) == 2
    assert as_int(None, 7) == 7
    assert as_int("3") == 0


def test_as_strs_stringifies_items_of_an_array_only() -> None:
    assert as_strs(["NET_ADMIN", 1]) == ["NET_ADMIN", "1"]
    assert as_strs("NET_ADMIN") == []  # a string is not an array of characters


def test_the_empty_object_is_shared_read_only() -> None:
    # one empty object serves every absent part, so nobody may write through it
    assert isinstance(as_object(None), MappingProxyType)
