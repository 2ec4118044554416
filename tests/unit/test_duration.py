"""The one duration grammar and the three places' narrowings of it."""

from __future__ import annotations

import pytest

from checkpointctl.duration import INTERVAL, POLICY, VALIDITY, DurationError, parse_seconds
from checkpointctl.errors import CheckpointctlError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("1.5m", 90.0), ("2h", 7200.0), ("0", 0.0), (" 5M ", 300.0)],
)
def test_interval(text: str, seconds: float) -> None:
    assert parse_seconds(text, INTERVAL) == seconds


@pytest.mark.parametrize("text", ["", "m", "-1", "nan", "inf", "5d", "five"])
def test_interval_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration"):
        parse_seconds(text, INTERVAL)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30.0), ("1.5m", 90.0), ("2h", 7200.0), ("0s", 0.0)],
)
def test_policy(text: str, seconds: float) -> None:
    assert parse_seconds(text, POLICY) == seconds


@pytest.mark.parametrize("text", ["30", "1d", "5M", "s", "1.s"])
def test_policy_refuses(text: str) -> None:
    with pytest.raises(DurationError):
        parse_seconds(text, POLICY)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("5m", 300.0), ("12h", 43200.0), ("7d", 604800.0), ("2w", 1209600.0)],
)
def test_validity(text: str, seconds: float) -> None:
    assert parse_seconds(text, VALIDITY) == seconds


@pytest.mark.parametrize("text", ["0d", "1.5d", "7", "7D", "1y", "-1d"])
def test_validity_refuses_with_the_grammar_named(text: str) -> None:
    with pytest.raises(CheckpointctlError) as caught:
        parse_seconds(text, VALIDITY, what="--expires")
    assert str(caught.value) == (
        f"--expires: {text!r} is not a duration (a positive whole number and one of s, m, h, d, "
        "w, e.g. 7d)"
    )
