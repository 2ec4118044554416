"""Maintenance windows with fixed clocks: days, midnight crossings, zones and summer time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checkpointctl.policy.window import WindowError, parse_window

AMS = "Mon-Fri 02:00-05:00 Europe/Amsterdam"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "inside"),
    [
        ("2026-12-07T01:00:00", True),  # Monday 02:00 in Amsterdam (UTC+1): the first minute
        ("2026-12-07T00:59:59", False),  # Monday 01:59:59 local
        ("2026-12-07T03:59:59", True),
        ("2026-12-07T04:00:00", False),  # 05:00 local: the end is outside
        ("2026-12-12T02:00:00", False),  # Saturday
        ("2026-07-06T00:30:00", True),  # Monday 02:30 in summer time (UTC+2)
        ("2026-07-06T03:30:00", False),  # 05:30 local in summer
    ],
)
def test_the_window_is_local_wall_clock_time_on_the_listed_days(at: str, inside: bool) -> None:
    assert parse_window(AMS).contains(utc(at)) is inside


def test_a_window_that_crosses_midnight_belongs_to_the_day_it_starts() -> None:
    window = parse_window("Fri 22:00-02:00 UTC")
    assert window.contains(utc("2026-12-11T23:00:00"))  # Friday night
    assert window.contains(utc("2026-12-12T01:59:00"))  # Saturday morning, still Friday's
    assert not window.contains(utc("2026-12-12T23:00:00"))  # Saturday night
    assert not window.contains(utc("2026-12-11T01:00:00"))  # Friday morning: Thursday's slot


def test_day_lists_ranges_that_wrap_and_daily() -> None:
    assert parse_window("Sat,Sun 00:00-24:00 UTC").days == frozenset({5, 6})
    assert parse_window("Fri-Mon 01:00-02:00 UTC").days == frozenset({4, 5, 6, 0})
    assert parse_window("Mon-Wed,Fri 01:00-02:00 UTC").days == frozenset({0, 1, 2, 4})
    assert parse_window("daily 01:00-02:00 UTC").days == frozenset(range(7))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon-Fri 02:00 Europe/Amsterdam", "is not a window: write DAYS HH:MM-HH:MM ZONE"),
        ("Mon-Fry 02:00-05:00 UTC", "'Fry' is not a day"),
        ("Mon 25:00-05:00 UTC", "25:00 is not a time of day"),
        ("Mon 02:00-02:00 UTC", "starts and ends at the same time"),
        ("Mon 02:00-05:00 Europe/Atlantis", "'Europe/Atlantis' is not a time zone"),
    ],
)
def test_a_bad_window_is_refused_naming_the_part(text: str, message: str) -> None:
    with pytest.raises(WindowError, match=message):
        parse_window(text)
